/* test_concat.c: channel concatenation, one input at a time into its slice, forward and backward
 * on the device and in the C reference against PyTorch float64 (torch.cat); overwrite and
 * accumulate; a skipped gradient; its errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/concat.h"
#include "reftensor.h"

/* y and an overwritten dx are copies: float64's values are the float32 inputs exactly, so they
 * are compared bitwise (0). An accumulated dx is one float32 addition per element, rounded at
 * most half an ulp (6e-8 relative): 1e-7 catches any misplaced element (~1) or a lost sum. */
static const double TOL_ACC = 1e-7;

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t nin, ny;
  const int *chans = ref_i32(r, "chans", &nin), *sh = ref_i32(r, "shape", NULL);
  const float *dy = ref_f32(r, "dy", &ny);
  const double *y64 = ref_f64(r, "y", NULL);
  int c = 0;
  for (size_t k = 0; k < nin; k++) c += chans[k];
  buf by = test_upload(cx, NULL, ny), bdy = test_upload(cx, dy, ny);
  float *hy = malloc(ny * sizeof(float));
  concat_shape s = {sh[0], c, 0, 0, sh[1] * sh[2]};
  for (size_t k = 0; k < nin; k++, s.c_off += s.c_in) {
    char key[32], what[48];
    s.c_in = chans[k];
    size_t nx = (size_t)s.n * s.c_in * s.plane;
    snprintf(key, sizeof key, "x%zu", k);
    const float *x = ref_f32(r, key, NULL);
    snprintf(key, sizeof key, "dx%zu", k);
    const double *dx64 = ref_f64(r, key, NULL);
    float *base = malloc(nx * sizeof(float)), *h = malloc(nx * sizeof(float));
    double *want = malloc(nx * sizeof(double));
    fill_uniform(base, nx, 7 + k, -1, 1);
    buf bx = test_upload(cx, x, nx), bdx = test_upload(cx, NULL, nx);
    CHECK_OK(concat_forward(cx, by, bx, &s));
    concat_forward_ref(hy, x, &s);
    CHECK_OK(concat_backward(cx, bdx, bdy, OP_OVERWRITE, &s));
    float *got = test_download(cx, bdx, nx);
    snprintf(what, sizeof what, "dx%zu", k), CHECK_REL64(name, what, got, dx64, nx, 0);
    free(got);
    CHECK_OK(rt_write(cx, bdx, base, nx * sizeof(float)));
    CHECK_OK(concat_backward(cx, bdx, bdy, OP_ACCUMULATE, &s));
    got = test_download(cx, bdx, nx);
    for (size_t i = 0; i < nx; i++) want[i] = (double)base[i] + dx64[i];
    snprintf(what, sizeof what, "acc dx%zu", k), CHECK_REL64(name, what, got, want, nx, TOL_ACC);
    free(got);
    concat_backward_ref(h, dy, OP_OVERWRITE, &s);
    snprintf(what, sizeof what, "ref dx%zu", k), CHECK_REL64(name, what, h, dx64, nx, 0);
    memcpy(h, base, nx * sizeof(float));
    concat_backward_ref(h, dy, OP_ACCUMULATE, &s);
    snprintf(what, sizeof what, "ref acc%zu", k), CHECK_REL64(name, what, h, want, nx, TOL_ACC);
    CHECK_OK(concat_backward(cx, buf_none(), bdy, OP_OVERWRITE, &s)); /* no gradient wanted: nothing */
    free(base), free(h), free(want);
    rt_free(bx.mem), rt_free(bdx.mem);
  }
  float *got = test_download(cx, by, ny);
  CHECK_REL64(name, "y", got, y64, ny, 0);
  CHECK_REL64(name, "ref y", hy, y64, ny, 0);
  free(got), free(hy);
  rt_free(by.mem), rt_free(bdy.mem);
  ref_free(r);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"concat_dense", "concat_fire", "concat_odd"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one(cx, cases[i]);
  buf b = test_upload(cx, NULL, 64);
  concat_shape s = {2, 4, 3, 2, 8}; /* channels [3, 5) of 4 */
  CHECK_STATUS(concat_forward(cx, b, b, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "channels [3, 5) of 4") != NULL, "message names the slice: %s",
        cltrain_last_error(cx));
  s.c_off = 2;
  CHECK_STATUS(concat_forward(cx, b, buf_none(), &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "x is NULL") != NULL, "message names x: %s", cltrain_last_error(cx));
  CHECK_STATUS(concat_backward(cx, b, buf_none(), OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy is NULL") != NULL, "message names dy: %s", cltrain_last_error(cx));
  rt_free(b.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
