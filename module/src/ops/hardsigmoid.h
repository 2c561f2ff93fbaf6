/* hardsigmoid.h: ONNX HardSigmoid y = clamp(alpha * x + beta, 0, 1), elementwise, forward and
 * backward on the device (kernels/hardsigmoid.cl), and its C reference. */
#ifndef CLTRAIN_OPS_HARDSIGMOID_H
#define CLTRAIN_OPS_HARDSIGMOID_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.nn.Hardsigmoid as ONNX writes it. */
#define HARDSIGMOID_TORCH_ALPHA (1.0f / 6.0f)
#define HARDSIGMOID_TORCH_BETA 0.5f

/* y and x hold n floats (any shape); y may be x. alpha must be positive (CLTRAIN_ERR_ARG). */
cltrain_status hardsigmoid_forward(cltrain_context *cx, buf y, buf x, float alpha, float beta, size_t n);

/* dx = alpha * dy where 0 < alpha * x + beta < 1, else 0: overwritten, or added to with
 * OP_ACCUMULATE. x is the forward's input. dx with mem NULL is skipped; dx may be dy. */
cltrain_status hardsigmoid_backward(cltrain_context *cx, buf dx, buf dy, buf x, float alpha, float beta,
                                    int accumulate_dx, size_t n);

/* The same on host arrays (hardsigmoid_ref.c), in double. */
void hardsigmoid_forward_ref(float *y, const float *x, float alpha, float beta, size_t n);
void hardsigmoid_backward_ref(float *dx, const float *dy, const float *x, float alpha, float beta,
                              int accumulate_dx, size_t n);

#ifdef __cplusplus
}
#endif
#endif
