/* test_loss.c: softmax cross-entropy against PyTorch's float64 F.cross_entropy and autograd:
 * the ResNet-18 head sizes, odd sizes, label smoothing, huge and confident logits, more rows
 * than one work-group; argmax, determinism, bad labels, the C reference and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/loss.h"
#include "reftensor.h"

/* Loss: every row's loss is a sum of non-negative float32 terms (log1p of the softmax
 * denominator, minus non-positive centred logits), so nothing cancels and float32 lands within
 * a few ulps (~2e-7 relative); 1e-6 still catches a wrong target or mean (errors >= 1e-2).
 * Gradient: softmax - target cancels for the label's element, so the error is measured over
 * dlogits_scale = |dloss|/N (softmax + target), the size float32 rounding has per element
 * (about 1e-7 there); 1e-6 allows any exp() implementation within a few ulps. Plain relative
 * L2 is meaningless in the confident case: there PyTorch's own float32 gradient is 0.63 off
 * float64 (measured), cltrain's 0.48. */
#define TOL_LOSS 1e-6
#define TOL_GRAD_SCALED 1e-6
/* The C reference computes in double and rounds once to float32: within 2^-24 = 6e-8. */
#define TOL_REF 1e-7

static buf upload_ints(cltrain_context *cx, const int *host, size_t n, size_t off) {
  buf b = test_upload(cx, NULL, n + off);
  b.off = off;
  if (rt_write(cx, b, host, n * sizeof(int)) != CLTRAIN_OK) {
    fprintf(stderr, "FAIL: upload of %zu ints: %s\n", n, cltrain_last_error(cx));
    exit(1);
  }
  return b;
}

static double scaled_error(const float *got, const double *ref, const double *scale, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = got[i] - ref[i];
    num += d * d, den += scale[i] * scale[i];
  }
  return sqrt(num / den);
}

static void one_case(cltrain_context *cx, const char *name, double *worst_loss, double *worst_grad) {
  ref_set *r = ref_load(name);
  const ref_tensor *tl = ref_get(r, "logits");
  cross_entropy_shape s = {(int)tl->dims[0], (int)tl->dims[1], (float)ref_scalar(r, "eps")};
  size_t nk = (size_t)s.n * s.k;
  const float *logits = ref_f32(r, "logits", NULL);
  const int *labels = ref_i32(r, "labels", NULL), *argmax_ref = ref_i32(r, "argmax", NULL);
  const double *dl_ref = ref_f64(r, "dlogits", NULL), *dl_scale = ref_f64(r, "dlogits_scale", NULL);
  double loss_ref = ref_scalar(r, "loss");
  float dloss = (float)ref_scalar(r, "dloss");
  CHECK_OK(cross_entropy_check_labels(cx, labels, &s));

  /* Every operand at an offset, so a kernel that ignores one fails. */
  buf logits_ = test_upload(cx, NULL, nk + 3), out = test_upload(cx, NULL, 4 + nk);
  buf L = buf_at(logits_, 3), LOSS = buf_at(out, 1), DL = buf_at(out, 4);
  rt_write(cx, L, logits, nk * 4);
  buf LAB = upload_ints(cx, labels, s.n, 5), AM = upload_ints(cx, labels, s.n, 2);

  CHECK_OK(cross_entropy_forward(cx, LOSS, AM, L, LAB, &s));
  float loss;
  int *am = malloc(s.n * sizeof(int));
  rt_read(cx, &loss, LOSS, 4);
  rt_read(cx, am, AM, s.n * sizeof(int));
  double e = fabs(loss - loss_ref) / fabs(loss_ref);
  printf("%-18s n=%3d k=%4d eps=%.2f  loss %.6e vs %.6e: rel %.2e (tol %.0e)\n", name, s.n, s.k,
         (double)s.label_smoothing, (double)loss, loss_ref, e, TOL_LOSS);
  CHECK(e <= TOL_LOSS, "%s: loss relative error %.3e exceeds %.0e", name, e, TOL_LOSS);
  CHECK(memcmp(am, argmax_ref, s.n * sizeof(int)) == 0, "%s: argmax equals torch.argmax", name);
  if (e > *worst_loss) *worst_loss = e;

  /* Without argmax, and again: bitwise the same loss (the fixed-order reduction). */
  float loss2;
  CHECK_OK(cross_entropy_forward(cx, LOSS, buf_none(), L, LAB, &s));
  rt_read(cx, &loss2, LOSS, 4);
  CHECK(memcmp(&loss, &loss2, 4) == 0, "%s: a second forward gives the same bits", name);

  /* Backward overwrites dlogits, which starts as NaN. */
  float *nan = malloc(nk * 4);
  for (size_t i = 0; i < nk; i++) nan[i] = NAN;
  rt_write(cx, DL, nan, nk * 4);
  CHECK_OK(cross_entropy_backward(cx, DL, L, LAB, dloss, &s));
  float *dl = test_download(cx, DL, nk);
  double eg = scaled_error(dl, dl_ref, dl_scale, nk);
  printf("  dlogits  rel L2 %.2e  err/scale %.2e (tol %.0e)\n", rel_l2_f64(dl, dl_ref, nk), eg, TOL_GRAD_SCALED);
  CHECK(eg <= TOL_GRAD_SCALED, "%s: dlogits error %.3e of its scale exceeds %.0e", name, eg, TOL_GRAD_SCALED);
  if (eg > *worst_grad) *worst_grad = eg;

  /* The C reference against PyTorch. */
  float hloss, *hdl = malloc(nk * 4);
  int *ham = malloc(s.n * sizeof(int));
  CHECK_OK(cross_entropy_forward_ref(&hloss, ham, logits, labels, &s));
  CHECK_OK(cross_entropy_backward_ref(hdl, logits, labels, dloss, &s));
  CHECK(fabs(hloss - loss_ref) <= TOL_REF * fabs(loss_ref), "%s: C reference loss %.8e vs %.8e", name,
        (double)hloss, loss_ref);
  CHECK(memcmp(ham, argmax_ref, s.n * sizeof(int)) == 0, "%s: C reference argmax", name);
  double er = rel_l2_f64(hdl, dl_ref, nk);
  CHECK(er <= TOL_REF, "%s: C reference dlogits rel L2 %.3e exceeds %.0e", name, er, TOL_REF);

  free(am), free(nan), free(dl), free(hdl), free(ham);
  rt_free(logits_.mem), rt_free(out.mem), rt_free(LAB.mem), rt_free(AM.mem);
  ref_free(r);
}

/* Labels outside [0,K): the host check names them; on the device the row turns NaN and the
 * other rows keep their exact values. */
static void bad_labels(cltrain_context *cx) {
  enum { N = 3, K = 4 };
  cross_entropy_shape s = {N, K, 0.1f};
  float logits[N * K];
  fill_uniform(logits, N * K, 77, -2, 2);
  int good[N] = {0, 3, 1}, bad[N] = {0, 4, 1}, neg[N] = {-1, 3, 1};
  CHECK_OK(cross_entropy_check_labels(cx, good, &s));
  CHECK_STATUS(cross_entropy_check_labels(cx, bad, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "label 4 of row 1") != NULL, "bad label named: %s", cltrain_last_error(cx));
  CHECK_STATUS(cross_entropy_check_labels(cx, neg, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "label -1 of row 0") != NULL, "negative label named: %s", cltrain_last_error(cx));
  CHECK_STATUS(cross_entropy_check_labels(cx, NULL, &s), CLTRAIN_ERR_ARG);

  buf L = test_upload(cx, logits, N * K), LOSS = test_upload(cx, NULL, 1), DL = test_upload(cx, NULL, N * K);
  buf GOOD = upload_ints(cx, good, N, 0), BAD = upload_ints(cx, bad, N, 0), AM = upload_ints(cx, good, N, 0);
  float loss, dgood[N * K], dbad[N * K];
  CHECK_OK(cross_entropy_forward(cx, LOSS, AM, L, BAD, &s));
  rt_read(cx, &loss, LOSS, 4);
  CHECK(isnan(loss), "a label of K makes the loss NaN (got %g)", (double)loss);
  CHECK_OK(cross_entropy_backward(cx, DL, L, GOOD, 1.0f, &s));
  rt_read(cx, dgood, DL, sizeof dgood);
  CHECK_OK(cross_entropy_backward(cx, DL, L, BAD, 1.0f, &s));
  rt_read(cx, dbad, DL, sizeof dbad);
  int row1_nan = 1, others_same = 1;
  for (int j = 0; j < K; j++) {
    row1_nan &= isnan(dbad[K + j]);
    others_same &= dbad[j] == dgood[j] && dbad[2 * K + j] == dgood[2 * K + j];
  }
  CHECK(row1_nan && others_same, "a bad label makes its own gradient row NaN and no other");
  float hloss, hd[N * K];
  CHECK_OK(cross_entropy_forward_ref(&hloss, NULL, logits, neg, &s));
  CHECK_OK(cross_entropy_backward_ref(hd, logits, neg, 1.0f, &s));
  CHECK(isnan(hloss) && isnan(hd[0]) && !isnan(hd[K]), "the C reference does the same");
  rt_free(L.mem), rt_free(LOSS.mem), rt_free(DL.mem), rt_free(GOOD.mem), rt_free(BAD.mem), rt_free(AM.mem);
}

static void errors(cltrain_context *cx) {
  cross_entropy_shape s = {2, 3, 0.0f}, zero = {0, 3, 0.0f}, smooth = {2, 3, 1.5f}, nan_eps = {2, 3, NAN};
  buf a = test_upload(cx, NULL, 16), none = buf_none();
  CHECK_STATUS(cross_entropy_forward(cx, a, none, a, a, NULL), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "shape") != NULL, "NULL shape named: %s", cltrain_last_error(cx));
  CHECK_STATUS(cross_entropy_forward(cx, a, none, a, a, &zero), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "n=0") != NULL, "zero size named: %s", cltrain_last_error(cx));
  CHECK_STATUS(cross_entropy_forward(cx, a, none, a, a, &smooth), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "label_smoothing 1.5") != NULL, "smoothing named: %s", cltrain_last_error(cx));
  CHECK_STATUS(cross_entropy_backward(cx, a, a, a, 1.0f, &nan_eps), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cross_entropy_forward(cx, a, none, a, none, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "labels") != NULL, "missing labels named: %s", cltrain_last_error(cx));
  CHECK_STATUS(cross_entropy_backward(cx, none, a, a, 1.0f, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dlogits") != NULL, "missing dlogits named: %s", cltrain_last_error(cx));
  float h[6] = {0};
  int lab[2] = {0, 1};
  CHECK_STATUS(cross_entropy_forward_ref(NULL, NULL, h, lab, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cross_entropy_backward_ref(h, h, NULL, 1.0f, &s), CLTRAIN_ERR_ARG);
  rt_free(a.mem);
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *cases[] = {"xent_head2",       "xent_head1000",   "xent_batch16",     "xent_batch16_1000",
                         "xent_odd",         "xent_odd_smooth", "xent_huge_logits", "xent_confident",
                         "xent_many_rows",   "xent_full_smooth"};
  double worst_loss = 0, worst_grad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) one_case(cx, cases[i], &worst_loss, &worst_grad);
  printf("worst: loss relative error %.2e, dlogits error/scale %.2e\n", worst_loss, worst_grad);
  bad_labels(cx);
  errors(cx);
  cltrain_context_destroy(cx);
  return check_done();
}
