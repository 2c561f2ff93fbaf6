/* eltwise_ref.c: plain C references for eltwise.h, on host arrays. */
#include "ops/eltwise.h"

void add_forward_ref(float *y, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = (float)((double)a[i] + b[i]);
}

void add_backward_ref(float *da, float *db, const float *dy, size_t n, int accumulate_a, int accumulate_b) {
  for (size_t i = 0; i < n; i++) {
    if (da) da[i] = accumulate_a == OP_ACCUMULATE ? (float)((double)da[i] + dy[i]) : dy[i];
    if (db) db[i] = accumulate_b == OP_ACCUMULATE ? (float)((double)db[i] + dy[i]) : dy[i];
  }
}
