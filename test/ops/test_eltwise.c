/* test_eltwise.c: add and its backward against PyTorch (test/ref/ref_eltwise.py) and the C
 * reference: in place, every overwrite/accumulate combination, NULL branches, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/eltwise.h"
#include "reftensor.h"

static buf upload_at(cltrain_context *cx, const float *host, size_t n, size_t off) {
  buf b = buf_at(test_upload(cx, NULL, n + off), off);
  if (host) rt_write(cx, b, host, n * 4);
  return b;
}

static double *plus(const float *base, const double *ref, size_t n) {
  double *d = malloc(n * sizeof *d);
  for (size_t i = 0; i < n; i++) d[i] = (double)base[i] + ref[i];
  return d;
}

static int bitwise_equal(const float *a, const float *b, size_t n) { return memcmp(a, b, n * 4) == 0; }

static void one(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t n;
  const float *a = ref_f32(r, "a", &n), *b = ref_f32(r, "b", NULL), *dy = ref_f32(r, "dy", NULL);
  const double *y64 = ref_f64(r, "y", NULL), *da64 = ref_f64(r, "da", NULL), *db64 = ref_f64(r, "db", NULL);
  buf ba = upload_at(cx, a, n, 3), bb = upload_at(cx, b, n, 5), by = upload_at(cx, NULL, n, 1),
      bdy = upload_at(cx, dy, n, 2);
  float *yref = malloc(n * 4);
  add_forward_ref(yref, a, b, n);

  CHECK_OK(add_forward(cx, by, ba, bb, n));
  float *y = test_download(cx, by, n);
  double e = rel_l2_f64(y, y64, n);
  /* One float32 addition, correctly rounded: at most 2^-24 = 6e-8 relative per element. */
  printf("  %-10s y vs float64 rel L2 %.2e\n", name, e);
  CHECK(e <= 1e-7, "%s: forward vs float64 %.2e", name, e);
  CHECK(bitwise_equal(y, yref, n), "%s: forward bitwise the C reference", name);
  double er = rel_l2_f64(yref, y64, n);
  CHECK(er <= 1e-7, "%s: C reference forward vs float64 %.2e", name, er);
  /* In place: y = a + b written over a. */
  CHECK_OK(add_forward(cx, ba, ba, bb, n));
  float *yin = test_download(cx, ba, n);
  CHECK(bitwise_equal(yin, yref, n), "%s: in-place forward (y is a) bitwise", name);

  /* Backward, every combination, both branches then each branch alone. */
  float *base_a = malloc(n * 4), *base_b = malloc(n * 4), *ha = malloc(n * 4), *hb = malloc(n * 4);
  fill_uniform(base_a, n, 7, -1, 1);
  fill_uniform(base_b, n, 8, -1, 1);
  double *want_a = plus(base_a, da64, n), *want_b = plus(base_b, db64, n);
  buf bda = upload_at(cx, NULL, n, 4), bdb = upload_at(cx, NULL, n, 6);
  for (int mask = 1; mask < 4; mask++) /* which branches are present */
    for (int acc = 0; acc < 4; acc++) {
      int has_a = mask & 1, has_b = mask & 2, acc_a = acc & 1, acc_b = (acc >> 1) & 1;
      rt_write(cx, bda, base_a, n * 4);
      rt_write(cx, bdb, base_b, n * 4);
      CHECK_OK(add_backward(cx, has_a ? bda : buf_none(), has_b ? bdb : buf_none(), bdy, n, acc_a, acc_b));
      float *ga = test_download(cx, bda, n), *gb = test_download(cx, bdb, n);
      memcpy(ha, base_a, n * 4);
      memcpy(hb, base_b, n * 4);
      add_backward_ref(has_a ? ha : NULL, has_b ? hb : NULL, dy, n, acc_a, acc_b);
      /* Overwrite copies dy exactly; accumulate is one correctly rounded addition (6e-8). */
      double ea = rel_l2_f64(ga, acc_a ? want_a : da64, n), eb = rel_l2_f64(gb, acc_b ? want_b : db64, n);
      if (has_a) CHECK(acc_a ? ea <= 1e-7 : ea == 0, "%s: da (acc %d) vs float64 %.2e", name, acc_a, ea);
      else CHECK(bitwise_equal(ga, base_a, n), "%s: absent da left alone", name);
      if (has_b) CHECK(acc_b ? eb <= 1e-7 : eb == 0, "%s: db (acc %d) vs float64 %.2e", name, acc_b, eb);
      else CHECK(bitwise_equal(gb, base_b, n), "%s: absent db left alone", name);
      CHECK(bitwise_equal(ga, ha, n) && bitwise_equal(gb, hb, n),
            "%s: backward (branches %d, acc %d) bitwise the C reference", name, mask, acc);
      free(ga), free(gb);
    }
  free(y), free(yref), free(yin), free(base_a), free(base_b), free(ha), free(hb), free(want_a), free(want_b);
  rt_free(ba.mem), rt_free(bb.mem), rt_free(by.mem), rt_free(bdy.mem), rt_free(bda.mem), rt_free(bdb.mem);
  ref_free(r);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"add_layer1", "add_layer2", "add_layer3", "add_layer4", "add_odd", "add_one"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one(cx, cases[i]);

  buf b = test_upload(cx, NULL, 4), none = buf_none();
  CHECK_STATUS(add_forward(cx, b, none, b, 4), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "buffer a") != NULL, "message names the buffer: %s", cltrain_last_error(cx));
  CHECK_STATUS(add_forward(cx, b, b, b, (size_t)1 << 31), CLTRAIN_ERR_ARG);
  CHECK_STATUS(add_backward(cx, b, none, none, 4, OP_OVERWRITE, OP_OVERWRITE), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy") != NULL, "message names dy: %s", cltrain_last_error(cx));
  /* No branch wants a gradient, or nothing to add: not errors. */
  CHECK_OK(add_backward(cx, none, none, none, 4, OP_OVERWRITE, OP_OVERWRITE));
  CHECK_OK(add_forward(cx, b, b, b, 0));
  rt_free(b.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
