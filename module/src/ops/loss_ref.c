/* loss_ref.c: softmax cross-entropy on host arrays in double: the oracle for the kernels. */
#include <math.h>

#include "ops/loss.h"

/* Row i's log-sum-exp and first argmax. */
static double row_lse(const float *x, int k, int *am) {
  int arg = 0;
  for (int j = 1; j < k; j++)
    if (x[j] > x[arg]) arg = j;
  double s = 0;
  for (int j = 0; j < k; j++) s += exp((double)x[j] - x[arg]);
  *am = arg;
  return x[arg] + log(s);
}

cltrain_status cross_entropy_forward_ref(float *loss, int *argmax, const float *logits,
                                         const int *labels, const cross_entropy_shape *s) {
  TRY(cross_entropy_check_shape(NULL, s));
  if (!loss || !logits || !labels)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cross_entropy_forward_ref: loss, logits and labels must be arrays");
  double eps = s->label_smoothing, total = 0;
  for (int i = 0; i < s->n; i++) {
    const float *x = logits + (size_t)i * s->k;
    int am;
    double lse = row_lse(x, s->k, &am);
    if (argmax) argmax[i] = am;
    if (labels[i] < 0 || labels[i] >= s->k) {
      total += NAN;
      continue;
    }
    double l = 0; /* -sum_j target_j (x_j - lse) */
    for (int j = 0; j < s->k; j++) l -= eps / s->k * (x[j] - lse);
    total += l - (1 - eps) * (x[labels[i]] - lse);
  }
  *loss = (float)(total / s->n);
  return CLTRAIN_OK;
}

cltrain_status cross_entropy_backward_ref(float *dlogits, const float *logits, const int *labels,
                                          float dloss, const cross_entropy_shape *s) {
  TRY(cross_entropy_check_shape(NULL, s));
  if (!dlogits || !logits || !labels)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cross_entropy_backward_ref: dlogits, logits and labels must be arrays");
  double eps = s->label_smoothing, scale = (double)dloss / s->n;
  for (int i = 0; i < s->n; i++) {
    const float *x = logits + (size_t)i * s->k;
    float *dx = dlogits + (size_t)i * s->k;
    int am, bad = labels[i] < 0 || labels[i] >= s->k;
    double lse = row_lse(x, s->k, &am);
    for (int j = 0; j < s->k; j++) {
      double target = (j == labels[i] ? 1 - eps : 0) + eps / s->k;
      dx[j] = bad ? NAN : (float)(scale * (exp(x[j] - lse) - target));
    }
  }
  return CLTRAIN_OK;
}
