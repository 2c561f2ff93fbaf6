/* test_depthwise.c: depthwise convolution forward and backward on the device and in the C
 * reference against PyTorch float64 (MobileNetV3-small's depthwise shapes at batch 2, a large
 * plane, odd geometry), skipped and accumulated gradients, bitwise determinism, shape errors.
 * DEPTHWISE_BENCH=<batch> instead prints GB/s of EfficientNet-B0's depthwise shapes at 224x224
 * beside a device copy of the same bytes (the memory bound), no checks (see bench()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ops/depthwise.h"
#include "reftensor.h"

/* conv2d's tolerances (test_conv2d.c), which these sums meet with more room: a forward output
 * sums R*S <= 25 products (float32 rounding ~1e-7 relative); dx gathers at most R*S terms; dw
 * sums N*OH*OW <= 6272 products Kahan-compensated per work-item, then a tree of <= 256. */
static const double TOL_FWD = 2e-6, TOL_GRAD = 1e-5;
/* The C reference sums in double and rounds once: float32 rounding of the result, ~6e-8. */
static const double TOL_REF = 1e-6;

static conv2d_shape shape_of(const ref_set *r) {
  const int *v = ref_i32(r, "shape", NULL);
  conv2d_shape s = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], 0, 0};
  return s;
}

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  conv2d_shape s = shape_of(r);
  size_t nx, nw, ny, nb;
  const float *x = ref_f32(r, "x", &nx), *w = ref_f32(r, "w", &nw), *dy = ref_f32(r, "dy", &ny);
  const float *b = ref_has(r, "b") ? ref_f32(r, "b", NULL) : NULL;
  const float *dw0 = ref_f32(r, "dw0", NULL), *db0 = ref_f32(r, "db0", &nb);
  int acc = ref_has(r, "dx0");
  const double *y64 = ref_f64(r, "y", NULL), *dx64 = ref_f64(r, "dx", NULL), *dw64 = ref_f64(r, "dw", NULL),
               *db64 = ref_f64(r, "db", NULL);
  buf bx = test_upload(cx, x, nx), bw = test_upload(cx, w, nw), bdy = test_upload(cx, dy, ny);
  buf bb = b ? test_upload(cx, b, nb) : buf_none(), by = test_upload(cx, NULL, ny);
  CHECK_OK(depthwise_forward(cx, by, bx, bw, bb, &s));
  float *got = test_download(cx, by, ny);
  CHECK_REL64(name, "y", got, y64, ny, TOL_FWD);
  CHECK_OK(depthwise_forward(cx, by, bx, bw, bb, &s)); /* deterministic: bitwise the same again */
  float *again = test_download(cx, by, ny);
  CHECK(!memcmp(got, again, ny * 4), "%s: forward bitwise repeatable", name);
  free(got), free(again);

  float *junk = malloc(nx * 4);
  fill_uniform(junk, nx, 99, -100, 100); /* what an overwrite must replace */
  buf bdx = test_upload(cx, acc ? ref_f32(r, "dx0", NULL) : junk, nx);
  buf bdw = test_upload(cx, dw0, nw), bdb = test_upload(cx, db0, nb);
  CHECK_OK(depthwise_backward(cx, bdx, bdw, bdb, bdy, bx, bw, acc ? OP_ACCUMULATE : OP_OVERWRITE, &s));
  float *gdx = test_download(cx, bdx, nx), *gdw = test_download(cx, bdw, nw), *gdb = test_download(cx, bdb, nb);
  CHECK_REL64(name, "dx", gdx, dx64, nx, TOL_GRAD);
  CHECK_REL64(name, "dw", gdw, dw64, nw, TOL_GRAD);
  CHECK_REL64(name, "db", gdb, db64, nb, TOL_GRAD);
  /* Skipped gradients: dw alone leaves dx and db untouched. */
  rt_write(cx, bdx, junk, nx * 4), rt_write(cx, bdw, dw0, nw * 4);
  CHECK_OK(depthwise_backward(cx, buf_none(), bdw, buf_none(), bdy, bx, bw, OP_OVERWRITE, &s));
  float *dw_only = test_download(cx, bdw, nw), *dx_kept = test_download(cx, bdx, nx);
  CHECK(!memcmp(dw_only, gdw, nw * 4), "%s: dw alone is bitwise the dw of the full backward", name);
  CHECK(!memcmp(dx_kept, junk, nx * 4), "%s: a NULL dx leaves the buffer alone", name);
  free(dw_only), free(dx_kept);

  /* The C reference. */
  float *h = malloc(ny * 4), *hx = malloc(nx * 4), *hw = malloc(nw * 4), *hb = malloc(nb * 4);
  depthwise_forward_ref(h, x, w, b, &s);
  CHECK_REL64(name, "ref y", h, y64, ny, TOL_REF);
  memcpy(hx, acc ? ref_f32(r, "dx0", NULL) : junk, nx * 4), memcpy(hw, dw0, nw * 4), memcpy(hb, db0, nb * 4);
  depthwise_backward_ref(hx, hw, hb, dy, x, w, acc ? OP_ACCUMULATE : OP_OVERWRITE, &s);
  CHECK_REL64(name, "ref dx", hx, dx64, nx, TOL_REF);
  CHECK_REL64(name, "ref dw", hw, dw64, nw, TOL_REF);
  CHECK_REL64(name, "ref db", hb, db64, nb, TOL_REF);
  free(h), free(hx), free(hw), free(hb), free(junk), free(gdx), free(gdw), free(gdb);
  rt_free(bx.mem), rt_free(bw.mem), rt_free(bdy.mem), rt_free(by.mem), rt_free(bdx.mem), rt_free(bdw.mem),
      rt_free(bdb.mem);
  if (b) rt_free(bb.mem);
  ref_free(r);
}

static double now(cltrain_context *cx) {
  struct timespec t;
  cltrain_context_finish(cx);
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GB/s of each pass, counting each tensor it must read or write once (forward: x, w, y; dx: dy,
 * w, dx; dw: dy, x, dw), and of rt_copy moving as many bytes (read + write): the memory bound
 * measured in the same run. Best of 3. */
static void bench(cltrain_context *cx, int batch) {
  static const int shapes[][4] = {/* c h r stride: EfficientNet-B0 at 224x224 */
                                  {32, 112, 3, 1}, {96, 112, 3, 2}, {144, 56, 5, 2},
                                  {240, 28, 3, 2}, {480, 14, 5, 1}, {1152, 7, 3, 1}};
  printf("batch %d: GB/s (ms), best of 3; copy = rt_copy of the forward's bytes\n%-22s %14s %14s %14s %14s\n", batch,
         "shape", "forward", "backward-data", "backward-w", "copy");
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    const int *v = shapes[i];
    conv2d_shape s = {batch, v[0], v[1], v[1], v[0], v[2], v[2], v[3], v[3], v[2] / 2, v[2] / 2, 1, 1, 0, 0};
    size_t nx = (size_t)batch * s.c * s.h * s.w, nw = (size_t)s.c * s.r * s.s;
    size_t ny = (size_t)batch * s.c * conv2d_out_h(&s) * conv2d_out_w(&s);
    buf x = test_upload(cx, NULL, nx), w = test_upload(cx, NULL, nw), y = test_upload(cx, NULL, ny);
    buf dx = test_upload(cx, NULL, nx), dw = test_upload(cx, NULL, nw), dy = test_upload(cx, NULL, ny);
    buf cp = test_upload(cx, NULL, (nx + ny) / 2 + 1);
    double best[4] = {1e9, 1e9, 1e9, 1e9}, bytes[4] = {4.0 * (nx + ny + nw), 4.0 * (nx + ny + nw),
                                                         4.0 * (nx + ny + nw), 4.0 * (nx + ny)};
    for (int rep = 0; rep < 3; rep++) {
      double t0 = now(cx);
      CHECK_OK(depthwise_forward(cx, y, x, w, buf_none(), &s));
      double t1 = now(cx);
      CHECK_OK(depthwise_backward(cx, dx, buf_none(), buf_none(), dy, x, w, OP_OVERWRITE, &s));
      double t2 = now(cx);
      CHECK_OK(depthwise_backward(cx, buf_none(), dw, buf_none(), dy, x, w, OP_OVERWRITE, &s));
      double t3 = now(cx);
      CHECK_OK(rt_copy(cx, cp, x, (nx + ny) / 2));
      double t4 = now(cx), t[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
      for (int k = 0; k < 4; k++)
        if (t[k] < best[k]) best[k] = t[k];
    }
    char label[64];
    snprintf(label, sizeof label, "%dx%dx%d %dx%d s%d", s.c, s.h, s.w, s.r, s.s, s.stride_h);
    printf("%-22s", label);
    for (int k = 0; k < 4; k++) printf(" %6.1f (%5.2f)", bytes[k] / best[k] * 1e-9, best[k] * 1e3);
    printf("\n");
    rt_free(x.mem), rt_free(w.mem), rt_free(y.mem), rt_free(dx.mem), rt_free(dw.mem), rt_free(dy.mem),
        rt_free(cp.mem);
  }
}

int main(void) {
  cltrain_context *cx = test_context();
  if (getenv("DEPTHWISE_BENCH")) {
    bench(cx, atoi(getenv("DEPTHWISE_BENCH")) > 0 ? atoi(getenv("DEPTHWISE_BENCH")) : 8);
    cltrain_context_destroy(cx);
    return check_done();
  }
  const char *cases[] = {"dw_mnv3_s2_3x3", "dw_mnv3_3x3", "dw_mnv3_s2_5x5", "dw_mnv3_5x5", "dw_large", "dw_odd"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one(cx, cases[i]);

  buf t = test_upload(cx, NULL, 64);
  conv2d_shape s = {1, 4, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0};
  CHECK_STATUS(depthwise_forward(cx, buf_none(), t, t, buf_none(), &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "y is NULL") != NULL, "message names y: %s", cltrain_last_error(cx));
  s.k = 8;
  CHECK_STATUS(depthwise_forward(cx, t, t, t, buf_none(), &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "k == c") != NULL, "message says k == c: %s", cltrain_last_error(cx));
  s.k = 4, s.stride_h = 0;
  CHECK_STATUS(depthwise_forward(cx, t, t, t, buf_none(), &s), CLTRAIN_ERR_ARG);
  s.stride_h = 1;
  CHECK_STATUS(depthwise_backward(cx, t, buf_none(), buf_none(), buf_none(), t, t, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy is NULL") != NULL, "message names dy: %s", cltrain_last_error(cx));
  CHECK_STATUS(depthwise_backward(cx, t, buf_none(), buf_none(), t, t, t, 2, &s), CLTRAIN_ERR_ARG);
  CHECK_OK(depthwise_backward(cx, buf_none(), buf_none(), buf_none(), buf_none(), t, t, OP_OVERWRITE, &s));
  rt_free(t.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
