/* test_hardsigmoid.c: HardSigmoid (torch's alpha 1/6, beta 1/2) forward and backward on the
 * device and in the C reference against PyTorch float64, overwrite and accumulate, its errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/hardsigmoid.h"
#include "reftensor.h"

/* torch's own float32 form, clamp(x + 3, 0, 6) / 6, against float64: two roundings, ~6e-8
 * relative; the ramp's ends are tested on x itself, as torch does, so no element falls on the
 * other side of +-3. 1e-6 catches a wrong alpha, beta or mask (errors ~1e-1). */
static const double TOL = 1e-6;
static const float A = HARDSIGMOID_TORCH_ALPHA, B = HARDSIGMOID_TORCH_BETA;

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t n;
  const float *x = ref_f32(r, "x", &n), *dy = ref_f32(r, "dy", NULL);
  const double *y64 = ref_f64(r, "y", NULL), *dx64 = ref_f64(r, "dx", NULL);
  buf bx = test_upload(cx, x, n), by = test_upload(cx, NULL, n), bdy = test_upload(cx, dy, n);
  float *base = malloc(n * 4), *h = malloc(n * 4);
  double *want = malloc(n * sizeof *want);
  fill_uniform(base, n, 3, -1, 1);
  buf bdx = test_upload(cx, base, n);
  CHECK_OK(hardsigmoid_forward(cx, by, bx, A, B, n));
  float *got = test_download(cx, by, n);
  CHECK_REL64(name, "y", got, y64, n, TOL);
  free(got);
  CHECK_OK(hardsigmoid_backward(cx, bdx, bdy, bx, A, B, OP_OVERWRITE, n));
  got = test_download(cx, bdx, n);
  CHECK_REL64(name, "dx", got, dx64, n, TOL);
  free(got);
  rt_write(cx, bdx, base, n * 4);
  CHECK_OK(hardsigmoid_backward(cx, bdx, bdy, bx, A, B, OP_ACCUMULATE, n));
  got = test_download(cx, bdx, n);
  for (size_t i = 0; i < n; i++) want[i] = base[i] + dx64[i];
  CHECK_REL64(name, "acc dx", got, want, n, TOL);
  free(got);
  hardsigmoid_forward_ref(h, x, A, B, n);
  CHECK_REL64(name, "ref y", h, y64, n, TOL);
  hardsigmoid_backward_ref(h, dy, x, A, B, OP_OVERWRITE, n);
  CHECK_REL64(name, "ref dx", h, dx64, n, TOL);
  free(base), free(h), free(want);
  rt_free(bx.mem), rt_free(by.mem), rt_free(bdy.mem), rt_free(bdx.mem);
  ref_free(r);
}

int main(void) {
  cltrain_context *cx = test_context();
  one(cx, "hardsigmoid_mnv3_16x32");
  one(cx, "hardsigmoid_odd_1001");
  one(cx, "hardsigmoid_one");
  buf b = test_upload(cx, NULL, 8);
  CHECK_STATUS(hardsigmoid_forward(cx, buf_none(), b, A, B, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "y is NULL") != NULL, "message names y: %s", cltrain_last_error(cx));
  CHECK_STATUS(hardsigmoid_backward(cx, b, buf_none(), b, A, B, OP_OVERWRITE, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy is NULL") != NULL, "message names dy: %s", cltrain_last_error(cx));
  CHECK_STATUS(hardsigmoid_backward(cx, b, b, b, A, B, 2, 8), CLTRAIN_ERR_ARG);
  CHECK_STATUS(hardsigmoid_forward(cx, b, b, A, B, (size_t)1 << 31), CLTRAIN_ERR_ARG);
  CHECK_OK(hardsigmoid_backward(cx, buf_none(), buf_none(), buf_none(), A, B, OP_OVERWRITE, 8));
  CHECK_STATUS(hardsigmoid_forward(cx, b, b, 0.0f, B, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "alpha") != NULL, "message names alpha: %s", cltrain_last_error(cx));
  /* At the ramp's ends, as torch: x = -3 and 3 pass no gradient, the floats inside them do. */
  {
    float xs[4] = {-3.0f, nextafterf(-3.0f, 0), nextafterf(3.0f, 0), 3.0f}, ones[4] = {1, 1, 1, 1}, *g;
    buf bx = test_upload(cx, xs, 4), bg = test_upload(cx, ones, 4);
    CHECK_OK(hardsigmoid_backward(cx, bg, bg, bx, A, B, OP_OVERWRITE, 4));
    g = test_download(cx, bg, 4);
    CHECK(g[0] == 0 && g[1] == A && g[2] == A && g[3] == 0, "ramp ends: %g %g %g %g", g[0], g[1], g[2], g[3]);
    free(g);
    rt_free(bx.mem), rt_free(bg.mem);
  }
  rt_free(b.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
