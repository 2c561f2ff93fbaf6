/* test_linear.c: the fully connected layer against PyTorch's float64 linear and autograd, at the
 * ResNet-18 head shapes and small odd ones: forward, all three gradients (accumulating and
 * overwriting), skipped gradients, determinism, the C reference, and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/linear.h"
#include "reftensor.h"

/* Tolerances. A float32 sum of products errs by about u*sum|terms| (u = 6e-8), however much
 * the terms cancel, so results are compared as ||got - ref||_2 / ||scale||_2 where the reference
 * generator's <name>_scale holds the same sums over absolute values (an absolute-plus-relative
 * bound). Rounding in sums of up to 1000 terms gives about 1e-7 there; 1e-6 allows any
 * summation order, while a wrong layout, offset or missing bias gives errors near 1.
 * The plain relative L2 is printed beside it for the record. */
#define TOL_SCALED 1e-6
/* The C reference rounds a double sum to float32 once: within 2^-24 = 6e-8 of each value. */
#define TOL_REF 1e-7

static void check_scaled(const char *what, const float *got, const ref_set *r, const char *name,
                         size_t n) {
  char scale_name[64];
  snprintf(scale_name, sizeof scale_name, "%s_scale", name);
  const double *ref = ref_f64(r, name, NULL), *scale = ref_f64(r, scale_name, NULL);
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = got[i] - ref[i];
    num += d * d, den += scale[i] * scale[i];
  }
  double e = den > 0 ? sqrt(num / den) : sqrt(num);
  printf("  %-40s rel L2 %.2e  err/scale %.2e (tol %.0e)\n", what, rel_l2_f64(got, ref, n), e, TOL_SCALED);
  CHECK(e <= TOL_SCALED, "%s: error %.3e of the magnitude scale exceeds %.0e", what, e, TOL_SCALED);
}

static void check_ref(const char *what, const float *got, const ref_set *r, const char *name, size_t n) {
  double e = rel_l2_f64(got, ref_f64(r, name, NULL), n);
  CHECK(e <= TOL_REF, "%s: C reference rel L2 %.3e exceeds %.0e", what, e, TOL_REF);
}

static int bitwise_equal(const float *a, const float *b, size_t n) {
  return memcmp(a, b, n * sizeof(float)) == 0;
}

static void one_case(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  const ref_tensor *tx = ref_get(r, "x"), *tw = ref_get(r, "w");
  linear_shape s = {(int)tx->dims[0], (int)tx->dims[1], (int)tw->dims[0]};
  size_t nx = (size_t)s.n * s.in, nw = (size_t)s.out * s.in, ny = (size_t)s.n * s.out;
  int has_b = ref_has(r, "b");
  const float *x = ref_f32(r, "x", NULL), *w = ref_f32(r, "w", NULL), *dy = ref_f32(r, "dy", NULL);
  const float *dx0 = ref_f32(r, "dx0", NULL), *dw0 = ref_f32(r, "dw0", NULL), *db0 = ref_f32(r, "db0", NULL);
  const float *b = has_b ? ref_f32(r, "b", NULL) : NULL;
  printf("%s: n=%d in=%d out=%d bias=%d\n", name, s.n, s.in, s.out, has_b);
  char what[160];

  /* Offsets into larger buffers, so a kernel that ignores them fails. */
  buf dx_ = test_upload(cx, NULL, nx + 5), dw_ = test_upload(cx, NULL, nw + 7),
      db_ = test_upload(cx, NULL, s.out + 3), y_ = test_upload(cx, NULL, ny + 1);
  buf X = test_upload(cx, x, nx), W = test_upload(cx, w, nw), DY = test_upload(cx, dy, ny);
  buf B = has_b ? test_upload(cx, b, s.out) : buf_none();
  buf Y = buf_at(y_, 1), DX = buf_at(dx_, 5), DW = buf_at(dw_, 7), DB = buf_at(db_, 3);

  /* Forward; y starts as NaN so that a read of the output shows. */
  float *nan_y = malloc(ny * sizeof(float)), *nan_x = malloc(nx * sizeof(float));
  for (size_t i = 0; i < ny; i++) nan_y[i] = NAN;
  for (size_t i = 0; i < nx; i++) nan_x[i] = NAN;
  rt_write(cx, Y, nan_y, ny * 4);
  CHECK_OK(linear_forward(cx, Y, X, W, B, &s));
  float *got = test_download(cx, Y, ny);
  snprintf(what, sizeof what, "%s forward y", name);
  check_scaled(what, got, r, "y", ny);
  free(got);

  /* Backward, dx overwritten (from NaN), dw and db accumulated onto dw0 and db0. */
  rt_write(cx, DX, nan_x, nx * 4), rt_write(cx, DW, dw0, nw * 4), rt_write(cx, DB, db0, s.out * 4);
  CHECK_OK(linear_backward(cx, DX, DW, has_b ? DB : buf_none(), DY, X, W, OP_OVERWRITE, &s));
  float *gdx = test_download(cx, DX, nx), *gdw = test_download(cx, DW, nw), *gdb = test_download(cx, DB, s.out);
  snprintf(what, sizeof what, "%s backward dx (overwrite)", name);
  check_scaled(what, gdx, r, "dx", nx);
  snprintf(what, sizeof what, "%s backward dw (+= dw0)", name);
  check_scaled(what, gdw, r, "dw", nw);
  if (has_b) {
    snprintf(what, sizeof what, "%s backward db (+= db0)", name);
    check_scaled(what, gdb, r, "db", s.out);
  } else {
    CHECK(bitwise_equal(gdb, db0, s.out), "%s: no db asked for, db untouched", name);
  }

  /* The same again from the same start is bitwise equal (fixed-order sums). */
  rt_write(cx, DX, nan_x, nx * 4), rt_write(cx, DW, dw0, nw * 4), rt_write(cx, DB, db0, s.out * 4);
  CHECK_OK(linear_backward(cx, DX, DW, has_b ? DB : buf_none(), DY, X, W, OP_OVERWRITE, &s));
  float *gdx2 = test_download(cx, DX, nx), *gdw2 = test_download(cx, DW, nw), *gdb2 = test_download(cx, DB, s.out);
  CHECK(bitwise_equal(gdx, gdx2, nx) && bitwise_equal(gdw, gdw2, nw) && bitwise_equal(gdb, gdb2, s.out),
        "%s: two backward runs are bitwise equal", name);
  free(gdx2), free(gdw2), free(gdb2);

  /* dx accumulated onto dx0 (residual fan-out); dw and db skipped must stay untouched. */
  rt_write(cx, DX, dx0, nx * 4), rt_write(cx, DW, dw0, nw * 4), rt_write(cx, DB, db0, s.out * 4);
  CHECK_OK(linear_backward(cx, DX, buf_none(), buf_none(), DY, buf_none(), W, OP_ACCUMULATE, &s));
  float *adx = test_download(cx, DX, nx), *sdw = test_download(cx, DW, nw), *sdb = test_download(cx, DB, s.out);
  snprintf(what, sizeof what, "%s backward dx (+= dx0)", name);
  check_scaled(what, adx, r, "dx_acc", nx);
  CHECK(bitwise_equal(sdw, dw0, nw) && bitwise_equal(sdb, db0, s.out),
        "%s: skipped dw and db are untouched", name);
  free(adx), free(sdw), free(sdb);

  /* Only the parameter gradients (a first layer: no dx, no w needed); dx stays untouched. */
  rt_write(cx, DX, dx0, nx * 4), rt_write(cx, DW, dw0, nw * 4), rt_write(cx, DB, db0, s.out * 4);
  CHECK_OK(linear_backward(cx, buf_none(), DW, has_b ? DB : buf_none(), DY, X, buf_none(), OP_OVERWRITE, &s));
  float *odx = test_download(cx, DX, nx), *odw = test_download(cx, DW, nw), *odb = test_download(cx, DB, s.out);
  CHECK(bitwise_equal(odx, dx0, nx), "%s: skipped dx is untouched", name);
  CHECK(bitwise_equal(odw, gdw, nw) && (!has_b || bitwise_equal(odb, gdb, s.out)),
        "%s: dw and db alone equal dw and db computed with dx", name);
  free(odx), free(odw), free(odb);

  /* The C reference against PyTorch. */
  float *hy = malloc(ny * 4), *hdx = malloc(nx * 4), *hdw = malloc(nw * 4), *hdb = malloc(s.out * 4);
  memcpy(hdw, dw0, nw * 4), memcpy(hdb, db0, s.out * 4);
  CHECK_OK(linear_forward_ref(hy, x, w, b, &s));
  CHECK_OK(linear_backward_ref(hdx, hdw, has_b ? hdb : NULL, dy, x, w, OP_OVERWRITE, &s));
  snprintf(what, sizeof what, "%s C reference y", name);
  check_ref(what, hy, r, "y", ny);
  snprintf(what, sizeof what, "%s C reference dx", name);
  check_ref(what, hdx, r, "dx", nx);
  snprintf(what, sizeof what, "%s C reference dw", name);
  check_ref(what, hdw, r, "dw", nw);
  if (has_b) {
    snprintf(what, sizeof what, "%s C reference db", name);
    check_ref(what, hdb, r, "db", s.out);
  }
  memcpy(hdx, dx0, nx * 4);
  CHECK_OK(linear_backward_ref(hdx, NULL, NULL, dy, NULL, w, OP_ACCUMULATE, &s));
  snprintf(what, sizeof what, "%s C reference dx (+= dx0)", name);
  check_ref(what, hdx, r, "dx_acc", nx);
  free(hy), free(hdx), free(hdw), free(hdb);

  free(gdx), free(gdw), free(gdb), free(nan_x), free(nan_y);
  rt_free(dx_.mem), rt_free(dw_.mem), rt_free(db_.mem), rt_free(y_.mem);
  rt_free(X.mem), rt_free(W.mem), rt_free(DY.mem), rt_free(B.mem);
  ref_free(r);
}

static void errors(cltrain_context *cx) {
  linear_shape s = {2, 3, 4}, zero = {2, 0, 4}, huge = {65536, 65536, 4};
  buf a = test_upload(cx, NULL, 64), none = buf_none();
  CHECK_STATUS(linear_forward(cx, a, a, a, none, NULL), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "shape") != NULL, "NULL shape named: %s", cltrain_last_error(cx));
  CHECK_STATUS(linear_forward(cx, a, a, a, none, &zero), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "in=0") != NULL, "zero size named: %s", cltrain_last_error(cx));
  CHECK_STATUS(linear_forward(cx, a, a, a, none, &huge), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "int") != NULL, "int overflow named: %s", cltrain_last_error(cx));
  CHECK_STATUS(linear_forward(cx, none, a, a, none, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(linear_backward(cx, a, a, a, none, a, a, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy") != NULL, "missing dy named: %s", cltrain_last_error(cx));
  CHECK_STATUS(linear_backward(cx, a, none, none, a, a, none, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "w must") != NULL, "missing w named: %s", cltrain_last_error(cx));
  CHECK_STATUS(linear_backward(cx, none, a, none, a, none, a, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "x must") != NULL, "missing x named: %s", cltrain_last_error(cx));
  CHECK_STATUS(linear_backward(cx, a, a, a, a, a, a, 7, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "accumulate_dx") != NULL, "bad flag named: %s", cltrain_last_error(cx));
  /* Nothing asked for is fine and does nothing. */
  CHECK_OK(linear_backward(cx, none, none, none, a, none, none, OP_OVERWRITE, &s));
  /* A buffer too small for the shape: CLBlast's own check, reported with its code, or the
   * native GEMM's check before it enqueues (runtime/gemm_native.c), naming the operand. */
  linear_shape big = {8, 8, 8};
  buf tiny = test_upload(cx, NULL, 4);
  CHECK_STATUS(linear_forward(cx, a, tiny, a, none, &big),
               cx->gemm_native ? CLTRAIN_ERR_ARG : CLTRAIN_ERR_CLBLAST);
  float h[4] = {0};
  CHECK_STATUS(linear_forward_ref(NULL, h, h, NULL, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(linear_backward_ref(h, NULL, NULL, h, NULL, NULL, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  rt_free(a.mem), rt_free(tiny.mem);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"linear_head2",   "linear_head1000",     "linear_hidden1", "linear_hidden2",
                         "linear_batch16", "linear_batch16_1000", "linear_odd",     "linear_nobias"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one_case(cx, cases[i]);
  errors(cx);
  cltrain_context_destroy(cx);
  return check_done();
}
