/* test_relu.c: ReLU forward and backward on the device and in the C reference against PyTorch
 * (test/ref/ref_relu.py), in place and out of place, overwrite and accumulate; and its errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reftensor.h"
#include "ops/relu.h"

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t n;
  const float *x = ref_f32(r, "x", &n), *dy = ref_f32(r, "dy", NULL), *y = ref_f32(r, "y", NULL),
              *dx = ref_f32(r, "dx", NULL);
  printf("%s (%zu floats)\n", name, n);
  size_t off = 5;
  buf bx = buf_at(test_upload(cx, NULL, n + off), off), by = test_upload(cx, NULL, n),
      bdy = test_upload(cx, dy, n), bdx = test_upload(cx, NULL, n);
  rt_write(cx, bx, x, n * 4);
  /* ReLU is exact: max and a select round nothing, so results must equal PyTorch's bitwise
   * (a relative L2 bound of 0, printed for the log). */
  CHECK_OK(relu_forward(cx, by, bx, n));
  float *got = test_download(cx, by, n);
  CHECK_REL("relu y", got, y, n, 0);
  free(got);
  CHECK_OK(relu_forward(cx, bx, bx, n)); /* in place */
  got = test_download(cx, bx, n);
  CHECK(!memcmp(got, y, n * 4), "%s: relu forward in place equals PyTorch bitwise", name);
  free(got);

  float *base = malloc(n * 4), *want = malloc(n * 4);
  fill_uniform(base, n, 3, -1, 1);
  rt_write(cx, bdx, base, n * 4); /* garbage an overwrite must replace */
  CHECK_OK(relu_backward(cx, bdx, bdy, by, OP_OVERWRITE, n));
  got = test_download(cx, bdx, n);
  CHECK_REL("relu dx", got, dx, n, 0);
  free(got);
  rt_write(cx, bdx, base, n * 4);
  CHECK_OK(relu_backward(cx, bdx, bdy, by, OP_ACCUMULATE, n));
  got = test_download(cx, bdx, n);
  for (size_t i = 0; i < n; i++) want[i] = base[i] + dx[i]; /* the same float addition */
  CHECK(!memcmp(got, want, n * 4), "%s: relu backward accumulates dx += mask*dy", name);
  free(got);
  CHECK_OK(relu_backward(cx, bdy, bdy, by, OP_OVERWRITE, n)); /* in place on dy */
  got = test_download(cx, bdy, n);
  CHECK(!memcmp(got, dx, n * 4), "%s: relu backward in place on dy", name);
  free(got);

  /* The C reference. */
  float *h = malloc(n * 4);
  CHECK_OK(relu_forward_ref(h, x, n));
  CHECK(!memcmp(h, y, n * 4), "%s: relu_forward_ref equals PyTorch", name);
  CHECK_OK(relu_backward_ref(h, dy, y, OP_OVERWRITE, n));
  CHECK(!memcmp(h, dx, n * 4), "%s: relu_backward_ref equals PyTorch", name);
  memcpy(h, base, n * 4);
  CHECK_OK(relu_backward_ref(h, dy, y, OP_ACCUMULATE, n));
  CHECK(!memcmp(h, want, n * 4), "%s: relu_backward_ref accumulates", name);
  free(h), free(base), free(want);
  rt_free(bx.mem), rt_free(by.mem), rt_free(bdy.mem), rt_free(bdx.mem);
  ref_free(r);
}

int main(void) {
  cltrain_context *cx = test_context();
  one(cx, "relu_r18_64x112");
  one(cx, "relu_odd_1001");
  one(cx, "relu_one");

  /* A NaN passes through forward, as in PyTorch (max(NaN, 0) would hide a diverged loss). */
  {
    float in[3] = {NAN, -1, 2}, *out;
    buf b = test_upload(cx, in, 3);
    CHECK_OK(relu_forward(cx, b, b, 3));
    out = test_download(cx, b, 3);
    CHECK(out[0] != out[0] && out[1] == 0 && out[2] == 2, "relu keeps NaN: %g %g %g", out[0], out[1], out[2]);
    free(out);
    rt_free(b.mem);
  }

  buf b = test_upload(cx, NULL, 8);
  CHECK_STATUS(relu_forward(cx, buf_none(), b, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "y is NULL") != NULL, "message names y: %s", cltrain_last_error(cx));
  CHECK_STATUS(relu_forward(cx, b, buf_none(), 8), CLTRAIN_ERR_ARG);
  CHECK_STATUS(relu_backward(cx, b, buf_none(), b, OP_OVERWRITE, 8), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy is NULL") != NULL, "message names dy: %s", cltrain_last_error(cx));
  CHECK_STATUS(relu_backward(cx, b, b, buf_none(), OP_OVERWRITE, 8), CLTRAIN_ERR_ARG);
  CHECK_STATUS(relu_backward(cx, b, b, b, 2, 8), CLTRAIN_ERR_ARG);
  CHECK_STATUS(relu_forward(cx, b, b, (size_t)1 << 31), CLTRAIN_ERR_ARG);
  CHECK_OK(relu_backward(cx, buf_none(), buf_none(), buf_none(), OP_OVERWRITE, 8)); /* no dx: skipped */
  CHECK_OK(relu_forward(cx, b, b, 0));
  CHECK_STATUS(relu_forward_ref(NULL, NULL, 1), CLTRAIN_ERR_ARG);
  rt_free(b.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
