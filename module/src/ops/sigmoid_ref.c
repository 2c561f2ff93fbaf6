/* sigmoid_ref.c: the C reference for sigmoid.h on host arrays, in double. */
#include <math.h>

#include "ops/sigmoid.h"

void sigmoid_forward_ref(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

void sigmoid_backward_ref(float *dx, const float *dy, const float *y, int accumulate_dx, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double g = (double)dy[i] * y[i] * (1.0 - y[i]);
    dx[i] = (float)(accumulate_dx == OP_ACCUMULATE ? dx[i] + g : g);
  }
}
