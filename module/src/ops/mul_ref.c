/* mul_ref.c: the C reference for mul.h on host arrays, sums in double. */
#include "ops/mul.h"

void mul_forward_ref(float *y, const float *a, const float *b, const mul_shape *s) {
  for (size_t i = 0; i < s->n; i++) y[i] = (float)((double)a[i] * b[i / (size_t)s->plane]);
}

void mul_backward_ref(float *da, float *db, const float *dy, const float *a, const float *b, int accumulate_a,
                      int accumulate_b, const mul_shape *s) {
  size_t p = (size_t)s->plane;
  for (size_t i = 0; da && i < s->n; i++) {
    double g = (double)dy[i] * b[i / p];
    da[i] = (float)(accumulate_a == OP_ACCUMULATE ? da[i] + g : g);
  }
  for (size_t j = 0; db && j < s->n / p; j++) {
    double g = 0;
    for (size_t q = 0; q < p; q++) g += (double)dy[j * p + q] * a[j * p + q];
    db[j] = (float)(accumulate_b == OP_ACCUMULATE ? db[j] + g : g);
  }
}
