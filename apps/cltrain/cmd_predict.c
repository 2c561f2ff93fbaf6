/* cmd_predict.c: `cltrain predict`, each image's top-k classes with softmax probabilities, and
 * optionally a picture grid of the images with their predicted labels. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "grid.h"

static void usage(FILE *f) {
  fprintf(f, "usage: cltrain predict --model M.onnx [--labels a,b,...|--data DIR] [--top K]\n"
             "                       [--grid FILE.png] [--device SEL] IMAGE...\n\n"
             "Prints each image's K most likely classes with their softmax probabilities, through\n"
             "the tutorial's eval transform (Resize(256), CenterCrop(224), ImageNet normalisation).\n"
             "Class names come from --labels, else from DIR's class folders (an ImageFolder), else\n"
             "from the model (cltrain export stores them), else they are class0, class1, ...\n\n"
             "  --top K        classes shown per image (default min(5, classes))\n"
             "  --grid FILE    also draws the images, %d per row, with the top class and its\n"
             "                 probability under each (format from the extension: .png, .jpg)\n"
             "  --device SEL   the OpenCL device (see 'cltrain --help')\n",
          GRID_COLS);
}

typedef struct predict_state {
  cltrain_context *cx;
  cltrain_model *m;
  cltrain_folder *f;
  char **names;    /* (classes) */
  char *names_buf; /* storage behind names, when they came from a list or the model */
  float *logits, *probs; /* (images, classes) */
  char **captions; /* (images) */
  int k, nimg;
} predict_state;

static void release(predict_state *s) {
  if (s->captions)
    for (int i = 0; i < s->nimg; i++) free(s->captions[i]);
  free(s->captions);
  free(s->logits);
  free(s->probs);
  free(s->names);
  free(s->names_buf);
  cltrain_folder_close(s->f);
  cltrain_model_destroy(s->m);
  cltrain_context_destroy(s->cx);
}

/* Fills s->names (k entries) from the first source that has them. Returns 0 or an exit code. */
static int class_names(predict_state *s, const char *model, const char *labels, const char *data) {
  int k = s->k, got = 0;
  s->names = calloc((size_t)k, sizeof *s->names);
  if (!s->names) return fprintf(stderr, "cltrain predict: out of memory\n"), 1;
  if (labels) {
    if (!(s->names_buf = strdup(labels))) return fprintf(stderr, "cltrain predict: out of memory\n"), 1;
    for (char *p = s->names_buf;; got++) {
      char *comma = strchr(p, ',');
      if (got < k) s->names[got] = p;
      if (!comma) break;
      *comma = 0, p = comma + 1;
    }
    got++;
    if (got != k) {
      fprintf(stderr, "cltrain predict: --labels names %d classes, the model '%s' has %d\n", got, model, k);
      return 2;
    }
    return 0;
  }
  if (data) {
    cltrain_status st = cltrain_folder_open(s->cx, data, &s->f);
    if (st != CLTRAIN_OK) return cli_fail(s->cx, st);
    if (cltrain_folder_num_classes(s->f) != k) {
      fprintf(stderr, "cltrain predict: the model '%s' has %d classes but the data '%s' has %d "
              "class folders\n", model, k, data, cltrain_folder_num_classes(s->f));
      return 1;
    }
    for (int c = 0; c < k; c++) s->names[c] = (char *)cltrain_folder_class_name(s->f, c);
    return 0;
  }
  size_t size = 0;
  int count = 0;
  cltrain_status st = cltrain_onnx_class_names(model, NULL, 0, &size, &count);
  if (st != CLTRAIN_OK) return cli_fail(NULL, st);
  if (count == k) {
    if (!(s->names_buf = malloc(size))) return fprintf(stderr, "cltrain predict: out of memory\n"), 1;
    if ((st = cltrain_onnx_class_names(model, s->names_buf, size, &size, &count)) != CLTRAIN_OK)
      return cli_fail(NULL, st);
    char *p = s->names_buf;
    for (int c = 0; c < k; c++, p += strlen(p) + 1) s->names[c] = p;
    return 0;
  }
  if (count) /* stale names (e.g. the head was replaced by hand): numbers are safer */
    fprintf(stderr, "cltrain predict: warning: '%s' stores %d class names for %d classes; ignoring "
            "them\n", model, count, k);
  if (!(s->names_buf = malloc((size_t)k * 24))) return fprintf(stderr, "cltrain predict: out of memory\n"), 1;
  for (int c = 0; c < k; c++) {
    s->names[c] = s->names_buf + (size_t)c * 24;
    snprintf(s->names[c], 24, "class%d", c);
  }
  return 0;
}

int cmd_predict(int argc, char **argv) {
  const char *model = NULL, *labels = NULL, *data = NULL, *grid = NULL, *device = NULL, *top = NULL;
  int bad = 0, nimg = 0;
  const char **images = calloc((size_t)argc, sizeof *images);
  if (!images) return fprintf(stderr, "cltrain predict: out of memory\n"), 1;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) return usage(stdout), free(images), 0;
    if (cli_flag(argc, argv, &i, "--model", &model, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--labels", &labels, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--data", &data, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--grid", &grid, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--device", &device, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--top", &top, &bad)) continue;
    if (bad) break;
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "cltrain predict: unknown option '%s'\n", argv[i]);
      free(images);
      return 2;
    }
    images[nimg++] = argv[i];
  }
  int rc = 0;
  if (!bad && (!model || nimg == 0)) {
    fprintf(stderr, "cltrain predict: --model M.onnx and at least one IMAGE are required\n");
    bad = 1;
  }
  if (!bad && labels && data) {
    fprintf(stderr, "cltrain predict: give --labels or --data, not both\n");
    bad = 1;
  }
  long long topk = 0;
  if (!bad && top) {
    if (!cli_int("predict", "--top", top, 1, INT_MAX, &topk)) bad = 1;
  }
  if (bad) return free(images), 2;
  if (cli_parse_only) return free(images), 0;

  predict_state s = {0};
  s.nimg = nimg;
  cltrain_status st;
  cltrain_model_info info;
  if ((st = cli_context(device, &s.cx)) != CLTRAIN_OK) rc = cli_fail(NULL, st);
  else if ((st = cltrain_model_load_onnx(s.cx, model, &s.m)) != CLTRAIN_OK) rc = cli_fail(s.cx, st);
  else if ((st = cltrain_model_get_info(s.m, &info)) != CLTRAIN_OK) rc = cli_fail(s.cx, st);
  if (rc) goto out;
  s.k = info.num_classes;
  if ((rc = class_names(&s, model, labels, data))) goto out;
  int k = s.k, show = (int)(topk ? (topk < k ? topk : k) : (k < 5 ? k : 5));
  s.logits = malloc((size_t)nimg * k * sizeof(float));
  s.probs = malloc((size_t)nimg * k * sizeof(float));
  s.captions = calloc((size_t)nimg, sizeof *s.captions);
  if (!s.logits || !s.probs || !s.captions) {
    rc = 1, fprintf(stderr, "cltrain predict: out of memory\n");
    goto out;
  }
  if ((st = cltrain_model_predict_files(s.m, images, nimg, s.logits)) != CLTRAIN_OK ||
      (st = cltrain_softmax(s.logits, nimg, k, s.probs)) != CLTRAIN_OK) {
    rc = cli_fail(s.cx, st);
    goto out;
  }
  for (int i = 0; i < nimg; i++) {
    const float *p = s.probs + (size_t)i * k;
    printf("%s\n", images[i]);
    unsigned char *used = calloc((size_t)k, 1);
    if (!used) {
      rc = 1, fprintf(stderr, "cltrain predict: out of memory\n");
      goto out;
    }
    for (int r = 0; r < show; r++) { /* selection: k is small, ties keep the lower index */
      int best = -1;
      for (int c = 0; c < k; c++)
        if (!used[c] && (best < 0 || p[c] > p[best])) best = c;
      used[best] = 1;
      printf("  %d. %-20s %.6f\n", r + 1, s.names[best], p[best]);
      if (r == 0) {
        size_t len = strlen(s.names[best]) + 32;
        if ((s.captions[i] = malloc(len))) snprintf(s.captions[i], len, "%s %.3f", s.names[best], p[best]);
      }
    }
    free(used);
    if (!s.captions[i]) {
      rc = 1, fprintf(stderr, "cltrain predict: out of memory\n");
      goto out;
    }
  }
  if (grid) {
    char err[1024];
    if (grid_write(grid, images, (const char *const *)s.captions, nimg, err, sizeof err)) {
      fprintf(stderr, "cltrain predict: %s\n", err);
      rc = 1;
      goto out;
    }
    printf("grid written to %s\n", grid);
  }
out:
  release(&s);
  free(images);
  return rc;
}
