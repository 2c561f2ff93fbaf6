/* sgd_ref.c: torch.optim.SGD's update on host arrays, each element in double. */
#include "ops/sgd.h"

cltrain_status sgd_update_ref(float *p, float *m, const float *g, size_t n, const sgd_params *h,
                              int first) {
  TRY(sgd_check_params(NULL, h));
  if (!p || !g || (h->momentum != 0.0f && !m))
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "sgd_update_ref: p, g (and m with momentum) must be arrays");
  for (size_t i = 0; i < n; i++) {
    double d = (double)g[i] + (double)h->weight_decay * p[i];
    if (h->momentum != 0.0f) {
      double b = first ? d : (double)h->momentum * m[i] + (1.0 - h->dampening) * d;
      m[i] = (float)b;
      d = h->nesterov ? d + (double)h->momentum * b : b;
    }
    p[i] = (float)(p[i] - (double)h->lr * d);
  }
  return CLTRAIN_OK;
}
