/* test_sigmoid.c: the sigmoid forward and backward on the device and in the C reference against
 * PyTorch float64, overwrite and accumulate, and its errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reftensor.h"
#include "ops/sigmoid.h"

/* Forward: exp and one division in float32 (OpenCL's exp is within 3 ulp): a few 1e-7. 1e-6. */
static const double TOL_Y = 1e-6;
/* Backward from the float32 y the forward wrote, against the same formula in float64 on that y:
 * two roundings, 1e-6. Against autograd on the exact y, 1 - y loses digits where y nears 1
 * (PyTorch's float32 does the same); over (-12, 12) that measures ~1e-6 relative L2: 1e-5. */
static const double TOL_DX = 1e-6, TOL_DX_EXACT = 1e-5;

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t n;
  const float *x = ref_f32(r, "x", &n), *dy = ref_f32(r, "dy", NULL), *yf = ref_f32(r, "yf", NULL);
  const double *y64 = ref_f64(r, "y", NULL), *dx64 = ref_f64(r, "dx", NULL), *dxyf = ref_f64(r, "dx_yf", NULL);
  buf bx = test_upload(cx, x, n), by = test_upload(cx, NULL, n), bdy = test_upload(cx, dy, n);
  buf byf = test_upload(cx, yf, n);
  float *base = malloc(n * 4), *h = malloc(n * 4);
  double *want = malloc(n * sizeof *want);
  fill_uniform(base, n, 3, -1, 1);
  buf bdx = test_upload(cx, base, n);
  CHECK_OK(sigmoid_forward(cx, by, bx, n));
  float *got = test_download(cx, by, n);
  CHECK_REL64(name, "y", got, y64, n, TOL_Y);
  free(got);
  CHECK_OK(sigmoid_backward(cx, bdx, bdy, byf, OP_OVERWRITE, n));
  got = test_download(cx, bdx, n);
  CHECK_REL64(name, "dx", got, dxyf, n, TOL_DX);
  CHECK_REL64(name, "dx exact", got, dx64, n, TOL_DX_EXACT);
  free(got);
  rt_write(cx, bdx, base, n * 4);
  CHECK_OK(sigmoid_backward(cx, bdx, bdy, byf, OP_ACCUMULATE, n));
  got = test_download(cx, bdx, n);
  for (size_t i = 0; i < n; i++) want[i] = base[i] + dxyf[i];
  CHECK_REL64(name, "acc dx", got, want, n, TOL_DX);
  free(got);
  sigmoid_forward_ref(h, x, n);
  CHECK_REL64(name, "ref y", h, y64, n, TOL_Y);
  sigmoid_backward_ref(h, dy, yf, OP_OVERWRITE, n);
  CHECK_REL64(name, "ref dx", h, dxyf, n, TOL_DX);
  free(base), free(h), free(want);
  rt_free(bx.mem), rt_free(by.mem), rt_free(bdy.mem), rt_free(bdx.mem), rt_free(byf.mem);
  ref_free(r);
}

int main(void) {
  cltrain_context *cx = test_context();
  one(cx, "sigmoid_effnet_32x32");
  one(cx, "sigmoid_odd_1001");
  one(cx, "sigmoid_one");
  buf b = test_upload(cx, NULL, 8);
  CHECK_STATUS(sigmoid_forward(cx, buf_none(), b, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "y is NULL") != NULL, "message names y: %s", cltrain_last_error(cx));
  CHECK_STATUS(sigmoid_backward(cx, b, buf_none(), b, OP_OVERWRITE, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy is NULL") != NULL, "message names dy: %s", cltrain_last_error(cx));
  CHECK_STATUS(sigmoid_backward(cx, b, b, b, 2, 8), CLTRAIN_ERR_ARG);
  CHECK_STATUS(sigmoid_forward(cx, b, b, (size_t)1 << 31), CLTRAIN_ERR_ARG);
  CHECK_OK(sigmoid_backward(cx, buf_none(), buf_none(), buf_none(), OP_OVERWRITE, 8));
  rt_free(b.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
