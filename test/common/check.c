/* check.c: see check.h. */
#include "check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int passed, failed;

int check_true(int ok, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (!ok || getenv("CLTRAIN_TEST_VERBOSE")) {
    fprintf(ok ? stdout : stderr, "%s %s:%d: ", ok ? "ok  " : "FAIL", file, line);
    vfprintf(ok ? stdout : stderr, fmt, ap);
    fputc('\n', ok ? stdout : stderr);
  }
  va_end(ap);
  if (ok) passed++;
  else failed++;
  return ok;
}

double rel_l2(const float *got, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  if (num != num) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

double rel_l2_f64(const float *got, const double *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = got[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (num != num) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

double max_abs_diff(const float *got, const float *ref, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - ref[i]);
    if (d > m || d != d) m = d;
  }
  return m;
}

int check_rel(const char *file, int line, const char *what, const float *got, const float *ref,
              size_t n, double tol) {
  double e = rel_l2(got, ref, n);
  printf("  %-44s rel L2 %.2e  (tol %.0e, max abs %.2e)\n", what, e, tol, max_abs_diff(got, ref, n));
  return check_true(e <= tol, file, line, "%s: relative L2 error %.3e exceeds %.1e", what, e, tol);
}

int check_rel_f64(const char *file, int line, const char *case_name, const char *what, const float *got,
                  const double *ref, size_t n, double tol) {
  double e = rel_l2_f64(got, ref, n);
  printf("  %-24s %-10s rel L2 %.2e\n", case_name, what, e);
  return check_true(e <= tol, file, line, "%s %s: rel L2 %.2e (tolerance %.0e)", case_name, what, e, tol);
}

int check_status(const char *file, int line, const char *what, cltrain_status got, cltrain_status want) {
  return check_true(got == want, file, line, "%s returned %s, wanted %s; last error: %s", what,
                    cltrain_status_str(got), cltrain_status_str(want), cltrain_last_error(NULL));
}

void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    x[i] = lo + (hi - lo) * (float)((z >> 40) * (1.0 / 16777216.0));
  }
}

cltrain_context *test_context(void) {
  cltrain_context *cx = NULL;
  cltrain_status st = cltrain_context_create(NULL, &cx);
  if (st != CLTRAIN_OK) {
    fprintf(stderr, "FAIL: cannot open an OpenCL device: %s\n%s\n", cltrain_status_str(st),
            cltrain_last_error(NULL));
    exit(1);
  }
  return cx;
}

char *test_path(const char *dir, const char *name) {
  static char bufs[16][512];
  static int k = 0;
  char *p = bufs[k++ % 16];
  snprintf(p, sizeof bufs[0], "%s/%s", dir, name);
  return p;
}

void test_train_folder(const char *name, char *tmpdir, size_t cap, char *model, size_t model_cap) {
  const char *ref = getenv("CLTRAIN_REF_DIR");
  if (!ref) {
    fprintf(stderr, "CLTRAIN_REF_DIR is not set\n");
    exit(1);
  }
  snprintf(model, model_cap, "%s/whole_r18_bn.onnx", ref);
  snprintf(tmpdir, cap, "/tmp/%s.XXXXXX", name);
  char good[1024], train[1024], val[1024];
  snprintf(good, sizeof good, "%s/imagefolder/good", ref);
  if (!mkdtemp(tmpdir)) exit(1);
  snprintf(train, sizeof train, "%s/train", tmpdir);
  snprintf(val, sizeof val, "%s/val", tmpdir);
  if (symlink(good, train) || symlink(good, val)) {
    fprintf(stderr, "FAIL: cannot link %s into %s\n", good, tmpdir);
    exit(1);
  }
}

buf test_upload(cltrain_context *cx, const float *host, size_t n) {
  buf b = {NULL, 0};
  if (rt_alloc(cx, n * sizeof(float), &b.mem) != CLTRAIN_OK ||
      (host && rt_write(cx, b, host, n * sizeof(float)) != CLTRAIN_OK)) {
    fprintf(stderr, "FAIL: upload of %zu floats: %s\n", n, cltrain_last_error(cx));
    exit(1);
  }
  return b;
}

float *test_download(cltrain_context *cx, buf b, size_t n) {
  float *h = malloc(n * sizeof(float) + 1);
  if (!h || rt_read(cx, h, b, n * sizeof(float)) != CLTRAIN_OK) {
    fprintf(stderr, "FAIL: download of %zu floats: %s\n", n, cltrain_last_error(cx));
    exit(1);
  }
  return h;
}

int check_done(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
