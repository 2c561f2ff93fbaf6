/* cmd_bench.c: `cltrain bench`, images/s of training steps and inference on synthetic data
 * (seeded random images and labels), as a training loop would run them; `cltrain bench ops`
 * (bench_ops.c) times each op alone at ResNet-18's shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "blas.h"
#include "cache.h"
#include "dev.h"
#include "graph.h"
#include "model.h"
#include "rng.h"


static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The process's peak resident memory in MiB: VmHWM where /proc has it, else ru_maxrss. */
static double peak_rss_mib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kib = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  if (kib < 0) {
    struct rusage ru;
    kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0; /* KiB on Linux and the BSDs */
  }
  return (double)kib / 1024.0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* With CLTRAIN_PROFILE=1: where the timed steps' time went, per op type and pass. Each node
 * then runs between clFinish calls, so the steps themselves are slower than unprofiled ones. */
static void print_profile(const cltrain_context *cx, int steps, double step_total) {
  double sec[MODEL_PROFILE_OPS][2];
  long calls[MODEL_PROFILE_OPS][2];
  model_profile_totals(cx, sec, calls);
  double sum = 0;
  printf("profile (CLTRAIN_PROFILE=1, per step, nodes timed between clFinish calls):\n");
  printf("  %-16s %10s %10s %7s\n", "op", "fwd ms", "bwd ms", "share");
  for (int op = 0; op < MODEL_PROFILE_OPS; op++) {
    double t = sec[op][0] + sec[op][1];
    if (!calls[op][0] && !calls[op][1]) continue;
    sum += t;
    printf("  %-16s %10.1f %10.1f %6.1f%%\n", graph_op_name((node_op)op), 1e3 * sec[op][0] / steps,
           1e3 * sec[op][1] / steps, 100 * t / step_total);
  }
  printf("  %-16s %10.1f %10s %6.1f%%   (upload, read-back; training: loss, zeroing grads, SGD)\n", "other",
         1e3 * (step_total - sum) / steps, "", 100 * (step_total - sum) / step_total);
}

static int parse_int(const char *s, const char *flag, int lo, int *out) {
  long long v;
  if (!cli_int("bench", flag, s, lo, 1 << 20, &v)) return 0;
  *out = (int)v;
  return 1;
}

/* --cache: a feature cache of 4 batches of rows, filled by 4 training steps on the synthetic
 * images (epoch 1 of a cached run), and a row index buffer for the timed steps. */
static cltrain_status fill_cache(cltrain_context *cx, cltrain_model *m, const float *images, const int *labels,
                                 int batch, feature_cache **fc, int32_t **rows) {
  const char *why = "";
  int node = feature_cache_node(m, &why);
  if (node < 0) return rt_fail(cx, CLTRAIN_ERR_ARG, "--cache: cannot cache features: %s", why);
  size_t budget = feature_cache_device_budget(cx);
  TRY(feature_cache_create(cx, m, node, 4 * batch, budget, budget, fc));
  if (!(*rows = malloc(sizeof **rows * (size_t)batch))) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  cltrain_sgd_options so = cltrain_sgd_defaults();
  TRY(cltrain_model_set_train(m, 1));
  for (int k = 0; k < 4; k++) {
    float loss;
    for (int b = 0; b < batch; b++) (*rows)[b] = k * batch + b;
    TRY(feature_cache_loss_grad(*fc, m, images, *rows, labels, batch, &loss, NULL));
    TRY(cltrain_model_sgd_step(m, &so));
  }
  printf("cache: %d rows of '%s' (%.1f MiB, %s), filled by 4 training steps\n", 4 * batch, m->g.nodes[node].name,
         feature_cache_bytes(*fc) / 1048576.0, feature_cache_on_device(*fc) ? "on the device" : "in host memory");
  return cltrain_context_finish(cx);
}

int cmd_bench(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "ops")) return cmd_bench_ops(argc - 1, argv + 1);
  const char *arch = NULL, *model = NULL, *freeze = "none", *device = NULL;
  const char *s_batch = "16", *s_steps = "10", *s_warmup = "2", *s_classes = "2";
  int bad = 0, infer_only = 0, no_infer = 0, cache = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain bench [--arch resnet18|resnet34 | --model M.onnx] [--batch B] [--steps N]\n"
             "                     [--warmup W] [--classes N] [--freeze SPEC] [--infer|--no-infer] [--cache]\n"
             "                     [--device SEL]\n"
             "       cltrain bench ops [--batch B] [--repeats R] [--device SEL]\n\n"
             "Times training steps (loss_grad + SGD step, images uploaded every step) after W\n"
             "warm-up steps on seeded synthetic data, then eval-mode inference, and prints the\n"
             "images/s of the median step, the device memory and a machine-readable line\n"
             "  RESULT train_img_s=... infer_img_s=... device_mib=... peak_rss_mib=... launches_per_step=...\n"
             "Defaults: --arch resnet18 (fresh weights), batch 16, 10 steps, 2 warm-up, 2 classes,\n"
             "freeze none. --infer times inference only (train_img_s=0), --no-infer training only.\n"
             "--cache times the training steps of `cltrain train`'s cached epochs (2+) instead: the\n"
             "frozen part's output of 4 batches is cached first (as epoch 1 does), then each step\n"
             "gathers a random batch of cached rows and trains the layers above them (needs a freeze\n"
             "spec that caching accepts, e.g. all). Frozen BN layers run in eval mode.\n"
             "`bench ops` times each op's forward and backward at ResNet-18's shapes.\n");
      return 0;
    }
    if (cli_flag(argc, argv, &i, "--arch", &arch, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--model", &model, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--freeze", &freeze, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--device", &device, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--batch", &s_batch, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--steps", &s_steps, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--warmup", &s_warmup, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--classes", &s_classes, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--infer", NULL, &bad)) {
      infer_only = 1;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--no-infer", NULL, &bad)) {
      no_infer = 1;
      continue;
    }
    if (cli_flag(argc, argv, &i, "--cache", NULL, &bad)) {
      cache = 1;
      continue;
    }
    if (bad) break;
    fprintf(stderr, "cltrain bench: unknown option '%s'\n", argv[i]);
    return 2;
  }
  if (bad) return 2;
  int batch, steps, warmup, classes;
  if (!parse_int(s_batch, "--batch", 1, &batch) || !parse_int(s_steps, "--steps", 1, &steps) ||
      !parse_int(s_warmup, "--warmup", 0, &warmup) || !parse_int(s_classes, "--classes", 1, &classes))
    return 2;
  if (infer_only && no_infer) {
    fprintf(stderr, "cltrain bench: --infer and --no-infer exclude each other\n");
    return 2;
  }
  if (arch && model) {
    fprintf(stderr, "cltrain bench: give --arch or --model, not both\n");
    return 2;
  }
  if (cli_parse_only) return 0;

  cltrain_context *cx = NULL;
  cltrain_model *m = NULL;
  float *images = NULL, *logits = NULL;
  int *labels = NULL;
  int32_t *rows = NULL;
  double *times = NULL;
  feature_cache *fc = NULL;
  char tmp[64] = "";
  int rc = 1;
  cltrain_status st = cli_context(device, &cx);
  if (st != CLTRAIN_OK) return cli_fail(NULL, st);
  if (!model) {
    /* fresh weights: a file of our own, removed again at the end */
    snprintf(tmp, sizeof tmp, "/tmp/cltrain-bench-%ld.onnx", (long)getpid());
    st = cltrain_resnet_onnx(arch ? arch : "resnet18", 1000, 1, tmp);
    if (st != CLTRAIN_OK) {
      rc = cli_fail(NULL, st);
      tmp[0] = 0;
      goto done;
    }
    model = tmp;
  }
  double t_load = now_s();
  if ((st = cltrain_model_load_onnx(cx, model, &m)) != CLTRAIN_OK) goto fail;
  t_load = now_s() - t_load;
  cltrain_head_options ho = cltrain_head_defaults();
  ho.num_classes = classes, ho.seed = 1;
  if ((st = cltrain_model_replace_head(m, &ho)) != CLTRAIN_OK) goto fail;
  if ((st = cltrain_model_freeze(m, freeze)) != CLTRAIN_OK) goto fail;
  cltrain_model_info info;
  if ((st = cltrain_model_get_info(m, &info)) != CLTRAIN_OK) goto fail;
  size_t per = (size_t)info.in_c * info.in_h * info.in_w;
  images = malloc((size_t)batch * per * sizeof *images);
  labels = malloc((size_t)batch * sizeof *labels);
  logits = malloc((size_t)batch * classes * sizeof *logits);
  times = malloc((size_t)(steps + warmup) * sizeof *times);
  if (!images || !labels || !logits || !times) {
    fprintf(stderr, "cltrain bench: out of host memory\n");
    goto done;
  }
  cltrain_rng rng = rng_make(7, 0);
  for (size_t i = 0; i < (size_t)batch * per; i++) images[i] = 2.0f * rng_uniform(&rng) - 1.0f;
  for (int i = 0; i < batch; i++) labels[i] = (int)rng_below(&rng, (uint32_t)classes);

  cltrain_device_info dev;
  if ((st = cltrain_context_device(cx, &dev)) != CLTRAIN_OK) goto fail;
  printf("device: %s (%s)\nmodel: %s, %d classes, freeze %s, batch %d, %d steps after %d warm-up\n",
         dev.name, dev.platform, model == tmp ? (arch ? arch : "resnet18") : model, classes,
         freeze, batch, steps, warmup);
  printf("gemm: %s\n", blas_backend_name(cx));
  printf("load: %.2f s\n", t_load);
  if (cache && !infer_only && (st = fill_cache(cx, m, images, labels, batch, &fc, &rows)) != CLTRAIN_OK) goto fail;

  double train_img_s = 0, infer_img_s = 0, first_step = 0, launches = 0;
  cltrain_sgd_options so = cltrain_sgd_defaults();
  if (!infer_only) {
    if ((st = cltrain_model_set_train(m, 1)) != CLTRAIN_OK) goto fail;
    double step_total = 0;
    unsigned long launches0 = rt_launch_count();
    for (int k = 0; k < warmup + steps; k++) {
      if (k == warmup) model_profile_reset(cx), launches0 = rt_launch_count();
      double t0 = now_s();
      float loss;
      if (fc) { /* a random batch of cached rows, as a shuffled epoch takes them */
        for (int b = 0; b < batch; b++) rows[b] = (int32_t)rng_below(&rng, (uint32_t)(4 * batch));
        st = feature_cache_loss_grad(fc, m, NULL, rows, labels, batch, &loss, NULL);
      } else {
        st = cltrain_model_loss_grad(m, images, labels, batch, &loss, NULL);
      }
      if (st != CLTRAIN_OK) goto fail;
      if ((st = cltrain_model_sgd_step(m, &so)) != CLTRAIN_OK) goto fail;
      if ((st = cltrain_context_finish(cx)) != CLTRAIN_OK) goto fail;
      times[k] = now_s() - t0;
      if (k == 0) first_step = times[k];
      if (k >= warmup) step_total += times[k];
    }
    if (cx->profile) print_profile(cx, steps, step_total);
    double med = median(times + warmup, steps);
    train_img_s = batch / med;
    printf("train%s: first step %.3f s, median step %.3f s: %.2f images/s\n", fc ? " (cached features)" : "",
           first_step, med, train_img_s);
    launches = (double)(rt_launch_count() - launches0) / steps;
    printf("kernel launches per step: %.0f of cltrain's own (CLBlast's: scripts/count-launches)\n", launches);
  }
  if ((st = cltrain_model_set_train(m, 0)) != CLTRAIN_OK) goto fail;
  double infer_total = 0;
  for (int k = 0; k < (no_infer ? 0 : warmup + steps); k++) {
    if (k == warmup) model_profile_reset(cx);
    double t0 = now_s();
    if ((st = cltrain_model_forward(m, images, batch, logits)) != CLTRAIN_OK) goto fail;
    times[k] = now_s() - t0;
    if (k >= warmup) infer_total += times[k];
  }
  if (!no_infer && cx->profile) print_profile(cx, steps, infer_total);
  if (!no_infer) {
    double med = median(times + warmup, steps);
    infer_img_s = batch / med;
    printf("infer: median batch %.3f s: %.2f images/s\n", med, infer_img_s);
  }
  if ((st = cltrain_model_get_info(m, &info)) != CLTRAIN_OK) goto fail;
  double mib = (double)info.device_bytes / (1024.0 * 1024.0);
  double rss = peak_rss_mib();
  printf("device memory: %.1f MiB; peak RSS of the process: %.1f MiB\n", mib, rss);
  printf("RESULT train_img_s=%.3f infer_img_s=%.3f device_mib=%.1f first_step_s=%.3f batch=%d "
         "peak_rss_mib=%.1f launches_per_step=%.0f\n",
         train_img_s, infer_img_s, mib, first_step, batch, rss, launches);
  rc = 0;
  goto done;
fail:
  rc = cli_fail(cx, st);
done:
  if (tmp[0]) remove(tmp);
  free(images), free(labels), free(logits), free(times), free(rows);
  feature_cache_destroy(fc);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return rc;
}
