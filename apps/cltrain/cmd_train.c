/* cmd_train.c: `cltrain train`, the tutorial's fine-tuning run (cltrain_train_run) with
 * presets for the four transfer-learning regimes, a progress bar on terminals and one line per
 * epoch otherwise; under mpirun, one rank of a data-parallel run, each rank on its own device. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: cltrain train --model IN.onnx --data DIR --out OUT.onnx [options]\n\n"
          "Fine-tunes IN.onnx on the ImageFolder pair DIR/train, DIR/val (one folder per class) as\n"
          "PyTorch's transfer-learning tutorial does, keeps the best val epoch, exports OUT.onnx.\n\n"
          "  --classes N            outputs of the new head (default: class folders in DIR/train)\n"
          "  --regime R             preset: small-similar (freeze all), small-different (freeze all,\n"
          "                         hidden 256 head), big-similar (freeze upto:stage3), big-different\n"
          "                         (freeze none); explicit flags override it\n"
          "  --freeze SPEC          none (default), all, upto:NAME, or NAME,... / stem, stageK, head\n"
          "  --frozen-bn eval|train BN in frozen layers: running statistics (eval, default) or batch\n"
          "  --head-hidden LIST     hidden layer sizes of the new head, e.g. 256 or 512,128\n"
          "  --dropout P            dropout after each hidden layer (0)\n"
          "  --epochs E             (25)          --max-steps K   stop after K SGD steps (0: export\n"
          "                                                       the new head untrained)\n"
          "  --batch B              (4)           --lr X          (0.001)\n"
          "  --momentum X           (0.9)         --weight-decay X (0)     --nesterov\n"
          "  --backbone-lr-mult X   lr multiplier of layers outside the head (1)\n"
          "  --step-size S          StepLR (7)    --gamma G       StepLR (0.1)\n"
          "  --augment tutorial|none  RandomResizedCrop+flip (default) or the eval transform\n"
          "  --no-shuffle           --seed S      (0)\n"
          "  --keep best|last       weights to export (best val epoch, default)\n"
          "  --workers N            image decoding threads (default: cores - 1)\n"
          "  --image-size S         train and validate on SxS crops (default: the model's, 224)\n"
          "  --log FILE.csv         epoch,phase,loss,acc,lr,seconds,images_per_s\n"
          "  --plot FILE.png        loss and accuracy curves\n"
          "  --checkpoint FILE      rewritten after every epoch;  --resume FILE continues one\n"
          "  --skip-bad             leave out images that fail to load (default: fail, naming them)\n"
          "  --cache-features       keep the frozen part's output per image from epoch 1 on and train\n"
          "                         only the layers above it in later epochs; needs --augment none,\n"
          "                         --frozen-bn eval and a frozen part with one output (e.g. --freeze\n"
          "                         all), else an error. Default: cache whenever that holds\n"
          "  --no-cache-features    never cache\n"
          "  --device SEL           OpenCL device (see `cltrain devices`)\n"
          "  --devices SEL1,SEL2,.. under mpirun: rank r takes entry r mod count (default: the rank's\n"
          "                         local index among the devices of the default type)\n"
          "  --mpi-timeout S        under mpirun: a rank that waits S seconds (300) for the others in\n"
          "                         one collective names it and aborts the job (exit status 1)\n\n"
          "Under mpirun (`mpirun -np N cltrain train ...`) the N ranks train one model as PyTorch's\n"
          "DistributedDataParallel: --batch is per rank, rank 0 writes every file.\n\n"
          "Exit status: 0 done, 1 a runtime error (the message names the file or option), 2 usage.\n");
}

static int parse_int(const char *flag, const char *s, long long lo, long long *out) {
  return cli_int("train", flag, s, lo, INT_MAX, out); /* the options are ints: 4294967297 must not wrap */
}

static int parse_double(const char *flag, const char *s, double *out) { return cli_number("train", flag, s, out); }

typedef struct printer {
  int tty;
  int bar_shown;
} printer;

static void fmt_eta(double s, char *buf, size_t cap) {
  if (!(s >= 0) || s > 1e6) snprintf(buf, cap, "?");
  else if (s >= 60) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else snprintf(buf, cap, "%.0fs", s);
}

static void on_progress(const cltrain_progress *p, void *user) {
  printer *pr = user;
  if (!pr->tty) return;
  int width = 24, done = p->num_batches ? p->batch * width / p->num_batches : width;
  char bar[32], eta[32];
  for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
  bar[width] = 0;
  double per = p->batch ? p->seconds / p->batch : 0;
  fmt_eta(per * (p->num_batches - p->batch), eta, sizeof eta);
  printf("\r\033[Kepoch %d/%d %-5s [%s] %d/%d loss %.4f acc %.4f %.1f img/s ETA %s", p->epoch + 1, p->epochs,
         p->phase ? "val" : "train", bar, p->batch, p->num_batches, p->loss, p->acc, p->images_per_s, eta);
  fflush(stdout);
  pr->bar_shown = 1;
}

static void on_epoch(const cltrain_epoch_stats *e, void *user) {
  printer *pr = user;
  if (pr->bar_shown) printf("\r\033[K"), pr->bar_shown = 0;
  double secs = e->train_seconds + e->val_seconds;
  double ips = secs > 0 && e->train_seconds > 0 ? e->train_images_per_s : 0;
  printf("epoch %d/%d train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %g | %.1f s, %.1f img/s, "
         "data wait %.0f%%%s\n",
         e->epoch + 1, e->epochs, e->train_loss, e->train_acc, e->val_loss, e->val_acc, e->lr, secs, ips,
         100 * e->data_wait, e->is_best ? " *" : "");
  fflush(stdout);
}

/* Whether this process is one of several that mpirun started (Open MPI's, or a PMI one's). */
static int launched_by_mpirun(void) {
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
  for (int i = 0; i < 3; i++)
    if (getenv(vars[i])) return 1;
  return 0;
}

/* The selector of this rank's device: entry rank mod count of --devices, or else the local
 * rank's entry among the devices of the default device's type ("P:D"). */
static int rank_device(const char *devices, int rank, int local, char *sel, size_t cap) {
  if (devices) {
    int count = 1;
    for (const char *p = devices; *p; p++) count += *p == ',';
    const char *p = devices;
    for (int k = rank % count; k > 0; k--) p = strchr(p, ',') + 1;
    snprintf(sel, cap, "%.*s", (int)strcspn(p, ","), p);
    return 1;
  }
  cltrain_device_info d[64];
  int n = 0;
  if (cltrain_devices(d, 64, &n) != CLTRAIN_OK) return 0;
  n = n < 64 ? n : 64;
  cltrain_device_type type = CLTRAIN_DEVICE_CPU;
  for (int i = 0; i < n; i++)
    if (d[i].is_default) type = d[i].type;
  int count = 0;
  for (int i = 0; i < n; i++) count += d[i].type == type;
  for (int i = 0, k = 0; i < n; i++)
    if (d[i].type == type && k++ == local % count) {
      snprintf(sel, cap, "%d:%d", d[i].platform_index, d[i].device_index);
      return 1;
    }
  return 0;
}

int cmd_train(int argc, char **argv) {
  cltrain_train_options o = cltrain_train_defaults();
  const char *device = NULL, *devices = NULL, *regime = NULL, *freeze = NULL, *hidden = NULL, *v = NULL;
  int hidden_sizes[16], nhidden = -1, bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    long long n;
    double d;
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad) || cli_flag(argc, argv, &i, "-h", NULL, &bad)) {
      usage(stdout);
      return 0;
    }
    if (cli_flag(argc, argv, &i, "--model", &o.model_path, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--data", &o.data_dir, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--out", &o.out_path, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--device", &device, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--devices", &devices, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--regime", &regime, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--freeze", &freeze, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--head-hidden", &hidden, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--log", &o.log_csv, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--plot", &o.plot_png, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--checkpoint", &o.checkpoint, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--resume", &o.resume, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--nesterov", NULL, &bad)) {
      o.sgd.nesterov = 1;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--no-shuffle", NULL, &bad)) {
      o.shuffle = 0;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--skip-bad", NULL, &bad)) {
      o.skip_bad = 1;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--cache-features", NULL, &bad)) {
      o.cache_features = CLTRAIN_CACHE_ON;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--no-cache-features", NULL, &bad)) {
      o.cache_features = CLTRAIN_CACHE_OFF;
      continue;
    }
#define INT_FLAG(name, lo, dst)                                           \
  if (cli_flag(argc, argv, &i, name, &v, &bad)) {                         \
    if (!bad && !parse_int(name, v, lo, &n)) return 2;                    \
    dst = n;                                                              \
    continue;                                                             \
  }
#define NUM_FLAG(name, dst)                                               \
  if (cli_flag(argc, argv, &i, name, &v, &bad)) {                         \
    if (!bad && !parse_double(name, v, &d)) return 2;                     \
    dst = d;                                                              \
    continue;                                                             \
  }
    /* --classes accepts 0 so that the library reports the empty head as the runtime error */
    INT_FLAG("--classes", 0, o.num_classes)
    INT_FLAG("--epochs", 0, o.epochs)
    INT_FLAG("--max-steps", 0, o.max_steps)
    INT_FLAG("--batch", 1, o.batch_size)
    INT_FLAG("--step-size", 1, o.step_size)
    INT_FLAG("--workers", 0, o.workers)
    INT_FLAG("--image-size", 16, o.image_size)
    NUM_FLAG("--dropout", o.dropout)
    NUM_FLAG("--lr", o.sgd.lr)
    NUM_FLAG("--momentum", o.sgd.momentum)
    NUM_FLAG("--weight-decay", o.sgd.weight_decay)
    NUM_FLAG("--backbone-lr-mult", o.sgd.backbone_lr_mult)
    NUM_FLAG("--gamma", o.gamma)
    NUM_FLAG("--mpi-timeout", o.mpi_timeout)
    if (cli_flag(argc, argv, &i, "--seed", &v, &bad)) {
      unsigned long long s = 0;
      if (!bad && !cli_u64("train", "--seed", v, &s)) return 2;
      o.seed = s;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--frozen-bn", &v, &bad)) {
      if (bad) break;
      if (!strcmp(v, "eval")) o.frozen_bn = CLTRAIN_FROZEN_BN_EVAL;
      else if (!strcmp(v, "train")) o.frozen_bn = CLTRAIN_FROZEN_BN_TRAIN;
      else {
        fprintf(stderr, "cltrain train: --frozen-bn wants eval or train, got '%s'\n", v);
        return 2;
      }
      continue;
    }
    if (cli_flag(argc, argv, &i, "--augment", &v, &bad)) {
      if (bad) break;
      if (!strcmp(v, "tutorial")) o.augment = 1;
      else if (!strcmp(v, "none")) o.augment = 0;
      else {
        fprintf(stderr, "cltrain train: --augment wants tutorial or none, got '%s'\n", v);
        return 2;
      }
      continue;
    }
    if (cli_flag(argc, argv, &i, "--keep", &v, &bad)) {
      if (bad) break;
      if (!strcmp(v, "best")) o.keep_best = 1;
      else if (!strcmp(v, "last")) o.keep_best = 0;
      else {
        fprintf(stderr, "cltrain train: --keep wants best or last, got '%s'\n", v);
        return 2;
      }
      continue;
    }
    if (bad) break;
    fprintf(stderr, "cltrain train: unknown option '%s' (see cltrain train --help)\n", argv[i]);
    return 2;
  }
  if (bad) return 2;
  if (!o.model_path || !o.data_dir || !o.out_path) {
    fprintf(stderr, "cltrain train: --model, --data and --out are required (see cltrain train --help)\n");
    return 2;
  }
  /* the regime's presets, under explicit flags */
  const char *preset_freeze = "none";
  int preset_hidden = 0;
  if (regime) {
    if (!strcmp(regime, "small-similar")) preset_freeze = "all";
    else if (!strcmp(regime, "small-different")) preset_freeze = "all", preset_hidden = 256;
    else if (!strcmp(regime, "big-similar")) preset_freeze = "upto:stage3";
    else if (!strcmp(regime, "big-different")) preset_freeze = "none";
    else {
      fprintf(stderr, "cltrain train: --regime wants small-similar, small-different, big-similar or "
                      "big-different, got '%s'\n", regime);
      return 2;
    }
  }
  o.freeze = freeze ? freeze : preset_freeze;
  if (hidden) {
    nhidden = 0;
    const char *p = hidden;
    while (*p) {
      char *end;
      long h = strtol(p, &end, 10);
      if (end == p || (*end && *end != ',') || nhidden == 16) {
        fprintf(stderr, "cltrain train: --head-hidden wants sizes like 256 or 512,128 (at most 16), got '%s'\n",
                hidden);
        return 2;
      }
      hidden_sizes[nhidden++] = (int)h;
      p = *end ? end + 1 : end;
    }
  } else if (preset_hidden) {
    hidden_sizes[0] = preset_hidden, nhidden = 1;
  }
  if (nhidden > 0) o.head_hidden = hidden_sizes, o.num_hidden = nhidden;
  if (device && devices) {
    fprintf(stderr, "cltrain train: give --device or --devices, not both\n");
    return 2;
  }
  if (cli_parse_only) return 0;

  /* Under mpirun: this rank's place, and its device */
  int rank = 0, ranks = 1, local = 0;
  char sel[256];
  if (launched_by_mpirun()) {
    o.mpi_comm = CLTRAIN_MPI_COMM_WORLD;
    cltrain_status st = cltrain_mpi_ranks(o.mpi_comm, &rank, &ranks, &local);
    if (st != CLTRAIN_OK) return cli_fail(NULL, st);
    if (ranks == 1) o.mpi_comm = NULL;
    if (ranks > 1 && !device && !rank_device(devices, rank, local, sel, sizeof sel)) {
      /* a rank that cannot start must not leave the others waiting for it */
      cli_fail(NULL, CLTRAIN_ERR_DEVICE);
      cltrain_mpi_abort(o.mpi_comm, 1);
    }
    if (ranks > 1 && !device) device = sel;
  }
  if (!o.mpi_comm && devices && rank_device(devices, 0, 0, sel, sizeof sel)) device = sel; /* alone: entry 0 */
  printer pr = {rank == 0 && isatty(1), 0};
  o.on_progress = on_progress, o.on_epoch = on_epoch, o.user = &pr;
  cltrain_context *cx = NULL;
  cltrain_status st = cli_context(device, &cx);
  if (st != CLTRAIN_OK) {
    cli_fail(NULL, st);
    if (o.mpi_comm) {
      fprintf(stderr, "  (rank %d of %d, device '%s')\n", rank, ranks, device ? device : "");
      cltrain_mpi_abort(o.mpi_comm, 1);
    }
    return 1;
  }
  if (rank == 0 && o.mpi_comm) {
    cltrain_device_info di;
    cltrain_context_device(cx, &di);
    printf("%d ranks, batch %d per rank: global batch %d (rank 0 on %d:%d %s)\n", ranks, o.batch_size,
           ranks * o.batch_size, di.platform_index, di.device_index, di.name);
    fflush(stdout);
  }
  cltrain_train_result res = cltrain_train_result_init();
  st = cltrain_train_run(cx, &o, &res);
  if (pr.bar_shown) printf("\n");
  if (st != CLTRAIN_OK && st == CLTRAIN_ERR_TIMEOUT) {
    /* another rank hangs in a collective: whichever rank saw it says so and ends the job */
    cli_fail(cx, st);
    cltrain_mpi_abort(o.mpi_comm, 1);
  }
  if (st != CLTRAIN_OK) {
    /* every rank fails with the failing rank's message: rank 0 prints it */
    int rc = rank == 0 ? cli_fail(cx, st) : 1;
    cltrain_context_destroy(cx);
    return rc;
  }
  if (rank != 0) {
    cltrain_context_destroy(cx);
    return 0;
  }
  if (res.ranks > 1 && res.steps > 0)
    printf("allreduce: %.1f MB per step, %.2f ms per step reducing, %.2f ms of it not hidden by the backward\n",
           res.floats_reduced_per_step * 4 / 1e6, 1e3 * res.allreduce_seconds / (double)res.steps,
           1e3 * res.allreduce_exposed_seconds / (double)res.steps);
  double wait = res.train_seconds > 0 ? res.loader_wait_seconds / res.train_seconds : 0;
  if (res.skipped) printf("skipped %d images that failed to load\n", res.skipped);
  if (res.features_cached)
    printf("features cached at %s (%.3g MiB %s): epochs after the first ran only the layers above it\n",
           res.cache_node, res.cache_mib, res.features_cached == 1 ? "on the device" : "in host memory");
  if (res.epochs_done)
    printf("best val acc %.4f (epoch %d); data wait %.0f%% of training; exported %s%s\n", res.best_val_acc,
           res.best_epoch, 100 * wait, o.out_path, res.exported_best ? "" : " (last epoch's weights)");
  else
    printf("no epoch ran (--max-steps %lld); exported the initial model with its new head to %s\n", o.max_steps,
           o.out_path);
  cltrain_context_destroy(cx);
  return 0;
}
