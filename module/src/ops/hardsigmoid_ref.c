/* hardsigmoid_ref.c: the C reference for hardsigmoid.h on host arrays, in double. */
#include "ops/hardsigmoid.h"

void hardsigmoid_forward_ref(float *y, const float *x, float alpha, float beta, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double v = (double)alpha * x[i] + beta;
    y[i] = (float)(v <= 0 ? 0 : v >= 1 ? 1 : v);
  }
}

void hardsigmoid_backward_ref(float *dx, const float *dy, const float *x, float alpha, float beta,
                              int accumulate_dx, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double v = (double)alpha * x[i] + beta, g = v > 0 && v < 1 ? (double)alpha * dy[i] : 0;
    dx[i] = (float)(accumulate_dx == OP_ACCUMULATE ? dx[i] + g : g);
  }
}
