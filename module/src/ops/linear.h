/* linear.h: the fully connected layer y = x·Wᵀ + b (torch.nn.Linear), forward and backward over
 * CLBlast SGEMM, and its double-accumulating C reference on host arrays. */
#ifndef CLTRAIN_OPS_LINEAR_H
#define CLTRAIN_OPS_LINEAR_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x is (n,in), w is (out,in) as torch stores it, y is (n,out). */
typedef struct linear_shape {
  int n, in, out;
} linear_shape;

/* CLTRAIN_OK, or CLTRAIN_ERR_ARG naming the bad field (NULL, non-positive, beyond int range). */
cltrain_status linear_check_shape(cltrain_context *cx, const linear_shape *s);

/* y = x·Wᵀ + b.
 * y is (N,OUT), x is (N,IN), w is (OUT,IN), b is (OUT) or mem NULL for no bias. */
cltrain_status linear_forward(cltrain_context *cx, buf y, buf x, buf w, buf b,
                              const linear_shape *s);

/* Gradients of y = x·Wᵀ + b given dy = dL/dy.
 * dx is (N,IN) = dy·W: overwritten, or added to when accumulate_dx is OP_ACCUMULATE;
 * dw is (OUT,IN) += dyᵀ·x and db is (OUT) += the column sums of dy.
 * Any of dx, dw, db with mem NULL is skipped. dy is (N,OUT), x is (N,IN) (unused when dw is
 * skipped), w is (OUT,IN) (unused when dx is skipped).
 * Deterministic: every sum runs in a fixed order, so two runs give bitwise equal results. */
cltrain_status linear_backward(cltrain_context *cx, buf dx, buf dw, buf db, buf dy, buf x, buf w,
                               int accumulate_dx, const linear_shape *s);

/* The same on host arrays, summing in double. b, dx, dw, db may be NULL (as mem NULL above). */
cltrain_status linear_forward_ref(float *y, const float *x, const float *w, const float *b,
                                  const linear_shape *s);
cltrain_status linear_backward_ref(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, int accumulate_dx,
                                   const linear_shape *s);

#ifdef __cplusplus
}
#endif
#endif
