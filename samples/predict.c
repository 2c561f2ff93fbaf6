/* predict.c: classify images with a trained model, through cltrain's public C API only.
 *   predict [--device SEL] [--labels a,b,...] MODEL.onnx IMAGE...
 * prints "IMAGE: CLASS (PROBABILITY)" per image: the top-1 class after the tutorial's eval
 * transform (Resize(256), CenterCrop(224)). Class names come from --labels, else from the model
 * (cltrain export stores them), else they are numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opencv2/cltrain.h>

static void usage(FILE *f, const char *prog) {
  fprintf(f, "usage: %s [--device SEL] [--labels a,b,...] MODEL.onnx IMAGE...\n\n"
             "Prints each image's most likely class and its softmax probability.\n"
             "  --device SEL   OpenCL device: \"P:D\", gpu, cpu or a name substring\n"
             "  --labels LIST  class names, comma-separated (default: those stored in the model)\n",
          prog);
}

/* The name of class c from a comma-separated list, copied into out. 0 if the list is short. */
static int nth_label(const char *list, int c, char *out, size_t cap) {
  for (; c > 0 && list; c--) {
    list = strchr(list, ',');
    if (list) list++;
  }
  if (!list) return 0;
  size_t n = strcspn(list, ",");
  snprintf(out, cap, "%.*s", (int)n, list);
  return 1;
}

int main(int argc, char **argv) {
  const char *device = NULL, *labels = NULL, *model_path = NULL;
  int first_image = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, argv[0]), 0;
    if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
    else if (!strcmp(argv[i], "--labels") && i + 1 < argc) labels = argv[++i];
    else if (argv[i][0] == '-') return usage(stderr, argv[0]), 2;
    else {
      model_path = argv[i];
      first_image = i + 1;
      break;
    }
  }
  if (!model_path || first_image >= argc) return usage(stderr, argv[0]), 2;
  int n = argc - first_image;
  const char *const *images = (const char *const *)argv + first_image;

  cltrain_context *cx = NULL;
  cltrain_model *m = NULL;
  cltrain_model_info info;
  float *logits = NULL;
  char *names = NULL;
  int rc = 1, count = 0;
  cltrain_status st = cltrain_context_create(device, &cx);
  if (st == CLTRAIN_OK) st = cltrain_model_load_onnx(cx, model_path, &m);
  if (st == CLTRAIN_OK) st = cltrain_model_get_info(m, &info);
  if (st != CLTRAIN_OK) goto fail;
  int k = info.num_classes;
  size_t size = 0;
  if (!labels) { /* names stored by cltrain_model_export_onnx, if any */
    st = cltrain_onnx_class_names(model_path, NULL, 0, &size, &count);
    if (st == CLTRAIN_OK && count == k && (names = malloc(size)))
      st = cltrain_onnx_class_names(model_path, names, size, NULL, NULL);
    if (st != CLTRAIN_OK) goto fail;
  }
  if (!(logits = malloc((size_t)n * k * sizeof(float)))) {
    fprintf(stderr, "out of memory\n");
    goto out;
  }
  st = cltrain_model_predict_files(m, images, n, logits);
  if (st == CLTRAIN_OK) st = cltrain_softmax(logits, n, k, logits);
  if (st != CLTRAIN_OK) goto fail;
  for (int i = 0; i < n; i++) {
    const float *p = logits + (size_t)i * k;
    int best = 0;
    for (int c = 1; c < k; c++)
      if (p[c] > p[best]) best = c;
    char name[256];
    if (labels && nth_label(labels, best, name, sizeof name)) {
    } else if (names) {
      const char *s = names;
      for (int c = 0; c < best; c++) s += strlen(s) + 1;
      snprintf(name, sizeof name, "%s", s);
    } else {
      snprintf(name, sizeof name, "class%d", best);
    }
    printf("%s: %s (%.4f)\n", images[i], name, p[best]);
  }
  rc = 0;
  goto out;
fail:
  /* NULL: the latest failure of this thread, whichever call (with or without a context) */
  fprintf(stderr, "%s: %s\n  %s\n", argv[0], cltrain_status_str(st), cltrain_last_error(NULL));
out:
  free(logits);
  free(names);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return rc;
}
