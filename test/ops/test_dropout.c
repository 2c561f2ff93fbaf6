/* test_dropout.c: dropout against an independent numpy Philox under PyTorch's dropout formula
 * (test/ref/ref_dropout.py), device bitwise against the C reference, mask statistics,
 * reproducibility, seeds and offsets, the backward's mask, p = 0, and the errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/dropout.h"
#include "reftensor.h"
#include "core/rng.h"

static buf upload_at(cltrain_context *cx, const float *host, size_t n, size_t off) {
  buf b = buf_at(test_upload(cx, NULL, n + off), off);
  if (host) rt_write(cx, b, host, n * 4);
  return b;
}

static int bitwise_equal(const float *a, const float *b, size_t n) { return memcmp(a, b, n * 4) == 0; }

static float *dev_forward(cltrain_context *cx, buf by, buf bx, const dropout_args *a) {
  CHECK_OK(dropout_forward(cx, by, bx, a));
  return test_download(cx, by, a->n);
}

static void pytorch_case(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  size_t n;
  const float *x = ref_f32(r, "x", &n), *dy = ref_f32(r, "dy", NULL);
  const int *mask = ref_i32(r, "mask", NULL), *args = ref_i32(r, "args", NULL);
  const double *y64 = ref_f64(r, "y", NULL), *dx64 = ref_f64(r, "dx", NULL);
  dropout_args a = {n, (float)ref_scalar(r, "p"), (uint64_t)(uint32_t)args[1] << 32 | (uint32_t)args[0],
                    (uint64_t)(uint32_t)args[3] << 32 | (uint32_t)args[2]};
  buf bx = upload_at(cx, x, n, 3), by = upload_at(cx, NULL, n, 5), bdy = upload_at(cx, dy, n, 2),
      bdx = upload_at(cx, NULL, n, 1);
  float *y = dev_forward(cx, by, bx, &a);
  CHECK_OK(dropout_backward(cx, bdx, bdy, &a, OP_OVERWRITE));
  float *dx = test_download(cx, bdx, n);
  size_t mask_bad = 0, ref_bad = 0;
  for (size_t i = 0; i < n; i++) {
    mask_bad += (y[i] != 0) != (mask[i] != 0) || (dx[i] != 0) != (mask[i] != 0);
    ref_bad += dropout_keep_ref(&a, i) != (mask[i] != 0);
  }
  CHECK(mask_bad == 0, "%s: device mask equals numpy Philox's, forward and backward (%zu differ)", name, mask_bad);
  CHECK(ref_bad == 0, "%s: C reference mask equals numpy Philox's (%zu differ)", name, ref_bad);
  double ey = rel_l2_f64(y, y64, n), ed = rel_l2_f64(dx, dx64, n);
  /* Kept elements: x times the float32 scale 1/(1-p), two correctly rounded operations, at most
   * about 1.2e-7 relative each element; 2e-7 relative L2 holds that. */
  printf("  %-15s p=%.2f  y rel L2 %.2e  dx rel L2 %.2e\n", name, a.p, ey, ed);
  CHECK(ey <= 2e-7, "%s: forward vs PyTorch formula %.2e", name, ey);
  CHECK(ed <= 2e-7, "%s: backward vs PyTorch formula %.2e", name, ed);
  float *yr = malloc(n * 4), *dxr = malloc(n * 4);
  dropout_forward_ref(yr, x, &a);
  dropout_backward_ref(dxr, dy, &a, OP_OVERWRITE);
  CHECK(bitwise_equal(y, yr, n) && bitwise_equal(dx, dxr, n), "%s: device bitwise the C reference", name);
  if (a.p == 0) CHECK(bitwise_equal(y, x, n) && bitwise_equal(dx, dy, n), "%s: p = 0 is the identity", name);
  free(y), free(dx), free(yr), free(dxr);
  rt_free(bx.mem), rt_free(by.mem), rt_free(bdy.mem), rt_free(bdx.mem);
  ref_free(r);
}

/* Many elements: statistics, reproducibility, seeds, offsets, accumulate, in place. */
static void large(cltrain_context *cx) {
  const size_t n = (size_t)1 << 22;
  /* x has 8 spare elements for the shifted-offset check at the end. */
  float *x = malloc((n + 8) * 4), *dy = malloc(n * 4), *base = malloc(n * 4), *ref = malloc(n * 4);
  fill_uniform(x, n + 8, 1, 0.5f, 1.5f); /* never 0, so y == 0 means dropped */
  fill_uniform(dy, n, 2, 0.5f, 1.5f);
  fill_uniform(base, n, 3, -1, 1);
  buf bx = upload_at(cx, x, n + 8, 0), by = upload_at(cx, NULL, n + 8, 0), bdx = upload_at(cx, NULL, n, 0),
      bdy = upload_at(cx, dy, n, 0);
  const float ps[] = {0.1f, 0.3f, 0.5f, 0.9f};
  for (int k = 0; k < 4; k++) {
    dropout_args a = {n, ps[k], 0xC0FFEEull + k, rng_make(11, RNG_STREAM_DROPOUT).pos + 5};
    float *y = dev_forward(cx, by, bx, &a);
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) dropped += y[i] == 0;
    double frac = (double)dropped / n, sigma = sqrt(ps[k] * (1 - ps[k]) / n);
    /* Binomial(n, p): standard deviation sqrt(p(1-p)/n) <= 2.4e-4 here; 6 sigma is a bound a
     * correct generator passes except with probability ~2e-9, while a bias of 2^-24 is far below. */
    printf("  p=%.1f dropped %.5f (sigma %.1e)\n", ps[k], frac, sigma);
    CHECK(fabs(frac - ps[k]) <= 6 * sigma, "p=%.1f: dropped fraction %.5f within 6 sigma", ps[k], frac);
    dropout_forward_ref(ref, x, &a);
    CHECK(bitwise_equal(y, ref, n), "p=%.1f: 4M elements bitwise the C reference", ps[k]);

    float *again = dev_forward(cx, by, bx, &a);
    CHECK(bitwise_equal(y, again, n), "p=%.1f: the same seed and offset repeat bitwise", ps[k]);
    /* Another seed, or the next range of the stream: masks agree only by chance, on a fraction
     * p^2 + (1-p)^2 of elements; 2p(1-p) differ, within 0.005 (over 20 sigma) if independent. */
    dropout_args other = a;
    other.seed ^= 1;
    float *ys = dev_forward(cx, by, bx, &other);
    other = a;
    other.offset += n;
    float *yo = dev_forward(cx, by, bx, &other);
    size_t ds = 0, dof = 0;
    for (size_t i = 0; i < n; i++) ds += (ys[i] == 0) != (y[i] == 0), dof += (yo[i] == 0) != (y[i] == 0);
    double want = 2.0 * ps[k] * (1 - ps[k]);
    CHECK(fabs((double)ds / n - want) < 0.005, "p=%.1f: another seed differs on %.4f (want %.4f)", ps[k],
          (double)ds / n, want);
    CHECK(fabs((double)dof / n - want) < 0.005, "p=%.1f: the next offset range differs on %.4f (want %.4f)",
          ps[k], (double)dof / n, want);

    /* The backward recomputes the same mask: dx is zero exactly where y is; accumulate adds. */
    rt_write(cx, bdx, base, n * 4);
    CHECK_OK(dropout_backward(cx, bdx, bdy, &a, OP_ACCUMULATE));
    float *dx = test_download(cx, bdx, n);
    memcpy(ref, base, n * 4);
    dropout_backward_ref(ref, dy, &a, OP_ACCUMULATE);
    CHECK(bitwise_equal(dx, ref, n), "p=%.1f: accumulating backward bitwise the C reference", ps[k]);
    size_t pattern_bad = 0;
    for (size_t i = 0; i < n; i++) pattern_bad += (dx[i] == base[i]) != (y[i] == 0);
    CHECK(pattern_bad == 0, "p=%.1f: backward drops exactly the forward's elements (%zu differ)", ps[k], pattern_bad);
    free(y), free(again), free(ys), free(yo), free(dx);
  }

  /* Element i depends on offset + i only: shifting the offset by 5 shifts the mask by 5. This
   * crosses Philox blocks at every alignment. Done in place (y is x). */
  dropout_args a = {n + 5, 0.5f, 77, 1001}, b = {n, 0.5f, 77, 1006};
  float *wide = dev_forward(cx, by, bx, &a);
  rt_write(cx, bx, x, (n + 8) * 4);
  CHECK_OK(dropout_forward(cx, bx, bx, &b));
  float *shifted = test_download(cx, bx, n);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += (shifted[i] == 0) != (wide[i + 5] == 0);
  CHECK(bad == 0, "offset + 5 gives the mask shifted by 5 elements (%zu differ)", bad);
  free(wide), free(shifted);
  free(x), free(dy), free(base), free(ref);
  rt_free(bx.mem), rt_free(by.mem), rt_free(bdx.mem), rt_free(bdy.mem);
}

static void errors(cltrain_context *cx) {
  buf b = test_upload(cx, NULL, 8), none = buf_none();
  const float bad_p[] = {1.0f, -0.1f, 1.5f, NAN};
  for (int i = 0; i < 4; i++) {
    dropout_args a = {8, bad_p[i], 1, 0};
    CHECK_STATUS(dropout_forward(cx, b, b, &a), CLTRAIN_ERR_ARG);
    CHECK(strstr(cltrain_last_error(cx), "p =") != NULL, "message names p: %s", cltrain_last_error(cx));
    CHECK_STATUS(dropout_backward(cx, b, b, &a, OP_OVERWRITE), CLTRAIN_ERR_ARG);
  }
  dropout_args a = {8, 0.5f, 1, UINT64_MAX - 3};
  CHECK_STATUS(dropout_forward(cx, b, b, &a), CLTRAIN_ERR_ARG);
  a.offset = 0;
  a.n = (size_t)1 << 31;
  CHECK_STATUS(dropout_forward(cx, b, b, &a), CLTRAIN_ERR_ARG);
  a.n = 8;
  CHECK_STATUS(dropout_forward(cx, b, b, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(dropout_forward(cx, none, b, &a), CLTRAIN_ERR_ARG);
  CHECK_STATUS(dropout_backward(cx, b, none, &a, OP_OVERWRITE), CLTRAIN_ERR_ARG);
  CHECK_OK(dropout_backward(cx, none, none, &a, OP_OVERWRITE)); /* no gradient wanted */
  a.n = 0;
  CHECK_OK(dropout_forward(cx, b, b, &a));
  rt_free(b.mem);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"dropout_fc", "dropout_layer1", "dropout_odd", "dropout_one", "dropout_p0"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) pytorch_case(cx, cases[i]);
  large(cx);
  errors(cx);
  cltrain_context_destroy(cx);
  return check_done();
}
