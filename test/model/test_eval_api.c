/* test_eval_api.c: the evaluation side of the public API against PyTorch (test/ref/ref_eval.py):
 * cltrain_model_predict_files on a tiny ImageFolder, cltrain_softmax, the class names that
 * cltrain_model_export_onnx stores and cltrain_onnx_class_names reads back (also through
 * `cltrain predict`), and every error path of the three calls. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/data.h"
#include "reftensor.h"

static char ref_dir[1024];

static const char *ref_path(const char *rel, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%s", ref_dir, rel);
  return buf;
}

/* predict_files on the folder's images in ImageFolder order, against PyTorch float64. */
static void test_predict(cltrain_context *cx, cltrain_model *m) {
  char dir[1100];
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(cx, ref_path("eval_folder", dir, sizeof dir), &f))) return;
  ref_set *r = ref_load("eval_folder");
  size_t nref;
  const double *l64 = ref_f64(r, "logits64", &nref);
  const int *labels = ref_i32(r, "labels", NULL);
  int n = imagefolder_size(f);
  CHECK(n == 6 && nref == (size_t)n * 2, "eval_folder: %d images, the reference has %zu logits", n, nref);
  /* 20 paths (the folder 3 times and 2 more) run as chunks of 16 + 4: each row must still match. */
  enum { N = 20 };
  char paths[N][1200];
  const char *p[N];
  double want[N * 2];
  for (int i = 0; i < N; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/%s", dir, imagefolder_path(f, i % n));
    p[i] = paths[i];
    want[2 * i] = l64[2 * (i % n)], want[2 * i + 1] = l64[2 * (i % n) + 1];
    CHECK(imagefolder_label(f, i % n) == labels[i % n], "label of %s", p[i]);
  }
  float logits[N * 2];
  CHECK_OK(cltrain_model_predict_files(m, p, N, logits));
  /* The same decoded pixels and resize on both sides (cv2 in the reference), so what is left is
   * float32 arithmetic: a ResNet-18 forward agrees with float64 to ~2e-7 relative L2
   * (environment.md); 1e-5 leaves room for summation order. A transform slip (a one-pixel crop
   * shift, the other interpolation) moves logits by 1e-3 or more. */
  double e = rel_l2_f64(logits, want, N * 2);
  printf("predict_files: logits rel L2 %.2e vs PyTorch float64 (20 images, 2 chunks)\n", e);
  CHECK(e <= 1e-5, "predict_files logits rel L2 %.2e > 1e-5", e);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    double ei = rel_l2_f64(logits + 2 * i, l64 + 2 * i, 2);
    worst = ei > worst ? ei : worst;
  }
  CHECK(worst <= 1e-5, "worst image rel L2 %.2e > 1e-5", worst);

  /* softmax against double, in place too */
  float probs[N * 2];
  CHECK_OK(cltrain_softmax(logits, N, 2, probs));
  for (int i = 0; i < n; i++) {
    double a = l64[2 * i], b = l64[2 * i + 1], mx = a > b ? a : b;
    double pa = exp(a - mx) / (exp(a - mx) + exp(b - mx));
    CHECK(fabs(probs[2 * i] - pa) <= 1e-6 && fabs(probs[2 * i + 1] - (1 - pa)) <= 1e-6,
          "softmax row %d: %.7f %.7f vs %.7f", i, probs[2 * i], probs[2 * i + 1], pa);
  }
  float big[3] = {1000.0f, 0.0f, -1000.0f}; /* no overflow: the row maximum is subtracted */
  CHECK_OK(cltrain_softmax(big, 1, 3, big));
  CHECK(big[0] == 1.0f && big[1] == 0.0f && big[2] == 0.0f, "softmax in place of large logits: %g %g %g",
        big[0], big[1], big[2]);
  CHECK_STATUS(cltrain_softmax(NULL, 1, 2, probs), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_softmax(logits, 1, 2, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_softmax(logits, 0, 2, probs), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_softmax(logits, 1, 0, probs), CLTRAIN_ERR_ARG);

  /* error paths of predict_files: each names its culprit */
  CHECK_STATUS(cltrain_model_predict_files(NULL, p, 1, logits), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_predict_files(m, NULL, 1, logits), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_predict_files(m, p, 0, logits), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_predict_files(m, p, 1, NULL), CLTRAIN_ERR_ARG);
  const char *with_null[2] = {p[0], NULL};
  CHECK_STATUS(cltrain_model_predict_files(m, with_null, 2, logits), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "paths[1] is NULL") != NULL, "message: %s", cltrain_last_error(cx));
  char missing[1100], broken[1100];
  const char *bad1[2] = {p[0], ref_path("eval_folder/cat/nope.png", missing, sizeof missing)};
  CHECK_STATUS(cltrain_model_predict_files(m, bad1, 2, logits), CLTRAIN_ERR_IO);
  CHECK(strstr(cltrain_last_error(cx), missing) != NULL, "IO message names the file: %s", cltrain_last_error(cx));
  const char *bad2[1] = {ref_path("eval_bad_folder/dog/broken.jpg", broken, sizeof broken)};
  CHECK_STATUS(cltrain_model_predict_files(m, bad2, 1, logits), CLTRAIN_ERR_FORMAT);
  CHECK(strstr(cltrain_last_error(cx), broken) != NULL, "FORMAT message names the file: %s", cltrain_last_error(cx));
  /* the model still works after failures */
  CHECK_OK(cltrain_model_predict_files(m, p, 1, logits));
  CHECK(rel_l2_f64(logits, l64, 2) <= 1e-5, "after errors: rel L2 %.2e", rel_l2_f64(logits, l64, 2));
  ref_free(r);
  imagefolder_close(f);
}

static void test_class_names(cltrain_model *m) {
  char src[1100], path[1100];
  size_t size = 99;
  int count = -1;
  char buf[64];
  /* PyTorch's export: no cltrain metadata, not an error */
  CHECK_OK(cltrain_onnx_class_names(ref_path("whole_r18_bn.onnx", src, sizeof src), buf, sizeof buf, &size, &count));
  CHECK(size == 0 && count == 0, "no names: size %zu count %d", size, count);

  char tmpl[] = "/tmp/cltrain_eval_XXXXXX";
  if (!CHECK(mkdtemp(tmpl) != NULL, "mkdtemp")) return;
  snprintf(path, sizeof path, "%s/named.onnx", tmpl);
  const char *names[2] = {"ants", "honey bees"};
  if (!CHECK_OK(cltrain_model_export_onnx(m, path, names, 2))) return;
  CHECK_OK(cltrain_onnx_class_names(path, NULL, 0, &size, &count));
  CHECK(size == 16 && count == 2, "query: size %zu (want 16) count %d (want 2)", size, count);
  memset(buf, 'x', sizeof buf);
  CHECK_OK(cltrain_onnx_class_names(path, buf, sizeof buf, &size, &count));
  CHECK(!memcmp(buf, "ants\0honey bees\0", 16) && buf[16] == 'x', "names: '%s' '%s'", buf, buf + 5);
  memset(buf, 'x', sizeof buf);
  CHECK_STATUS(cltrain_onnx_class_names(path, buf, 15, &size, &count), CLTRAIN_ERR_ARG);
  CHECK(buf[0] == 'x' && size == 16, "too small: buffer untouched, size %zu reported", size);
  CHECK(strstr(cltrain_last_error(NULL), "15") != NULL, "message gives the size: %s", cltrain_last_error(NULL));
  CHECK_OK(cltrain_onnx_class_names(path, buf, 16, NULL, NULL)); /* exactly enough; outputs optional */

  /* the names reach `cltrain predict` without --labels */
  const char *bin = getenv("CLTRAIN_BIN");
  if (CHECK(bin != NULL, "CLTRAIN_BIN is set")) {
    char cmd[4096], img[1100], line[512];
    snprintf(cmd, sizeof cmd, "'%s' predict --model '%s' --top 2 '%s' 2>&1", bin, path,
             ref_path("eval_folder/cat/a.png", img, sizeof img));
    FILE *o = popen(cmd, "r");
    int ants = 0, bees = 0;
    while (o && fgets(line, sizeof line, o)) {
      ants += strstr(line, "1. ants") != NULL || strstr(line, "2. ants") != NULL;
      bees += strstr(line, "1. honey bees") != NULL || strstr(line, "2. honey bees") != NULL;
    }
    int rc = o ? pclose(o) : -1;
    CHECK(rc == 0 && ants == 1 && bees == 1, "cltrain predict shows the stored names: rc %d, ants %d, bees %d",
          rc, ants, bees);
  }
  unlink(path);
  rmdir(tmpl);

  /* error paths */
  CHECK_STATUS(cltrain_onnx_class_names(NULL, buf, sizeof buf, &size, &count), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_onnx_class_names(src, NULL, 8, &size, &count), CLTRAIN_ERR_ARG);
  char missing[1100], bad[1100];
  CHECK_STATUS(cltrain_onnx_class_names(ref_path("nope.onnx", missing, sizeof missing), buf, sizeof buf, &size,
                                        &count), CLTRAIN_ERR_IO);
  CHECK(strstr(cltrain_last_error(NULL), missing) != NULL, "IO names the file: %s", cltrain_last_error(NULL));
  CHECK_STATUS(cltrain_onnx_class_names(ref_path("bad_truncated.onnx", bad, sizeof bad), buf, sizeof buf, &size,
                                        &count), CLTRAIN_ERR_FORMAT);
  CHECK(strstr(cltrain_last_error(NULL), bad) != NULL, "FORMAT names the file: %s", cltrain_last_error(NULL));
  char img[1100];
  CHECK_STATUS(cltrain_onnx_class_names(ref_path("eval_folder/cat/a.png", img, sizeof img), buf, sizeof buf,
                                        &size, &count), CLTRAIN_ERR_FORMAT);
}

int main(void) {
  const char *d = getenv("CLTRAIN_REF_DIR");
  if (!d) {
    fprintf(stderr, "CLTRAIN_REF_DIR is not set\n");
    return 1;
  }
  snprintf(ref_dir, sizeof ref_dir, "%s", d);
  cltrain_context *cx = test_context();
  char path[1100];
  cltrain_model *m = NULL;
  if (CHECK_OK(cltrain_model_load_onnx(cx, ref_path("whole_r18_bn.onnx", path, sizeof path), &m))) {
    test_predict(cx, m);
    test_class_names(m);
  }
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return check_done();
}
