/* sigmoid.h: the logistic sigmoid, elementwise, forward and backward on the device
 * (kernels/sigmoid.cl), and its C reference. */
#ifndef CLTRAIN_OPS_SIGMOID_H
#define CLTRAIN_OPS_SIGMOID_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = 1 / (1 + exp(-x)); y and x hold n floats (any shape); y may be x. */
cltrain_status sigmoid_forward(cltrain_context *cx, buf y, buf x, size_t n);

/* dx = dy * y * (1 - y), y the forward's output: overwritten, or added to with OP_ACCUMULATE.
 * dx with mem NULL is skipped; dx may be dy. */
cltrain_status sigmoid_backward(cltrain_context *cx, buf dx, buf dy, buf y, int accumulate_dx, size_t n);

/* The same on host arrays (sigmoid_ref.c), in double. */
void sigmoid_forward_ref(float *y, const float *x, size_t n);
void sigmoid_backward_ref(float *dx, const float *dy, const float *y, int accumulate_dx, size_t n);

#ifdef __cplusplus
}
#endif
#endif
