/* test_sgd.c: the SGD update against torch.optim.SGD run in float64 for several steps (plain,
 * momentum, dampening, weight decay, Nesterov), beside PyTorch's own float32 run; sub-range
 * updates for per-group learning rates, determinism, the C reference and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reftensor.h"
#include "ops/sgd.h"

/* Tolerances. The parameters are compared by the change they made, p_k - p_0 (weights barely
 * move in a few steps, so a weight-relative bound would pass almost anything). Each step rounds
 * p to float32, an error of up to half an ulp of |p| (~3e-8 for |p| < 1) against a change of
 * lr*|d| (1e-3 .. 1e-1 here), so even a perfect float32 update errs by ~1e-5 relative to the
 * change at lr 1e-3. The bound is therefore PyTorch float32's own error on the same steps
 * (measured against float64) times 3, or, when larger, the worst case of k roundings of p in k
 * steps, k 2^-24 ||p_k|| / ||p_k - p_0|| (this decides for tiny n, where one element's luck
 * decides PyTorch's error), plus 1e-7 for the rounding of the float32 hyper-parameters.
 * The momentum buffer, an average of gradients, gets 3x PyTorch's error plus the same 1e-7. */
#define FACTOR 3.0
#define FLOOR 1e-7

/* ||(got - p0) - (ref - p0)|| / ||ref - p0||, ref in double or float. */
static double change_error(const float *got, const float *p0, const double *ref64,
                           const float *ref32, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double r = ref64[i] - p0[i], gd = (ref32 ? (double)ref32[i] : (double)got[i]) - p0[i];
    num += (gd - r) * (gd - r), den += r * r;
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void one_case(cltrain_context *cx, const char *name, double *worst_p, double *worst_m) {
  ref_set *r = ref_load(name);
  const ref_tensor *tg = ref_get(r, "g");
  int steps = (int)tg->dims[0];
  size_t n = (size_t)tg->dims[1];
  sgd_params h = {(float)ref_scalar(r, "lr"), (float)ref_scalar(r, "momentum"),
                  (float)ref_scalar(r, "dampening"), (float)ref_scalar(r, "weight_decay"),
                  (int)ref_scalar(r, "nesterov")};
  const float *p0 = ref_f32(r, "p0", NULL), *g = ref_f32(r, "g", NULL);
  const float *p32 = ref_f32(r, "p_f32", NULL), *m32 = ref_f32(r, "m_f32", NULL);
  const double *pref = ref_f64(r, "p", NULL), *mref = ref_f64(r, "m", NULL);
  int has_m = h.momentum != 0.0f;
  printf("%s: n=%zu lr=%g momentum=%g dampening=%g wd=%g nesterov=%d\n", name, n, (double)h.lr,
         (double)h.momentum, (double)h.dampening, (double)h.weight_decay, h.nesterov);

  /* m starts as NaN: the first step must not read it. Offsets everywhere. */
  float *nan = malloc(n * 4);
  for (size_t i = 0; i < n; i++) nan[i] = NAN;
  buf P = buf_at(test_upload(cx, NULL, n + 3), 3), M = buf_at(test_upload(cx, NULL, n + 1), 1),
      G = buf_at(test_upload(cx, NULL, steps * n + 2), 2);
  rt_write(cx, P, p0, n * 4), rt_write(cx, M, nan, n * 4), rt_write(cx, G, g, steps * n * 4);
  float *hp = malloc(n * 4), *hm = malloc(n * 4);
  memcpy(hp, p0, n * 4), memcpy(hm, nan, n * 4);

  for (int k = 0; k < steps; k++) {
    CHECK_OK(sgd_update(cx, P, has_m ? M : buf_none(), buf_at(G, k * n), n, &h, k == 0));
    CHECK_OK(sgd_update_ref(hp, has_m ? hm : NULL, g + k * n, n, &h, k == 0));
    float *gp = test_download(cx, P, n), *gm = test_download(cx, M, n);
    const double *pk = pref + k * n, *mk = mref + k * n;
    double ep = change_error(gp, p0, pk, NULL, n), ep32 = change_error(NULL, p0, pk, p32 + k * n, n);
    double eh = change_error(hp, p0, pk, NULL, n);
    double norm_p = 0, norm_change = 0;
    for (size_t i = 0; i < n; i++)
      norm_p += pk[i] * pk[i], norm_change += (pk[i] - p0[i]) * (pk[i] - p0[i]);
    double rounding = (k + 1) * ldexp(1.0, -24) * sqrt(norm_p / norm_change);
    double tol = fmax(FACTOR * ep32, rounding) + FLOOR;
    printf("  step %d  change of p: cltrain %.2e  C ref %.2e  torch f32 %.2e  (tol %.2e)\n", k + 1,
           ep, eh, ep32, tol);
    CHECK(ep <= tol, "%s step %d: p change error %.3e exceeds %.3e", name, k + 1, ep, tol);
    CHECK(eh <= tol, "%s step %d: C reference p change error %.3e exceeds %.3e", name, k + 1, eh, tol);
    if (ep > *worst_p) *worst_p = ep;
    if (has_m) {
      double em = rel_l2_f64(gm, mk, n), em32 = rel_l2_f64(m32 + k * n, mk, n), emh = rel_l2_f64(hm, mk, n);
      double tm = FACTOR * em32 + FLOOR;
      printf("          momentum:    cltrain %.2e  C ref %.2e  torch f32 %.2e  (tol %.2e)\n", em, emh, em32, tm);
      CHECK(em <= tm, "%s step %d: momentum error %.3e exceeds %.3e", name, k + 1, em, tm);
      CHECK(emh <= tm, "%s step %d: C reference momentum error %.3e exceeds %.3e", name, k + 1, emh, tm);
      if (em > *worst_m) *worst_m = em;
    } else {
      CHECK(memcmp(gm, nan, n * 4) == 0, "%s: without momentum m is never written", name);
    }
    free(gp), free(gm);
  }
  free(nan), free(hp), free(hm);
  rt_free(P.mem), rt_free(M.mem), rt_free(G.mem);
  ref_free(r);
}

/* Two parameter groups in one block, each with its own lr through offsets: elements outside
 * a call's range stay bitwise untouched, and a second run repeats the same bits. */
static void sub_ranges(cltrain_context *cx) {
  enum { N = 37, A = 11 }; /* group 1 is [0,A), group 2 is [A,N) */
  float p0[N], g[N], m0[N];
  fill_uniform(p0, N, 1, -1, 1), fill_uniform(g, N, 2, -1, 1), fill_uniform(m0, N, 3, -1, 1);
  sgd_params h1 = {0.1f, 0.9f, 0.0f, 1e-4f, 1}, h2 = {0.01f, 0.9f, 0.0f, 1e-4f, 1};
  buf P = test_upload(cx, p0, N), M = test_upload(cx, m0, N), G = test_upload(cx, g, N);
  CHECK_OK(sgd_update(cx, buf_at(P, A), buf_at(M, A), buf_at(G, A), N - A, &h2, 0));
  float *p = test_download(cx, P, N), *m = test_download(cx, M, N);
  CHECK(memcmp(p, p0, A * 4) == 0 && memcmp(m, m0, A * 4) == 0, "group 1 untouched by group 2's step");
  CHECK_OK(sgd_update(cx, P, M, G, A, &h1, 0));
  float *p2 = test_download(cx, P, N), *m2 = test_download(cx, M, N);
  CHECK(memcmp(p2 + A, p + A, (N - A) * 4) == 0 && memcmp(m2 + A, m + A, (N - A) * 4) == 0,
        "group 2 untouched by group 1's step");
  float hp[N], hm[N];
  memcpy(hp, p0, sizeof hp), memcpy(hm, m0, sizeof hm);
  CHECK_OK(sgd_update_ref(hp, hm, g, A, &h1, 0));
  CHECK_OK(sgd_update_ref(hp + A, hm + A, g + A, N - A, &h2, 0));
  /* One elementwise step: float32 against double rounding, a few ulps of |p| at most. */
  CHECK(max_abs_diff(p2, hp, N) <= 2.4e-7 && max_abs_diff(m2, hm, N) <= 2.4e-7,
        "groups match the C reference (max abs %.2e, %.2e)", max_abs_diff(p2, hp, N), max_abs_diff(m2, hm, N));
  /* Determinism. */
  rt_write(cx, P, p0, sizeof p0), rt_write(cx, M, m0, sizeof m0);
  CHECK_OK(sgd_update(cx, buf_at(P, A), buf_at(M, A), buf_at(G, A), N - A, &h2, 0));
  CHECK_OK(sgd_update(cx, P, M, G, A, &h1, 0));
  float *p3 = test_download(cx, P, N), *m3 = test_download(cx, M, N);
  CHECK(memcmp(p3, p2, sizeof p0) == 0 && memcmp(m3, m2, sizeof m0) == 0, "a repeated step gives the same bits");
  /* lr 0 with momentum: p stays, m still moves. */
  sgd_params frozen = {0.0f, 0.9f, 0.0f, 0.0f, 0};
  rt_write(cx, P, p0, sizeof p0);
  CHECK_OK(sgd_update(cx, P, M, G, N, &frozen, 0));
  float *p4 = test_download(cx, P, N);
  CHECK(memcmp(p4, p0, sizeof p0) == 0, "lr 0 leaves p bitwise unchanged");
  free(p), free(m), free(p2), free(m2), free(p3), free(m3), free(p4);
  rt_free(P.mem), rt_free(M.mem), rt_free(G.mem);
}

static void errors(cltrain_context *cx) {
  buf a = test_upload(cx, NULL, 8), none = buf_none();
  sgd_params ok = {0.1f, 0.9f, 0.0f, 0.0f, 0};
  struct {
    sgd_params h;
    const char *named;
  } bad[] = {
      {{-0.1f, 0.0f, 0.0f, 0.0f, 0}, "learning rate -0.1"},
      {{NAN, 0.0f, 0.0f, 0.0f, 0}, "learning rate nan"},
      {{0.1f, -0.5f, 0.0f, 0.0f, 0}, "momentum -0.5"},
      {{0.1f, 0.9f, 0.0f, -1e-4f, 0}, "weight_decay -0.0001"},
      {{0.1f, 0.9f, NAN, 0.0f, 0}, "dampening is NaN"},
      {{0.1f, 0.0f, 0.0f, 0.0f, 1}, "nesterov needs momentum > 0"},
      {{0.1f, 0.9f, 0.1f, 0.0f, 1}, "dampening 0.1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK_STATUS(sgd_update(cx, a, a, a, 8, &bad[i].h, 0), CLTRAIN_ERR_ARG);
    CHECK(strstr(cltrain_last_error(cx), bad[i].named) != NULL, "error names \"%s\": %s", bad[i].named,
          cltrain_last_error(cx));
  }
  CHECK_STATUS(sgd_update(cx, a, a, a, 8, NULL, 0), CLTRAIN_ERR_ARG);
  CHECK_STATUS(sgd_update(cx, a, none, a, 8, &ok, 0), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "momentum is not 0") != NULL, "missing m named: %s", cltrain_last_error(cx));
  CHECK_STATUS(sgd_update(cx, none, a, a, 8, &ok, 0), CLTRAIN_ERR_ARG);
  CHECK_STATUS(sgd_update(cx, a, a, a, (size_t)1 << 31, &ok, 0), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "int indexing") != NULL, "size overflow named: %s", cltrain_last_error(cx));
  CHECK_OK(sgd_update(cx, a, a, a, 0, &ok, 0)); /* an empty block is no error */
  float h[2] = {0};
  CHECK_STATUS(sgd_update_ref(h, NULL, h, 2, &ok, 0), CLTRAIN_ERR_ARG);
  rt_free(a.mem);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"sgd_plain",      "sgd_momentum", "sgd_dampening", "sgd_weight_decay",
                         "sgd_decay_only", "sgd_nesterov", "sgd_one"};
  double worst_p = 0, worst_m = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one_case(cx, cases[i], &worst_p, &worst_m);
  printf("worst: p change error %.2e, momentum error %.2e\n", worst_p, worst_m);
  sub_ranges(cx);
  errors(cx);
  cltrain_context_destroy(cx);
  return check_done();
}
