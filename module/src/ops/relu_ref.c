/* relu_ref.c: the C reference of relu.h on host arrays. */
#include "ops/relu.h"

cltrain_status relu_forward_ref(float *y, const float *x, size_t n) {
  if (!y || !x) return rt_fail(NULL, CLTRAIN_ERR_ARG, "relu_forward_ref: y or x is NULL");
  for (size_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];
  return CLTRAIN_OK;
}

cltrain_status relu_backward_ref(float *dx, const float *dy, const float *y, int accumulate_dx,
                                 size_t n) {
  if (!dx) return CLTRAIN_OK;
  if (!dy || !y) return rt_fail(NULL, CLTRAIN_ERR_ARG, "relu_backward_ref: dy or y is NULL");
  for (size_t i = 0; i < n; i++) {
    float v = y[i] > 0 ? dy[i] : 0;
    dx[i] = accumulate_dx == OP_ACCUMULATE ? dx[i] + v : v;
  }
  return CLTRAIN_OK;
}
