/* loop.c: cltrain_train_run, PyTorch's transfer-learning tutorial's train_model: a new head,
 * freezing, epochs of training (SGD, StepLR) and validation, the best val epoch kept, the log,
 * the plot, checkpoints and resuming, and the export. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train/cache.h"
#include "data/data.h"
#include "train/dist.h"
#include "train/train_internal.h"

cltrain_train_options cltrain_train_defaults(void) {
  cltrain_train_options o;
  memset(&o, 0, sizeof o);
  o.size = sizeof o;
  o.num_classes = -1;
  o.freeze = "none";
  o.frozen_bn = CLTRAIN_FROZEN_BN_EVAL;
  o.epochs = 25;
  o.max_steps = -1;
  o.batch_size = 4;
  o.sgd = cltrain_sgd_defaults();
  o.step_size = 7;
  o.gamma = 0.1;
  o.augment = 1;
  o.shuffle = 1;
  o.keep_best = 1;
  o.mpi_timeout = 300;
  return o;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The options that change what a run computes, one "key=value" per line: a resumed run must
 * match them. Paths, epochs, the step limit, --keep and workers may differ. A run of several
 * ranks adds "ranks=N" (a run on one device writes what it always did). */
static char *options_text(const cltrain_train_options *o, int num_classes, int ranks) {
  char hidden[512] = "", *p = hidden;
  for (int k = 0; k < o->num_hidden && p < hidden + sizeof hidden - 16; k++)
    p += snprintf(p, (size_t)(hidden + sizeof hidden - p), "%s%d", k ? "," : "", o->head_hidden[k]);
  size_t cap = 2048 + strlen(o->freeze);
  char *s = malloc(cap);
  if (!s) return NULL;
  snprintf(s, cap,
           "classes=%d\nhead_hidden=%s\ndropout=%.9g\nfreeze=%s\nfrozen_bn=%s\nbatch=%d\nlr=%.17g\n"
           "momentum=%.17g\ndampening=%.17g\nweight_decay=%.17g\nnesterov=%d\nbackbone_lr_mult=%.17g\n"
           "step_size=%d\ngamma=%.17g\naugment=%s\nshuffle=%d\nseed=%llu\nskip_bad=%d\nimage_size=%d\n",
           num_classes, hidden, o->dropout, o->freeze, o->frozen_bn == CLTRAIN_FROZEN_BN_TRAIN ? "train" : "eval",
           o->batch_size, o->sgd.lr, o->sgd.momentum, o->sgd.dampening, o->sgd.weight_decay, o->sgd.nesterov,
           o->sgd.backbone_lr_mult, o->step_size, o->gamma, o->augment ? "tutorial" : "none", o->shuffle,
           (unsigned long long)o->seed, o->skip_bad, o->image_size);
  if (ranks > 1) snprintf(s + strlen(s), cap - strlen(s), "ranks=%d\n", ranks);
  return s;
}

/* The "ranks=N" of an options text: 1 when absent. */
static int options_ranks(const char *text) {
  const char *p = strstr(text, "\nranks=");
  return p ? atoi(p + 7) : 1;
}

/* CLTRAIN_ERR_ARG naming the first line where the checkpoint's options and ours differ. */
static cltrain_status compare_options(cltrain_context *cx, const char *path, const char *saved, const char *now) {
  int ra = options_ranks(saved), rb = options_ranks(now);
  if (ra != rb)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "cannot resume from '%s' with %d rank%s: it was written by a run of %d rank%s (start it with "
                   "mpirun -np %d); the shuffled shares, BN statistics and gradient sums depend on the rank count",
                   path, rb, rb > 1 ? "s" : "", ra, ra > 1 ? "s" : "", ra);
  const char *a = saved, *b = now;
  while (*a || *b) {
    size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
    if (la != lb || memcmp(a, b, la))
      return rt_fail(cx, CLTRAIN_ERR_ARG,
                     "cannot resume from '%s' with other options: the checkpoint has %.*s, this run %.*s", path,
                     (int)la, a, (int)lb, b);
    a += la + (a[la] != 0), b += lb + (b[lb] != 0);
  }
  return CLTRAIN_OK;
}

static cltrain_status write_log(cltrain_context *cx, const char *path, const train_row *rows, int n) {
  size_t cap = 128 + (size_t)n * 160;
  char *s = malloc(cap);
  if (!s) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  size_t len = (size_t)snprintf(s, cap, "epoch,phase,loss,acc,lr,seconds,images_per_s\n");
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len, "%d,%s,%.6f,%.6f,%.9g,%.3f,%.3f\n", rows[i].epoch,
                            rows[i].phase ? "val" : "train", rows[i].loss, rows[i].acc, rows[i].lr, rows[i].seconds,
                            rows[i].images_per_s);
  cltrain_status st = atomic_write(cx, path, s, len);
  free(s);
  return st;
}

static int argmax(const float *v, int k) {
  int best = 0;
  for (int j = 1; j < k; j++)
    if (v[j] > v[best]) best = j;
  return best;
}

/* Mean cross-entropy of one image's logits against its label, in double. */
static double host_ce(const float *v, int k, int label) {
  double mx = v[0], sum = 0;
  for (int j = 1; j < k; j++) mx = v[j] > mx ? v[j] : mx;
  for (int j = 0; j < k; j++) sum += exp((double)v[j] - mx);
  return mx + log(sum) - (double)v[label];
}

/* One split's feature cache: filled by its first full pass, read by the later ones. */
typedef struct split_cache {
  feature_cache *fc; /* NULL: not cached */
  int complete;      /* a pass stored every image that loaded */
} split_cache;

typedef struct run {
  cltrain_context *cx;
  dist *d;          /* NULL: one process */
  int rank;
  int shared_fail;  /* a failure already agreed by every rank (dist_agree) */
  int bn_buffers;   /* some BN layer updates running statistics: broadcast them before forwards */
  const cltrain_train_options *o;
  cltrain_model *m;
  const imagefolder *folder[2]; /* train, val */
  loader *loader[2];
  int classes;
  float *logits;
  train_state st;
  split_cache cache[2];
  int32_t *order, *idx, *labels; /* a cached pass's epoch order and batch */
  int cache_skipped;             /* images a cached pass left out (skip_bad: they failed to load) */
} run;

/* Every rank's status at the same point of the run (dist_agree): the first failing rank's. */
static cltrain_status agree(run *r, cltrain_status st) {
  st = dist_agree(r->d, r->cx, st);
  if (st) r->shared_fail = 1;
  return st;
}

/* The next batch of a cached pass: the run of batch_size images of the epoch's order at *pos,
 * less the ones that failed to load in the pass that filled the cache, as the loader makes it
 * (a batch of failed images only is passed over). *n is 0 at the end. */
static void cached_batch(run *r, int phase, int *pos, int *n) {
  const imagefolder *f = r->folder[phase];
  int total = loader_epoch_images(r->loader[phase]), bs = r->o->batch_size;
  *n = 0;
  while (*n == 0 && *pos < total) {
    for (int end = *pos + bs < total ? *pos + bs : total; *pos < end; ++*pos) {
      int32_t i = r->order[*pos];
      if (!feature_cache_has(r->cache[phase].fc, i)) {
        r->cache_skipped++;
        continue;
      }
      r->idx[*n] = i, r->labels[*n] = imagefolder_label(f, i);
      ++*n;
    }
  }
}

/* One phase over its loader: train (loss_grad + SGD step per batch) or val (forward). Fills
 * row (loss, acc, seconds, images/s, data wait) and *stop when the step limit is reached. */
static cltrain_status run_phase(run *r, int epoch, int phase, double lr, train_row *row, int *stop) {
  const cltrain_train_options *o = r->o;
  loader *l = r->loader[phase];
  split_cache *sc = &r->cache[phase];
  int cached = sc->fc && sc->complete, pos = 0, ended = 0;
  TRY(cltrain_model_set_train(r->m, !phase));
  /* validation sees rank 0's running statistics, the ones the export will hold */
  if (phase && r->bn_buffers) TRY(dist_bcast_buffers(r->d, r->m));
  if (cached) TRY(loader_epoch_order(l, (uint32_t)epoch, r->order));
  else TRY(loader_start_epoch(l, (uint32_t)epoch));
  double t0 = now_s(), wait0 = loader_wait_seconds(l), loss_sum = 0;
  long long correct = 0, images = 0;
  int batch = 0;
  cltrain_progress p = {epoch, o->epochs, phase, 0, loader_num_batches(l), 0, 0, 0, lr, 0, 0};
  for (;;) {
    if (!phase && o->max_steps >= 0 && r->st.steps >= o->max_steps) {
      *stop = 1;
      break;
    }
    const float *x = NULL; /* stays NULL for a cached batch */
    const int32_t *lab = r->labels, *idx = r->idx;
    int n;
    cltrain_status st = CLTRAIN_OK;
    if (cached) {
      cached_batch(r, phase, &pos, &n);
    } else {
      st = loader_next(l, &x, &lab, &n);
      idx = loader_batch_indices(l);
    }
    /* a training step waits for every rank's batch: one rank's bad image stops them all here */
    if (!phase) dist_set_step(r->d, epoch, r->st.steps);
    if (!phase) TRY(agree(r, st));
    TRY(st);
    if (n == 0) {
      ended = 1;
      break;
    }
    if (!phase) {
      float loss;
      if (r->bn_buffers) TRY(dist_bcast_buffers(r->d, r->m));
      TRY(dist_grads_begin(r->d, r->m));
      st = sc->fc ? feature_cache_loss_grad(sc->fc, r->m, x, idx, (const int *)lab, n, &loss, r->logits)
                  : cltrain_model_loss_grad(r->m, x, (const int *)lab, n, &loss, r->logits);
      if (st == CLTRAIN_ERR_NUMERIC)
        st = rt_fail(r->cx, st, "epoch %d, step %lld: the training loss is %f: training diverged (try a smaller learning rate)",
                     epoch + 1, (long long)r->st.steps + 1, loss);
      /* the gradients are now the mean over the ranks, or every rank gets the failure */
      st = dist_grads_end(r->d, r->m, st);
      if (st && r->d) r->shared_fail = 1;
      TRY(st);
      cltrain_sgd_options sgd = o->sgd;
      sgd.lr = lr;
      TRY(cltrain_model_sgd_step(r->m, &sgd));
      r->st.steps++;
      if (test_hook_at("CLTRAIN_TEST_KILL_AT_STEP", r->st.steps)) raise(SIGKILL); /* crash tests */
      if (test_hook_at("CLTRAIN_TEST_STOP_AT_STEP", r->st.steps)) raise(SIGSTOP); /* a hung rank */
      loss_sum += (double)loss * n;
    } else {
      if (sc->fc) TRY(feature_cache_forward(sc->fc, r->m, x, idx, n, r->logits));
      else TRY(cltrain_model_forward(r->m, x, n, r->logits));
      for (int i = 0; i < n; i++) loss_sum += host_ce(r->logits + (size_t)i * r->classes, r->classes, lab[i]);
      if (!isfinite(loss_sum))
        return rt_fail(r->cx, CLTRAIN_ERR_NUMERIC,
                       "epoch %d, validation batch %d: the loss is %f: training diverged (try a smaller learning rate)",
                       epoch + 1, batch + 1, loss_sum);
    }
    for (int i = 0; i < n; i++) correct += argmax(r->logits + (size_t)i * r->classes, r->classes) == lab[i];
    images += n, batch++;
    if (o->on_progress) {
      p.batch = batch, p.images = (int)images;
      p.loss = loss_sum / (double)images, p.acc = (double)correct / (double)images;
      p.seconds = now_s() - t0;
      p.images_per_s = p.seconds > 0 ? (double)images / p.seconds : 0;
      if (r->rank == 0) o->on_progress(&p, o->user);
    }
  }
  TRY(cltrain_context_finish(r->cx));
  /* the phase's sums over the ranks (validation is split, no rank waits for another per batch) */
  TRY(agree(r, CLTRAIN_OK));
  /* A pass over every image: the caches hold all that loaded, each rank its share's. Shuffled
   * training gives each rank other images next epoch: their rows come from their owners. */
  if (ended && sc->fc && !sc->complete)
    TRY(feature_cache_share(sc->fc, r->d, !phase && o->shuffle, o->batch_size));
  if (ended) sc->complete = 1;
  double sums[3] = {loss_sum, (double)correct, (double)images};
  TRY(dist_sum(r->d, r->cx, sums, 3));
  loss_sum = sums[0], correct = (long long)sums[1], images = (long long)sums[2];
  double secs = now_s() - t0;
  row->epoch = epoch + 1, row->phase = phase, row->lr = lr;
  row->loss = images ? loss_sum / (double)images : NAN;
  row->acc = images ? (double)correct / (double)images : NAN;
  row->seconds = secs;
  row->images_per_s = secs > 0 ? (double)images / secs : 0;
  row->data_wait = secs > 0 ? (loader_wait_seconds(l) - wait0) / secs : 0;
  return CLTRAIN_OK;
}

static cltrain_status add_row(run *r, const train_row *row) {
  train_row *rows = realloc(r->st.rows, sizeof *rows * (r->st.nrows + 1));
  if (!rows) return rt_fail(r->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  r->st.rows = rows;
  rows[r->st.nrows++] = *row;
  return CLTRAIN_OK;
}

static cltrain_status check_options(cltrain_context *cx, const cltrain_train_options *o, int rank, int ranks) {
  if (!o->model_path || !o->data_dir || !o->out_path)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_train_run: the model, data folder and output paths are required");
  if (!o->freeze) return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_train_run: freeze spec is NULL");
  if (o->num_classes == 0 || o->num_classes < -1)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "the new head needs at least 1 class, got %d", o->num_classes);
  if (o->epochs < 0) return rt_fail(cx, CLTRAIN_ERR_ARG, "epochs must be >= 0, got %d", o->epochs);
  if (o->batch_size < 1) return rt_fail(cx, CLTRAIN_ERR_ARG, "batch size must be >= 1, got %d", o->batch_size);
  if (o->step_size < 1) return rt_fail(cx, CLTRAIN_ERR_ARG, "StepLR step size must be >= 1, got %d", o->step_size);
  if (!(o->gamma > 0)) return rt_fail(cx, CLTRAIN_ERR_ARG, "StepLR gamma must be > 0, got %g", o->gamma);
  if (!(o->sgd.lr >= 0) || !isfinite(o->sgd.lr)) return rt_fail(cx, CLTRAIN_ERR_ARG, "the learning rate %g must be >= 0", o->sgd.lr);
  if (o->workers < 0) return rt_fail(cx, CLTRAIN_ERR_ARG, "workers must be >= 0, got %d", o->workers);
  if (!(o->dropout >= 0 && o->dropout < 1))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "dropout %g is outside [0, 1)", o->dropout);
  if (o->skip_bad && ranks > 1)
    return rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED,
                   "skipping bad images is not supported with several ranks (their batches must keep the same "
                   "size): drop --skip-bad and fix or remove the images");
  if (rank > 0) return CLTRAIN_OK; /* only rank 0 writes */
  TRY(check_writable(cx, o->out_path, "output model"));
  if (o->log_csv) TRY(check_writable(cx, o->log_csv, "log"));
  if (o->plot_png) TRY(check_writable(cx, o->plot_png, "plot"));
  if (o->checkpoint) TRY(check_writable(cx, o->checkpoint, "checkpoint"));
  return CLTRAIN_OK;
}

/* The image count of the larger split: the most a batch or an epoch's order can hold. */
static int larger_split(const imagefolder *train, const imagefolder *val) {
  int a = imagefolder_size(train), b = imagefolder_size(val);
  return a > b ? a : b;
}

/* Feature caching (cache.h), decided once the model is frozen and the loaders exist. Within
 * one call nothing a cache depends on changes after this point: the model's graph, its frozen
 * layers' weights (frozen layers never change), the frozen set, the BN mode, the file lists and
 * the transforms are all fixed before the first epoch, so the caches live for the call and need
 * no key. A resumed run starts with empty caches and fills them in its first epoch. */
static cltrain_status setup_cache(run *r) {
  cltrain_context *cx = r->cx;
  const cltrain_train_options *o = r->o;
  if (o->cache_features == CLTRAIN_CACHE_OFF) return CLTRAIN_OK;
  const char *why = NULL;
  int node = -1;
  if (o->augment) why = "the training images are augmented (set augment to 0)";
  else if (o->frozen_bn != CLTRAIN_FROZEN_BN_EVAL) why = "frozen BN layers use batch statistics (frozen_bn is CLTRAIN_FROZEN_BN_TRAIN)";
  else node = feature_cache_node(r->m, &why);
  if (node < 0) {
    if (o->cache_features != CLTRAIN_CACHE_ON) return CLTRAIN_OK;
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cannot cache features (freeze '%s'): %s", o->freeze, why);
  }
  /* a quarter of the device's and of the host's memory, at most one device allocation */
  size_t device = feature_cache_device_budget(cx);
  size_t host = (size_t)sysconf(_SC_PHYS_PAGES) / 4 * (size_t)sysconf(_SC_PAGESIZE);
  cltrain_status st = CLTRAIN_OK;
  for (int p = 0; p < 2 && !st; p++) {
    /* each rank's cache holds its share of a pass (all of it for one rank) */
    st = feature_cache_create_shard(cx, r->m, node, imagefolder_size(r->folder[p]),
                                    loader_epoch_images(r->loader[p]), device, host, &r->cache[p].fc);
    if (!st && feature_cache_on_device(r->cache[p].fc)) device -= feature_cache_bytes(r->cache[p].fc);
  }
  int most = larger_split(r->folder[0], r->folder[1]);
  if (!st) {
    r->order = malloc(sizeof(int32_t) * (size_t)most);
    r->idx = malloc(sizeof(int32_t) * (size_t)o->batch_size);
    r->labels = malloc(sizeof(int32_t) * (size_t)o->batch_size);
    if (!r->order || !r->idx || !r->labels) st = rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  if (st && o->cache_features == CLTRAIN_CACHE_AUTO) { /* too big: train without */
    for (int p = 0; p < 2; p++) feature_cache_destroy(r->cache[p].fc), r->cache[p].fc = NULL;
    return CLTRAIN_OK;
  }
  return st;
}

static cltrain_status train_body(run *r, imagefolder **tf, imagefolder **vf, cltrain_train_result *res) {
  cltrain_context *cx = r->cx;
  const cltrain_train_options *o = r->o;
  double t_start = now_s();
  TRY(check_options(cx, o, r->rank, dist_size(r->d)));

  size_t dlen = strlen(o->data_dir) + 16;
  char *tdir = malloc(dlen), *vdir = malloc(dlen);
  if (!tdir || !vdir) {
    free(tdir), free(vdir);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  snprintf(tdir, dlen, "%s/train", o->data_dir);
  snprintf(vdir, dlen, "%s/val", o->data_dir);
  cltrain_status st = imagefolder_open(cx, tdir, tf);
  if (!st) st = imagefolder_open(cx, vdir, vf);
  free(tdir), free(vdir);
  TRY(st);
  TRY(imagefolder_same_classes(cx, *tf, *vf));
  int nfolders = imagefolder_num_classes(*tf);
  r->classes = o->num_classes < 0 ? nfolders : o->num_classes;
  if (r->classes < nfolders)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "a head of %d classes cannot learn the %d class folders of '%s/train'",
                   r->classes, nfolders, o->data_dir);

  r->st.options = options_text(o, r->classes, dist_size(r->d));
  if (!r->st.options) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  train_state saved;
  memset(&saved, 0, sizeof saved);
  TRY(agree(r, CLTRAIN_OK)); /* every rank has its data and options before the collectives below */
  if (o->resume) {
    /* rank 0 reads the file and every rank parses its bytes */
    unsigned char *bytes = NULL;
    size_t nbytes = 0;
    st = r->rank == 0 ? checkpoint_read_bytes(cx, o->resume, &bytes, &nbytes) : CLTRAIN_OK;
    TRY(agree(r, st));
    uint64_t n64 = nbytes;
    TRY(dist_bcast(r->d, cx, &n64, sizeof n64));
    if (r->rank != 0 && !(bytes = malloc(n64 ? (size_t)n64 : 1))) st = rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    TRY(agree(r, st));
    st = dist_bcast(r->d, cx, bytes, (size_t)n64);
    if (!st) st = checkpoint_parse(cx, o->resume, bytes, (size_t)n64, &saved);
    free(bytes);
    TRY(st);
    st = compare_options(cx, o->resume, saved.options, r->st.options);
    if (st) {
      train_state_free(&saved);
      return st;
    }
  }

  /* The model, its new head and what trains */
  st = cltrain_model_load_onnx(cx, o->model_path, &r->m);
  if (!st && o->image_size > 0) st = cltrain_model_set_input_size(r->m, o->image_size, o->image_size);
  cltrain_head_options h = cltrain_head_defaults();
  h.num_classes = r->classes, h.hidden = o->head_hidden, h.num_hidden = o->num_hidden;
  h.dropout = o->dropout, h.seed = o->seed;
  if (!st) st = cltrain_model_replace_head(r->m, &h);
  if (!st) st = cltrain_model_freeze(r->m, o->freeze);
  if (!st) st = cltrain_model_set_frozen_bn(r->m, o->frozen_bn);
  if (!st) model_set_dropout_seed(r->m, o->seed + 0x9E3779B97F4A7C15ull * (uint64_t)r->rank); /* rank 0: seed */
  if (!st) st = model_state_save(r->m, &r->st);
  /* DDP's start: rank 0's weights and new head on every rank */
  cltrain_status ast = agree(r, st);
  if (ast) {
    train_state_free(&saved);
    return ast;
  }
  if (r->d) {
    st = dist_bcast(r->d, cx, r->st.params, r->st.nparams * sizeof(float));
    if (!st && r->rank != 0) st = rt_write(cx, model_params(r->m), r->st.params, r->st.nparams * sizeof(float));
    const graph_desc *g = model_graph(r->m);
    for (int i = 0; i < g->n; i++)
      if (g->nodes[i].op == NODE_BN && !(model_is_frozen(r->m, i) && o->frozen_bn == CLTRAIN_FROZEN_BN_EVAL))
        r->bn_buffers = 1;
  }
  if (!st) r->st.fingerprint = model_fingerprint(r->m, r->st.params);
  if (!st && o->resume) {
    if (saved.fingerprint != r->st.fingerprint || saved.nparams != r->st.nparams || saved.ntensors != r->st.ntensors)
      st = rt_fail(cx, CLTRAIN_ERR_FORMAT,
                   "checkpoint '%s' belongs to a different model or other initial weights (fingerprint %016llx, %llu parameters; '%s' with "
                   "this head has %016llx, %llu)", o->resume, (unsigned long long)saved.fingerprint,
                   (unsigned long long)saved.nparams, o->model_path, (unsigned long long)r->st.fingerprint,
                   (unsigned long long)r->st.nparams);
    if (!st) st = model_state_restore(r->m, &saved);
    if (!st) {
      char *opt = r->st.options;
      saved.options = (free(saved.options), opt);
      r->st.options = NULL;
      train_state_free(&r->st);
      r->st = saved;
      memset(&saved, 0, sizeof saved);
    }
  }
  train_state_free(&saved);
  TRY(st);
  if (!r->st.best) { /* the tutorial starts best_model_wts from the initial weights */
    r->st.best = malloc(r->st.nparams * sizeof(float));
    if (!r->st.best) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(r->st.best, r->st.params, r->st.nparams * sizeof(float));
    r->st.best_epoch = 0, r->st.best_acc = 0;
  }

  /* The device memory for the largest batch, before any image is decoded */
  int most = larger_split(*tf, *vf);
  TRY(model_reserve(r->m, o->batch_size < most ? o->batch_size : most, 1));

  /* The loaders */
  /* Validation sees what predict sees (one function decides both); training crops the same size. */
  const graph_desc *g = model_graph(r->m);
  transform_params te, tt = o->augment ? transform_train_defaults() : transform_eval_defaults();
  TRY(transform_eval_for_input(cx, o->model_path, g->in_c, g->in_h, g->in_w, &te));
  tt.crop = te.crop, tt.resize = te.resize;
  loader_options lo = loader_defaults();
  lo.batch_size = o->batch_size, lo.workers = o->workers, lo.shuffle = o->shuffle, lo.skip_bad = o->skip_bad;
  lo.seed = o->seed;
  lo.rank = r->rank, lo.ranks = dist_size(r->d), lo.pad = 1; /* every rank runs the same steps */
  TRY(loader_create(cx, *tf, &tt, &lo, &r->loader[0]));
  lo.shuffle = 0, lo.pad = 0; /* each validation image once: the sums are exact */
  TRY(loader_create(cx, *vf, &te, &lo, &r->loader[1]));
  r->folder[0] = *tf, r->folder[1] = *vf;
  r->logits = malloc(sizeof(float) * (size_t)o->batch_size * (size_t)r->classes);
  if (!r->logits) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  TRY(setup_cache(r));

  /* The epochs (a crashed run may have left temporary files of its atomic writes) */
  int writer = r->rank == 0;
  if (writer && o->checkpoint) remove_stale_temps(o->checkpoint);
  if (writer && o->log_csv) remove_stale_temps(o->log_csv);
  if (writer && o->plot_png) remove_stale_temps(o->plot_png);
  if (writer && o->out_path) remove_stale_temps(o->out_path);
  double train_secs = 0, wait_secs = 0;
  int stop = o->max_steps >= 0 && r->st.steps >= o->max_steps;
  for (int epoch = r->st.epochs_done; epoch < o->epochs && !stop; epoch++) {
    double lr = cltrain_steplr_lr(o->sgd.lr, o->step_size, o->gamma, epoch);
    train_row tr, vr;
    TRY(run_phase(r, epoch, 0, lr, &tr, &stop));
    train_secs += tr.seconds, wait_secs += tr.data_wait * tr.seconds;
    TRY(run_phase(r, epoch, 1, lr, &vr, &stop));
    TRY(add_row(r, &tr));
    TRY(add_row(r, &vr));
    int is_best = vr.acc > r->st.best_acc;
    if (is_best) {
      r->st.best_acc = vr.acc, r->st.best_epoch = epoch + 1;
      TRY(rt_read(cx, r->st.best, model_params(r->m), r->st.nparams * sizeof(float)));
    }
    r->st.epochs_done = epoch + 1;
    if (writer && o->checkpoint) {
      TRY(model_state_save(r->m, &r->st));
      TRY(checkpoint_write(cx, o->checkpoint, &r->st));
    }
    if (writer && o->log_csv) TRY(write_log(cx, o->log_csv, r->st.rows, (int)r->st.nrows));
    if (writer && o->on_epoch) {
      cltrain_epoch_stats e = {epoch, o->epochs, tr.loss, tr.acc, vr.loss, vr.acc, lr, tr.seconds, vr.seconds,
                               tr.images_per_s, vr.images_per_s, tr.data_wait, r->st.steps, is_best};
      o->on_epoch(&e, o->user);
    }
  }
  if (writer && o->log_csv && r->st.nrows == 0) TRY(write_log(cx, o->log_csv, NULL, 0));

  /* The weights to keep, the plot, the export */
  int use_best = o->keep_best && r->st.nrows > 0;
  if (use_best) TRY(rt_write(cx, model_params(r->m), r->st.best, r->st.nparams * sizeof(float)));
  if (writer && o->plot_png) TRY(train_plot(cx, o->plot_png, r->st.rows, (int)r->st.nrows));
  const char *names[256];
  int nnames = nfolders <= 256 && nfolders == r->classes ? nfolders : 0;
  for (int c = 0; c < nnames; c++) names[c] = imagefolder_class_name(*tf, c);
  TRY(agree(r, CLTRAIN_OK)); /* no rank failed: rank 0 may export */
  if (writer) TRY(cltrain_model_export_onnx(r->m, o->out_path, nnames ? names : NULL, nnames));
  TRY(agree(r, CLTRAIN_OK));

  if (res) {
    res->num_classes = r->classes;
    res->epochs_done = r->st.epochs_done;
    res->steps = r->st.steps;
    res->best_val_acc = r->st.best_acc;
    res->best_epoch = r->st.best_epoch;
    res->last_val_acc = r->st.nrows ? r->st.rows[r->st.nrows - 1].acc : NAN;
    res->loader_wait_seconds = wait_secs;
    res->train_seconds = train_secs;
    res->skipped = loader_skipped(r->loader[0]) + loader_skipped(r->loader[1]) + r->cache_skipped;
    res->exported_best = use_best;
    if (r->cache[0].fc) {
      int node = feature_cache_node_of(r->cache[0].fc);
      res->features_cached = feature_cache_on_device(r->cache[0].fc) ? 1 : 2;
      snprintf(res->cache_node, sizeof res->cache_node, "%s", model_graph(r->m)->nodes[node].name);
      res->cache_mib = (double)(feature_cache_bytes(r->cache[0].fc) + feature_cache_bytes(r->cache[1].fc)) / 1048576.0;
    }
    res->ranks = dist_size(r->d);
    dist_stats ds;
    dist_get_stats(r->d, &ds);
    res->allreduce_seconds = ds.reduce_seconds;
    res->allreduce_exposed_seconds = ds.exposed_seconds;
    res->floats_reduced_per_step = (double)ds.floats_per_step;
    res->seconds = now_s() - t_start;
  }
  return CLTRAIN_OK;
}

/* The first `size` bytes of the caller's result are its fields (cltrain.h): an older program's
 * struct is a prefix of this library's, whole fields at its alignment. */
static cltrain_status check_result_size(cltrain_context *cx, size_t size) {
  const size_t align = _Alignof(cltrain_train_result);
  if (size > sizeof(size_t) && size <= sizeof(cltrain_train_result) && size % align == 0) return CLTRAIN_OK;
  return rt_fail(cx, CLTRAIN_ERR_ARG,
                 "cltrain_train_result.size is %zu, which this library (cltrain %s) cannot fill: it writes "
                 "whole fields of a struct of at most %zu bytes; start the struct from "
                 "cltrain_train_result_init()", size, CLTRAIN_VERSION_STRING, sizeof(cltrain_train_result));
}

cltrain_status cltrain_train_run(cltrain_context *cx, const cltrain_train_options *o, cltrain_train_result *out) {
  if (!cx || !o) return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_train_run: NULL context or options");
  if (out) TRY(check_result_size(cx, out->size));
  cltrain_train_result res;
  memset(&res, 0, sizeof res);
  /* An older caller's smaller struct gets the defaults for the fields it lacks. */
  /* version 1 ended at user, version 2 at mpi_comm; mpi_timeout came after it */
  static const size_t sizes[] = {RT_SIZE_THROUGH(cltrain_train_options, user),
                                 RT_SIZE_THROUGH(cltrain_train_options, mpi_comm), sizeof(cltrain_train_options)};
  cltrain_train_options full = cltrain_train_defaults();
  TRY(rt_options_in(cx, "cltrain_train_options", o, &full, sizes, 3));
  if (!(full.mpi_timeout > 0) || !isfinite(full.mpi_timeout))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "the MPI timeout must be > 0 seconds, got %g", full.mpi_timeout);
  if (full.sgd.size != sizeof full.sgd)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_train_options.sgd.size is %zu, not %zu: start the options "
                   "from cltrain_train_defaults()", full.sgd.size, sizeof full.sgd);
  run r;
  memset(&r, 0, sizeof r);
  r.cx = cx, r.o = &full;
  imagefolder *tf = NULL, *vf = NULL;
  cltrain_status st = dist_open(cx, full.mpi_comm, full.mpi_timeout, &r.d);
  r.rank = dist_rank(r.d);
  if (!st) st = train_body(&r, &tf, &vf, out ? &res : NULL);
  /* a failure this rank met alone: the others learn it at their next agreement */
  if (st && r.d && !r.shared_fail) st = dist_agree(r.d, cx, st);
  loader_destroy(r.loader[0]);
  loader_destroy(r.loader[1]);
  feature_cache_destroy(r.cache[0].fc);
  feature_cache_destroy(r.cache[1].fc);
  free(r.order), free(r.idx), free(r.labels);
  imagefolder_close(tf);
  imagefolder_close(vf);
  cltrain_model_destroy(r.m);
  free(r.logits);
  train_state_free(&r.st);
  dist_close(r.d);
  if (out) {
    res.size = out->size;
    memcpy(out, &res, out->size); /* zeros on failure */
  }
  return st;
}
