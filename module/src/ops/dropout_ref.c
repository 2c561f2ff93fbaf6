/* dropout_ref.c: the dropout mask and its application on the host, through core/rng.h. The
 * products are single float32 multiplications, as on the device, so results match bitwise. */
#include "ops/dropout.h"

#include "core/rng.h"

int dropout_keep_ref(const dropout_args *a, size_t i) {
  cltrain_rng r = {a->seed, a->offset + i};
  return rng_uniform(&r) >= a->p;
}

void dropout_forward_ref(float *y, const float *x, const dropout_args *a) {
  float scale = 1.0f / (1.0f - a->p);
  for (size_t i = 0; i < a->n; i++) y[i] = x[i] * (dropout_keep_ref(a, i) ? scale : 0.0f);
}

void dropout_backward_ref(float *dx, const float *dy, const dropout_args *a, int accumulate) {
  float scale = 1.0f / (1.0f - a->p);
  for (size_t i = 0; i < a->n; i++) {
    float g = dy[i] * (dropout_keep_ref(a, i) ? scale : 0.0f);
    dx[i] = accumulate == OP_ACCUMULATE ? dx[i] + g : g;
  }
}
