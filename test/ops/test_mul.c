/* test_mul.c: the elementwise product, b of a's shape or broadcast per channel, forward and
 * backward on the device and in the C reference against PyTorch float64; overwrite and
 * accumulate; skipped gradients; its errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/mul.h"
#include "reftensor.h"

/* One product per output and per da: a float32 rounding (~6e-8 relative). A broadcast db sums a
 * plane of up to 3136 products, Kahan-compensated per work-item and then a tree: ~1e-7. 1e-6
 * catches any indexing error (~1) and a lost accumulation. */
static const double TOL = 1e-6;

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t n, nb;
  const float *a = ref_f32(r, "a", &n), *b = ref_f32(r, "b", &nb), *dy = ref_f32(r, "dy", NULL);
  const double *y64 = ref_f64(r, "y", NULL), *da64 = ref_f64(r, "da", NULL), *db64 = ref_f64(r, "db", NULL);
  mul_shape s = {n, ref_i32(r, "plane", NULL)[0]};
  buf ba = test_upload(cx, a, n), bb = test_upload(cx, b, nb), bdy = test_upload(cx, dy, n);
  buf by = test_upload(cx, NULL, n);
  float *base_a = malloc(n * 4), *base_b = malloc(nb * 4), *h = malloc(n * 4), *hb = malloc(nb * 4);
  double *want_a = malloc(n * sizeof(double)), *want_b = malloc(nb * sizeof(double));
  fill_uniform(base_a, n, 5, -1, 1), fill_uniform(base_b, nb, 6, -1, 1);
  buf bda = test_upload(cx, base_a, n), bdb = test_upload(cx, base_b, nb);
  CHECK_OK(mul_forward(cx, by, ba, bb, &s));
  float *got = test_download(cx, by, n);
  CHECK_REL64(name, "y", got, y64, n, TOL);
  free(got);
  CHECK_OK(mul_backward(cx, bda, bdb, bdy, ba, bb, OP_OVERWRITE, OP_OVERWRITE, &s));
  float *ga = test_download(cx, bda, n), *gb = test_download(cx, bdb, nb);
  CHECK_REL64(name, "da", ga, da64, n, TOL);
  CHECK_REL64(name, "db", gb, db64, nb, TOL);
  free(ga), free(gb);
  rt_write(cx, bda, base_a, n * 4), rt_write(cx, bdb, base_b, nb * 4);
  CHECK_OK(mul_backward(cx, bda, bdb, bdy, ba, bb, OP_ACCUMULATE, OP_ACCUMULATE, &s));
  ga = test_download(cx, bda, n), gb = test_download(cx, bdb, nb);
  for (size_t i = 0; i < n; i++) want_a[i] = base_a[i] + da64[i];
  for (size_t i = 0; i < nb; i++) want_b[i] = base_b[i] + db64[i];
  CHECK_REL64(name, "acc da", ga, want_a, n, TOL);
  CHECK_REL64(name, "acc db", gb, want_b, nb, TOL);
  free(ga), free(gb);
  rt_write(cx, bdb, base_b, nb * 4); /* db alone: da is left as it is */
  CHECK_OK(mul_backward(cx, buf_none(), bdb, bdy, ba, bb, OP_OVERWRITE, OP_OVERWRITE, &s));
  gb = test_download(cx, bdb, nb);
  CHECK_REL64(name, "db only", gb, db64, nb, TOL);
  free(gb);

  mul_forward_ref(h, a, b, &s);
  CHECK_REL64(name, "ref y", h, y64, n, TOL);
  mul_backward_ref(h, hb, dy, a, b, OP_OVERWRITE, OP_OVERWRITE, &s);
  CHECK_REL64(name, "ref da", h, da64, n, TOL);
  CHECK_REL64(name, "ref db", hb, db64, nb, TOL);
  free(base_a), free(base_b), free(h), free(hb), free(want_a), free(want_b);
  rt_free(ba.mem), rt_free(bb.mem), rt_free(bdy.mem), rt_free(by.mem), rt_free(bda.mem), rt_free(bdb.mem);
  ref_free(r);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"mul_same_mnv3", "mul_same_odd", "mul_se_mnv3", "mul_se_large", "mul_se_odd"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one(cx, cases[i]);
  buf b = test_upload(cx, NULL, 12);
  mul_shape s = {12, 5};
  CHECK_STATUS(mul_forward(cx, b, b, b, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "multiple of the plane") != NULL, "message names the plane: %s",
        cltrain_last_error(cx));
  s.plane = 4;
  CHECK_STATUS(mul_forward(cx, b, buf_none(), b, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "a is NULL") != NULL, "message names a: %s", cltrain_last_error(cx));
  CHECK_STATUS(mul_backward(cx, b, b, buf_none(), b, b, OP_OVERWRITE, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK_OK(mul_backward(cx, buf_none(), buf_none(), buf_none(), b, b, OP_OVERWRITE, OP_OVERWRITE, &s));
  rt_free(b.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
