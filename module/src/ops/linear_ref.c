/* linear_ref.c: the fully connected layer on host arrays, summing in double: the oracle the
 * device version is checked against, and what a reader runs in their head. */
#include "ops/linear.h"

cltrain_status linear_forward_ref(float *y, const float *x, const float *w, const float *b,
                                  const linear_shape *s) {
  TRY(linear_check_shape(NULL, s));
  if (!y || !x || !w) return rt_fail(NULL, CLTRAIN_ERR_ARG, "linear_forward_ref: y, x and w must be arrays");
  for (int i = 0; i < s->n; i++)
    for (int j = 0; j < s->out; j++) {
      double acc = b ? b[j] : 0.0;
      for (int k = 0; k < s->in; k++) acc += (double)x[(size_t)i * s->in + k] * w[(size_t)j * s->in + k];
      y[(size_t)i * s->out + j] = (float)acc;
    }
  return CLTRAIN_OK;
}

cltrain_status linear_backward_ref(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, int accumulate_dx,
                                   const linear_shape *s) {
  TRY(linear_check_shape(NULL, s));
  if (!dy || (dx && !w) || (dw && !x))
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "linear_backward_ref: dy, and w for dx, x for dw must be arrays");
  if (dx)
    for (int i = 0; i < s->n; i++)
      for (int k = 0; k < s->in; k++) {
        double acc = accumulate_dx == OP_ACCUMULATE ? dx[(size_t)i * s->in + k] : 0.0;
        for (int j = 0; j < s->out; j++)
          acc += (double)dy[(size_t)i * s->out + j] * w[(size_t)j * s->in + k];
        dx[(size_t)i * s->in + k] = (float)acc;
      }
  if (dw)
    for (int j = 0; j < s->out; j++)
      for (int k = 0; k < s->in; k++) {
        double acc = dw[(size_t)j * s->in + k];
        for (int i = 0; i < s->n; i++)
          acc += (double)dy[(size_t)i * s->out + j] * x[(size_t)i * s->in + k];
        dw[(size_t)j * s->in + k] = (float)acc;
      }
  if (db)
    for (int j = 0; j < s->out; j++) {
      double acc = db[j];
      for (int i = 0; i < s->n; i++) acc += dy[(size_t)i * s->out + j];
      db[j] = (float)acc;
    }
  return CLTRAIN_OK;
}
