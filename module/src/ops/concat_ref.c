/* concat_ref.c: the C reference for concat.h on host arrays. */
#include "ops/concat.h"

/* Index in y of element i of x. */
static size_t y_index(const concat_shape *s, size_t i) {
  size_t slab = (size_t)s->c_in * s->plane;
  return i / slab * s->c * s->plane + (size_t)s->c_off * s->plane + i % slab;
}

void concat_forward_ref(float *y, const float *x, const concat_shape *s) {
  size_t nx = (size_t)s->n * s->c_in * s->plane;
  for (size_t i = 0; i < nx; i++) y[y_index(s, i)] = x[i];
}

void concat_backward_ref(float *dx, const float *dy, int accumulate, const concat_shape *s) {
  size_t nx = (size_t)s->n * s->c_in * s->plane;
  for (size_t i = 0; i < nx; i++) dx[i] = accumulate == OP_ACCUMULATE ? dx[i] + dy[y_index(s, i)] : dy[y_index(s, i)];
}
