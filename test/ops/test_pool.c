/* test_pool.c: max, average and global average pooling against PyTorch (test/ref/ref_pool.py):
 * device kernels and C references, forward and backward, overwrite and accumulate, at ResNet-18's
 * shapes and odd ones, ties on purpose; and the shape errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/pool.h"
#include "reftensor.h"

/* Device buffers sit at these offsets inside larger allocations, to exercise (mem, off). */
enum { OFF_X = 5, OFF_Y = 3, OFF_I = 7 };

static buf upload_at(cltrain_context *cx, const void *host, size_t n, size_t off) {
  buf b = buf_at(test_upload(cx, NULL, n + off), off);
  if (host) rt_write(cx, b, host, n * 4);
  return b;
}

static void release(buf b) { rt_free(b.mem); }

static pool2d_shape shape_of(const ref_set *r) {
  const ref_tensor *x = ref_get(r, "x");
  pool2d_shape s = {(int)x->dims[0], (int)x->dims[1], (int)x->dims[2], (int)x->dims[3], 1, 1, 1, 1, 0, 0, 1, 1};
  if (ref_has(r, "geom")) {
    const int *g = ref_i32(r, "geom", NULL);
    s.kh = g[0], s.kw = g[1], s.sh = g[2], s.sw = g[3], s.ph = g[4], s.pw = g[5];
    s.oh = (s.h + 2 * s.ph - s.kh) / s.sh + 1;
    s.ow = (s.w + 2 * s.pw - s.kw) / s.sw + 1;
  }
  return s;
}

/* base + ref in double: what an accumulating backward should produce. */
static double *plus(const float *base, const double *ref, size_t n) {
  double *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = (double)base[i] + ref[i];
  return d;
}

static void max_case(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  pool2d_shape s = shape_of(r);
  size_t nx, ny;
  const float *x = ref_f32(r, "x", &nx), *dy = ref_f32(r, "dy", &ny);
  const float *y32 = ref_f32(r, "y32", NULL), *dx32 = ref_f32(r, "dx32", NULL);
  const double *dx64 = ref_f64(r, "dx", NULL);
  const int *idx_ref = ref_i32(r, "idx", NULL);
  CHECK(ny == (size_t)s.n * s.c * s.oh * s.ow, "%s: output size", name);

  buf bx = upload_at(cx, x, nx, OFF_X), by = upload_at(cx, NULL, ny, OFF_Y),
      bi = upload_at(cx, NULL, ny, OFF_I), bdy = upload_at(cx, dy, ny, OFF_Y),
      bdx = upload_at(cx, NULL, nx, OFF_I);
  CHECK_OK(maxpool2d_forward(cx, by, bi, bx, &s));
  float *y = test_download(cx, by, ny);
  int *idx = (int *)test_download(cx, bi, ny); /* 4-byte ints, read back as raw words */
  size_t idx_bad = 0;
  for (size_t i = 0; i < ny; i++) idx_bad += idx[i] != idx_ref[i];
  /* Max pooling copies an input value: bitwise exact (NaNs included), argmax included
   * (PyTorch's first-max rule). */
  CHECK(memcmp(y, y32, ny * 4) == 0, "%s: forward y bitwise PyTorch's", name);
  CHECK(idx_bad == 0, "%s: argmax equals PyTorch's at every output (%zu differ)", name, idx_bad);

  /* Overwrite: fill dx with garbage first, so every element must be written. */
  float *junk = malloc(nx * 4), *base = malloc(nx * 4);
  for (size_t i = 0; i < nx; i++) junk[i] = NAN;
  fill_uniform(base, nx, 99, -1, 1);
  rt_write(cx, bdx, junk, nx * 4);
  CHECK_OK(maxpool2d_backward(cx, bdx, bdy, bi, &s, OP_OVERWRITE));
  float *dx = test_download(cx, bdx, nx);
  /* The gather adds the same float32 terms in the same (oh, ow) order as PyTorch's scatter into
   * zeros, so the result is bitwise PyTorch's float32 gradient. */
  CHECK(max_abs_diff(dx, dx32, nx) == 0, "%s: backward dx bitwise PyTorch float32 (max abs %.3g)", name,
        max_abs_diff(dx, dx32, nx));
  double e = rel_l2_f64(dx, dx64, nx);
  /* Against float64: each input sums at most ceil(k/s)^2 <= 9 float32 terms, a few roundings of
   * 2^-24 each: 1e-6 relative L2 allows that with margin; a misrouted gradient costs ~1. */
  printf("  %-22s dx vs float64 rel L2 %.2e\n", name, e);
  CHECK(e <= 1e-6, "%s: backward dx vs float64 %.2e", name, e);

  rt_write(cx, bdx, base, nx * 4);
  CHECK_OK(maxpool2d_backward(cx, bdx, bdy, bi, &s, OP_ACCUMULATE));
  float *dxa = test_download(cx, bdx, nx);
  double *want = plus(base, dx64, nx);
  e = rel_l2_f64(dxa, want, nx);
  /* One more float32 rounding (the += onto base) than above. */
  CHECK(e <= 1e-6, "%s: accumulating backward vs base + float64 %.2e", name, e);

  /* The C reference on the same inputs. */
  float *yr = malloc(ny * 4), *dxr = malloc(nx * 4);
  int *ir = malloc(ny * sizeof *ir);
  maxpool2d_forward_ref(yr, ir, x, &s);
  idx_bad = 0;
  for (size_t i = 0; i < ny; i++) idx_bad += ir[i] != idx_ref[i];
  CHECK(memcmp(yr, y32, ny * 4) == 0 && idx_bad == 0, "%s: C reference forward exact (%zu idx differ)",
        name, idx_bad);
  maxpool2d_backward_ref(dxr, dy, idx_ref, &s, OP_OVERWRITE);
  e = rel_l2_f64(dxr, dx64, nx);
  /* Summed in double, rounded once: at most 2^-24 per element. */
  CHECK(e <= 1e-7, "%s: C reference backward vs float64 %.2e", name, e);
  memcpy(dxr, base, nx * 4);
  maxpool2d_backward_ref(dxr, dy, idx_ref, &s, OP_ACCUMULATE);
  e = rel_l2_f64(dxr, want, nx);
  CHECK(e <= 1e-7, "%s: C reference accumulating backward %.2e", name, e);

  free(y), free(idx), free(junk), free(base), free(dx), free(dxa), free(want), free(yr), free(dxr), free(ir);
  release(bx), release(by), release(bi), release(bdy), release(bdx);
  ref_free(r);
}

/* Window (or global, when the case has no geometry) average pooling. */
static void avg_case(cltrain_context *cx, const char *name, int global) {
  ref_set *r = ref_load(name);
  pool2d_shape s = shape_of(r);
  size_t nx, ny;
  const float *x = ref_f32(r, "x", &nx), *dy = ref_f32(r, "dy", &ny);
  const double *y64 = ref_f64(r, "y", NULL), *dx64 = ref_f64(r, "dx", NULL);
  /* Terms per sum: the window, or the whole plane for global pooling. */
  double terms = global ? (double)s.h * s.w : (double)s.kh * s.kw;
  /* A float32 sum of `terms` values in fixed order, then one division: for these zero-mean
   * inputs the 2^-24 roundings of the partial sums add like a random walk, about
   * 6e-8 * sqrt(terms) relative; 1e-7 * sqrt(terms) (at least 5e-7) bounds it with margin
   * (measured 1.4e-7 at ResNet's 7x7 against 7e-7, 7e-7 at 112x112 against 1.1e-5). */
  double tol_y = 1e-7 * sqrt(terms) > 5e-7 ? 1e-7 * sqrt(terms) : 5e-7;
  /* Backward: each input sums at most `window` terms (1 for global pooling), each divided. */
  double tol_dx = 1e-6;

  buf bx = upload_at(cx, x, nx, OFF_X), by = upload_at(cx, NULL, ny, OFF_Y),
      bdy = upload_at(cx, dy, ny, OFF_Y), bdx = upload_at(cx, NULL, nx, OFF_I);
  CHECK_OK(global ? global_avgpool_forward(cx, by, bx, &s) : avgpool2d_forward(cx, by, bx, &s));
  float *y = test_download(cx, by, ny);
  double e = rel_l2_f64(y, y64, ny);
  printf("  %-22s y vs float64 rel L2 %.2e (tol %.1e)\n", name, e, tol_y);
  CHECK(e <= tol_y, "%s: forward y vs float64 %.2e", name, e);

  float *junk = malloc(nx * 4), *base = malloc(nx * 4);
  for (size_t i = 0; i < nx; i++) junk[i] = NAN;
  fill_uniform(base, nx, 98, -1, 1);
  rt_write(cx, bdx, junk, nx * 4);
  CHECK_OK(global ? global_avgpool_backward(cx, bdx, bdy, &s, OP_OVERWRITE)
                  : avgpool2d_backward(cx, bdx, bdy, &s, OP_OVERWRITE));
  float *dx = test_download(cx, bdx, nx);
  e = rel_l2_f64(dx, dx64, nx);
  printf("  %-22s dx vs float64 rel L2 %.2e\n", name, e);
  CHECK(e <= tol_dx, "%s: backward dx vs float64 %.2e", name, e);
  rt_write(cx, bdx, base, nx * 4);
  CHECK_OK(global ? global_avgpool_backward(cx, bdx, bdy, &s, OP_ACCUMULATE)
                  : avgpool2d_backward(cx, bdx, bdy, &s, OP_ACCUMULATE));
  float *dxa = test_download(cx, bdx, nx);
  double *want = plus(base, dx64, nx);
  e = rel_l2_f64(dxa, want, nx);
  CHECK(e <= tol_dx, "%s: accumulating backward vs base + float64 %.2e", name, e);

  /* C reference: double sums, one rounding, so 1e-7 (2^-24 = 6e-8 per element). */
  float *yr = malloc(ny * 4), *dxr = malloc(nx * 4);
  if (global) global_avgpool_forward_ref(yr, x, &s); else avgpool2d_forward_ref(yr, x, &s);
  e = rel_l2_f64(yr, y64, ny);
  CHECK(e <= 1e-7, "%s: C reference forward %.2e", name, e);
  memcpy(dxr, base, nx * 4);
  if (global) global_avgpool_backward_ref(dxr, dy, &s, OP_ACCUMULATE);
  else avgpool2d_backward_ref(dxr, dy, &s, OP_ACCUMULATE);
  e = rel_l2_f64(dxr, want, nx);
  CHECK(e <= 1e-7, "%s: C reference accumulating backward %.2e", name, e);
  if (global) global_avgpool_backward_ref(dxr, dy, &s, OP_OVERWRITE);
  else avgpool2d_backward_ref(dxr, dy, &s, OP_OVERWRITE);
  e = rel_l2_f64(dxr, dx64, nx);
  CHECK(e <= 1e-7, "%s: C reference backward %.2e", name, e);

  free(y), free(junk), free(base), free(dx), free(dxa), free(want), free(yr), free(dxr);
  release(bx), release(by), release(bdy), release(bdx);
  ref_free(r);
}

static void errors(cltrain_context *cx) {
  buf b = test_upload(cx, NULL, 1024), none = buf_none();
  pool2d_shape ok = pool2d_make(1, 2, 8, 8, 3, 2, 1);
  CHECK(ok.oh == 4 && ok.ow == 4, "pool2d_make: 8x8, k3 s2 p1 gives 4x4 (got %dx%d)", ok.oh, ok.ow);
  CHECK_OK(pool2d_check(cx, &ok));

  pool2d_shape s = pool2d_make(1, 2, 8, 8, 3, 2, 2); /* padding over half the window */
  CHECK_STATUS(maxpool2d_forward(cx, b, b, b, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "padding") != NULL, "message names the padding: %s", cltrain_last_error(cx));
  s = pool2d_make(1, 2, 8, 8, 3, 0, 1);
  CHECK_STATUS(avgpool2d_forward(cx, b, b, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "stride") != NULL, "message names the stride: %s", cltrain_last_error(cx));
  s = pool2d_make(1, 2, 2, 2, 5, 1, 1); /* window larger than the padded input */
  CHECK_STATUS(maxpool2d_backward(cx, b, b, b, &s, OP_OVERWRITE), CLTRAIN_ERR_ARG);
  s = ok;
  s.ow = 5;
  CHECK_STATUS(avgpool2d_backward(cx, b, b, &s, OP_OVERWRITE), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "output") != NULL, "message names the output size: %s", cltrain_last_error(cx));
  s = ok;
  s.c = 0;
  CHECK_STATUS(global_avgpool_forward(cx, b, b, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(maxpool2d_forward(cx, b, b, b, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(maxpool2d_forward(cx, b, none, b, &ok), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "idx") != NULL, "message names the buffer: %s", cltrain_last_error(cx));
  CHECK_STATUS(global_avgpool_forward(cx, none, b, &ok), CLTRAIN_ERR_ARG);
  CHECK_STATUS(maxpool2d_backward(cx, b, b, none, &ok, OP_OVERWRITE), CLTRAIN_ERR_ARG);
  /* A NULL dx is a gradient nobody wants: nothing to do, not an error. */
  CHECK_OK(maxpool2d_backward(cx, none, none, none, &ok, OP_OVERWRITE));
  CHECK_OK(avgpool2d_backward(cx, none, none, &ok, OP_OVERWRITE));
  CHECK_OK(global_avgpool_backward(cx, none, none, &ok, OP_ACCUMULATE));
  rt_free(b.mem);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *max_cases[] = {"pool_max_resnet", "pool_max_resnet_ties", "pool_max_odd_ties", "pool_max_negative",
                             "pool_max_overlap", "pool_max_rect", "pool_max_k2s2", "pool_max_nan"};
  for (size_t i = 0; i < sizeof max_cases / sizeof *max_cases; i++) max_case(cx, max_cases[i]);
  const char *avg_cases[] = {"pool_avg_odd", "pool_avg_overlap", "pool_avg_rect", "pool_avg_k2s2"};
  for (size_t i = 0; i < sizeof avg_cases / sizeof *avg_cases; i++) avg_case(cx, avg_cases[i], 0);
  const char *global_cases[] = {"pool_global_resnet", "pool_global_odd", "pool_global_1x1", "pool_global_large"};
  for (size_t i = 0; i < sizeof global_cases / sizeof *global_cases; i++) avg_case(cx, global_cases[i], 1);
  errors(cx);
  cltrain_context_destroy(cx);
  return check_done();
}
