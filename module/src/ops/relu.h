/* relu.h: the rectified linear unit, elementwise on any tensor, forward and backward, and its
 * C reference on host arrays. */
#ifndef CLTRAIN_OPS_RELU_H
#define CLTRAIN_OPS_RELU_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = max(x, 0) (NaN passes through, as in PyTorch).
 * y and x hold n floats (any shape); y may be x (in place). */
cltrain_status relu_forward(cltrain_context *cx, buf y, buf x, size_t n);

/* dx = dy where y > 0, else 0: overwritten, or added to when accumulate_dx is OP_ACCUMULATE.
 * dx, dy and y hold n floats; y is the forward's output; dx may be dy (in place). dx with mem
 * NULL is skipped. */
cltrain_status relu_backward(cltrain_context *cx, buf dx, buf dy, buf y, int accumulate_dx,
                             size_t n);

/* The same on host arrays. */
cltrain_status relu_forward_ref(float *y, const float *x, size_t n);
cltrain_status relu_backward_ref(float *dx, const float *dy, const float *y, int accumulate_dx,
                                 size_t n);

#ifdef __cplusplus
}
#endif
#endif
