/* cmd_eval.c: `cltrain eval`, a model's loss, accuracy and confusion matrix on an ImageFolder,
 * through the tutorial's eval transform and the threaded loader; optionally every image's
 * logits as CSV. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* One CSV field as RFC 4180 has it: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* Writes path,label,logit0,.. per image to `path` (cltrain_write_file: a temporary file, fsync,
 * rename), so a failure leaves nothing behind. Returns 0, or 1 after printing the error. */
static int dump_logits(const char *path, const cltrain_folder *f, const float *logits, int k) {
  char *text = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&text, &len);
  if (!o) return fprintf(stderr, "cltrain eval: out of memory\n"), 1;
  int n = cltrain_folder_size(f);
  for (int i = 0; i < n; i++) {
    csv_field(o, cltrain_folder_path(f, i));
    fprintf(o, ",%d", cltrain_folder_label(f, i));
    for (int j = 0; j < k; j++) fprintf(o, ",%.9g", logits[(size_t)i * k + j]);
    fputc('\n', o);
  }
  int err = ferror(o) ? ENOMEM : 0;
  if (fclose(o) != 0 && !err) err = ENOMEM;
  if (err) return free(text), fprintf(stderr, "cltrain eval: out of memory\n"), 1;
  cltrain_status st = cltrain_write_file(path, text, len);
  free(text);
  return st == CLTRAIN_OK ? 0 : cli_fail(NULL, st);
}

static void usage(FILE *f) {
  fprintf(f, "usage: cltrain eval --model M.onnx --data DIR [--batch B] [--workers N]\n"
             "                    [--dump-logits FILE.csv] [--device SEL]\n\n"
             "Evaluates M on the ImageFolder DIR (one folder per class, sorted by name) with the\n"
             "tutorial's eval transform (Resize(256), CenterCrop(224), ImageNet normalisation) and\n"
             "prints the mean cross-entropy loss, the accuracy and the confusion matrix (rows: true\n"
             "class, columns: predicted). The model's class count must equal DIR's.\n\n"
             "  --batch B              images per forward pass (16)\n"
             "  --workers N            decoding threads (0: hardware threads - 1)\n"
             "  --dump-logits FILE.csv one row per image, in DIR's order: path (relative to DIR),\n"
             "                         label, logit0, logit1, ...\n"
             "  --device SEL           the OpenCL device (see 'cltrain --help')\n");
}

typedef struct eval_args {
  const char *model, *data, *dump, *device;
  int batch, workers;
} eval_args;

/* 0: parsed; else the exit code (0 for --help is reported as -1). */
static int parse(int argc, char **argv, eval_args *a) {
  const char *batch = "16", *workers = "0";
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) return usage(stdout), -1;
    if (cli_flag(argc, argv, &i, "--model", &a->model, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--data", &a->data, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--dump-logits", &a->dump, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--device", &a->device, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--batch", &batch, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--workers", &workers, &bad)) continue;
    if (bad) break;
    fprintf(stderr, "cltrain eval: unknown option '%s'\n", argv[i]);
    return 2;
  }
  if (bad) return 2;
  if (!a->model || !a->data) {
    fprintf(stderr, "cltrain eval: --model M.onnx and --data DIR are required\n");
    return 2;
  }
  long long b, w;
  if (!cli_int("eval", "--batch", batch, 1, 4096, &b) || !cli_int("eval", "--workers", workers, 0, 256, &w))
    return 2;
  a->batch = (int)b, a->workers = (int)w;
  return 0;
}

typedef struct eval_state {
  cltrain_context *cx;
  cltrain_model *m;
  cltrain_folder *f;
  cltrain_folder_reader *r;
  float *logits; /* (images, classes) */
  long *confusion; /* (classes, classes): [true][predicted] */
} eval_state;

static void release(eval_state *s) {
  cltrain_folder_reader_destroy(s->r);
  cltrain_folder_close(s->f);
  cltrain_model_destroy(s->m);
  cltrain_context_destroy(s->cx);
  free(s->logits);
  free(s->confusion);
}

static int run(const eval_args *a, eval_state *s) {
  cltrain_status st;
  if ((st = cli_context(a->device, &s->cx)) != CLTRAIN_OK) return cli_fail(NULL, st);
  if ((st = cltrain_model_load_onnx(s->cx, a->model, &s->m)) != CLTRAIN_OK) return cli_fail(s->cx, st);
  cltrain_model_info info;
  if ((st = cltrain_model_get_info(s->m, &info)) != CLTRAIN_OK) return cli_fail(s->cx, st);
  if ((st = cltrain_folder_open(s->cx, a->data, &s->f)) != CLTRAIN_OK) return cli_fail(s->cx, st);
  int k = info.num_classes, n = cltrain_folder_size(s->f);
  if (cltrain_folder_num_classes(s->f) != k) {
    fprintf(stderr, "cltrain eval: the model '%s' has %d classes but the data '%s' has %d class "
            "folders\n", a->model, k, a->data, cltrain_folder_num_classes(s->f));
    return 1;
  }
  st = cltrain_folder_reader_create(s->cx, s->f, s->m, a->batch, a->workers, &s->r);
  if (st != CLTRAIN_OK) return cli_fail(s->cx, st);
  s->logits = malloc((size_t)n * k * sizeof(float));
  s->confusion = calloc((size_t)k * k, sizeof(long));
  if (!s->logits || !s->confusion) return fprintf(stderr, "cltrain eval: out of memory\n"), 1;
  double t0 = now_s(), loss_sum = 0;
  long correct = 0;
  int done = 0;
  for (;;) {
    const float *x;
    const int *y;
    int nb;
    if ((st = cltrain_folder_reader_next(s->r, &x, &y, &nb)) != CLTRAIN_OK) return cli_fail(s->cx, st);
    if (nb == 0) break;
    if (done + nb > n) return fprintf(stderr, "cltrain eval: the loader returned too many images\n"), 1;
    float *lg = s->logits + (size_t)done * k;
    if ((st = cltrain_model_forward(s->m, x, nb, lg)) != CLTRAIN_OK) return cli_fail(s->cx, st);
    for (int i = 0; i < nb; i++, lg += k) {
      /* The reader keeps the folder's order, which the dump relies on. */
      if (y[i] != cltrain_folder_label(s->f, done + i))
        return fprintf(stderr, "cltrain eval: the loader's order differs from the folder's\n"), 1;
      int best = 0;
      double mx = lg[0], sum = 0;
      for (int j = 1; j < k; j++)
        if (lg[j] > lg[best]) best = j;
      mx = lg[best];
      for (int j = 0; j < k; j++) sum += exp((double)lg[j] - mx);
      loss_sum += log(sum) + mx - lg[y[i]]; /* -log softmax(lg)[y] */
      correct += best == y[i];
      s->confusion[(size_t)y[i] * k + best]++;
    }
    done += nb;
  }
  double secs = now_s() - t0;
  if (done != n) return fprintf(stderr, "cltrain eval: %d of %d images evaluated\n", done, n), 1;
  if (a->dump && dump_logits(a->dump, s->f, s->logits, k)) return 1;

  cltrain_device_info d;
  if (cltrain_context_device(s->cx, &d) == CLTRAIN_OK) printf("device: %s\n", d.name);
  printf("model: %s (%d classes)\n", a->model, k);
  printf("data: %s: %d images, %.1f images/s (%.1f s waiting for decoding)\n", a->data, n,
         n / (secs > 0 ? secs : 1e-9), cltrain_folder_reader_wait_seconds(s->r));
  printf("loss: %.8f\n", loss_sum / n);
  printf("accuracy: %.4f%% (%ld/%d)\n", 100.0 * correct / n, correct, n);
  int wname = 4;
  for (int c = 0; c < k; c++) {
    int len = (int)strlen(cltrain_folder_class_name(s->f, c));
    wname = len > wname ? len : wname;
  }
  int wcol = wname < 6 ? 6 : wname;
  printf("\nconfusion matrix (rows: true class, columns: predicted)\n%-*s", wname, "");
  for (int c = 0; c < k; c++) printf(" %*s", wcol, cltrain_folder_class_name(s->f, c));
  printf("\n");
  for (int r = 0; r < k; r++) {
    printf("%-*s", wname, cltrain_folder_class_name(s->f, r));
    for (int c = 0; c < k; c++) printf(" %*ld", wcol, s->confusion[(size_t)r * k + c]);
    printf("\n");
  }
  if (a->dump) printf("\nlogits written to %s\n", a->dump);
  return 0;
}

int cmd_eval(int argc, char **argv) {
  eval_args a = {0};
  int rc = parse(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  if (cli_parse_only) return 0;
  eval_state s = {0};
  rc = run(&a, &s);
  release(&s);
  return rc;
}
