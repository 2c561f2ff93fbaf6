/* cmd_bench.c: `cltrain bench`, images/s of training steps and inference on synthetic data
 * (seeded random images and labels), as a training loop would run them, on the public API.
 * `cltrain bench ops` (each op alone) and `--cache` (the internal feature cache) run in
 * cltrain-dev (apps/cltrain-dev: bench_ops.c, bench_cache.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

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

/* Uniform in [0, 1) from splitmix64: the synthetic batch only needs to be seeded and varied. */
static double uniform(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* With CLTRAIN_PROFILE=1: where the timed steps' time went, per op type and pass. Each node
 * then runs between clFinish calls, so the steps themselves are slower than unprofiled ones. */
static void print_profile(const cltrain_context *cx, int steps, double step_total) {
  cltrain_profile_entry ops[32];
  int n = 0;
  if (cltrain_context_get_profile(cx, ops, 32, &n) != CLTRAIN_OK) return;
  double sum = 0;
  printf("profile (CLTRAIN_PROFILE=1, per step, nodes timed between clFinish calls):\n");
  printf("  %-16s %10s %10s %7s\n", "op", "fwd ms", "bwd ms", "share");
  for (int i = 0; i < n && i < 32; i++) {
    double t = ops[i].seconds[0] + ops[i].seconds[1];
    sum += t;
    printf("  %-16s %10.1f %10.1f %6.1f%%\n", ops[i].op, 1e3 * ops[i].seconds[0] / steps,
           1e3 * ops[i].seconds[1] / steps, 100 * t / step_total);
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

int cmd_bench(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "ops")) return cli_dev("bench", argc, argv);
  const char *arch = NULL, *model = NULL, *freeze = "none", *device = NULL;
  const char *s_batch = "16", *s_steps = "10", *s_warmup = "2", *s_classes = "2";
  int bad = 0, infer_only = 0, no_infer = 0, cache = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain bench [--arch ARCH | --model M.onnx] [--batch B] [--steps N]\n"
             "                     [--warmup W] [--classes N] [--freeze SPEC] [--infer|--no-infer] [--cache]\n"
             "                     [--device SEL]\n"
             "       cltrain bench ops [--batch B] [--repeats R] [--device SEL]\n\n"
             "Times training steps (loss_grad + SGD step, images uploaded every step) after W\n"
             "warm-up steps on seeded synthetic data, then eval-mode inference, and prints the\n"
             "images/s of the median step, the device memory and a machine-readable line\n"
             "  RESULT train_img_s=... infer_img_s=... device_mib=... peak_rss_mib=... launches_per_step=...\n"
             "ARCH is one `cltrain init --arch` writes (fresh weights: resnet18, resnet34,\n"
             "mobilenet_v3_small, efficientnet_b0).\n"
             "Defaults: --arch resnet18, batch 16, 10 steps, 2 warm-up, 2 classes,\n"
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
  if (cache && !infer_only && !cli_bench_cache) return cli_dev("bench", argc, argv);

  cltrain_context *cx = NULL;
  cltrain_model *m = NULL;
  float *images = NULL, *logits = NULL;
  int *labels = NULL;
  double *times = NULL;
  cli_bench_cache_state *fc = NULL;
  char tmp[64] = "";
  int rc = 1;
  int profile = 0;
  cltrain_status st = cli_context(device, &cx);
  if (st == CLTRAIN_OK) st = cltrain_context_get_option(cx, CLTRAIN_OPT_PROFILE, &profile);
  if (st != CLTRAIN_OK) return cltrain_context_destroy(cx), cli_fail(NULL, st);
  if (!model) {
    /* fresh weights: a file of our own, removed again at the end */
    snprintf(tmp, sizeof tmp, "/tmp/cltrain-bench-%ld.onnx", (long)getpid());
    st = cltrain_init_onnx(arch ? arch : "resnet18", 1000, 1, tmp);
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
  uint64_t rng = 7;
  for (size_t i = 0; i < (size_t)batch * per; i++) images[i] = (float)(2.0 * uniform(&rng) - 1.0);
  for (int i = 0; i < batch; i++) labels[i] = (int)(uniform(&rng) * classes);

  cltrain_device_info dev;
  if ((st = cltrain_context_device(cx, &dev)) != CLTRAIN_OK) goto fail;
  printf("device: %s (%s)\nmodel: %s, %d classes, freeze %s, batch %d, %d steps after %d warm-up\n",
         dev.name, dev.platform, model == tmp ? (arch ? arch : "resnet18") : model, classes,
         freeze, batch, steps, warmup);
  cltrain_context_details det = {.size = sizeof det};
  if ((st = cltrain_context_get_details(cx, &det)) != CLTRAIN_OK) goto fail;
  printf("gemm: %s\n", det.gemm_backend);
  printf("load: %.2f s\n", t_load);
  if (cache && !infer_only && (st = cli_bench_cache->fill(cx, m, images, labels, batch, &fc)) != CLTRAIN_OK)
    goto fail;

  double train_img_s = 0, infer_img_s = 0, first_step = 0, launches = 0;
  cltrain_sgd_options so = cltrain_sgd_defaults();
  if (!infer_only) {
    if ((st = cltrain_model_set_train(m, 1)) != CLTRAIN_OK) goto fail;
    double step_total = 0;
    unsigned long launches0 = cltrain_debug_launch_count();
    for (int k = 0; k < warmup + steps; k++) {
      if (k == warmup) cltrain_context_reset_profile(cx), launches0 = cltrain_debug_launch_count();
      double t0 = now_s();
      float loss;
      if (fc) { /* a random batch of cached rows, as a shuffled epoch takes them */
        st = cli_bench_cache->loss_grad(fc, m, labels, batch, &loss);
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
    if (profile) print_profile(cx, steps, step_total);
    double med = median(times + warmup, steps);
    train_img_s = batch / med;
    printf("train%s: first step %.3f s, median step %.3f s: %.2f images/s\n", fc ? " (cached features)" : "",
           first_step, med, train_img_s);
    launches = (double)(cltrain_debug_launch_count() - launches0) / steps;
    printf("kernel launches per step: %.0f of cltrain's own (CLBlast's: scripts/count-launches)\n", launches);
  }
  if ((st = cltrain_model_set_train(m, 0)) != CLTRAIN_OK) goto fail;
  double infer_total = 0;
  for (int k = 0; k < (no_infer ? 0 : warmup + steps); k++) {
    if (k == warmup) cltrain_context_reset_profile(cx);
    double t0 = now_s();
    if ((st = cltrain_model_forward(m, images, batch, logits)) != CLTRAIN_OK) goto fail;
    times[k] = now_s() - t0;
    if (k >= warmup) infer_total += times[k];
  }
  if (!no_infer && profile) print_profile(cx, steps, infer_total);
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
  free(images), free(labels), free(logits), free(times);
  if (fc) cli_bench_cache->destroy(fc);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return rc;
}
