/* batchnorm.h: 2-D batch normalisation (NCHW) with PyTorch's semantics, in train mode (batch
 * statistics, running-statistics update) and eval mode (running statistics), forward and
 * backward, plain or fused with a following ReLU; and its double-accumulating C reference. */
#ifndef CLTRAIN_OPS_BATCHNORM_H
#define CLTRAIN_OPS_BATCHNORM_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x is (n,c,h,w); statistics are per channel over M = n*h*w values. */
typedef struct batchnorm_shape {
  int n, c, h, w;
  float eps;      /* added to the variance: 1e-5 in torchvision */
  float momentum; /* running = (1 - momentum) * running + momentum * batch: 0.1 in PyTorch */
} batchnorm_shape;

/* CLTRAIN_OK, or CLTRAIN_ERR_ARG naming the bad field: non-positive sizes, sizes beyond int
 * range, eps not positive, momentum outside [0,1], or (training) one value per channel, where the
 * variance is undefined (PyTorch refuses it too). */
cltrain_status batchnorm_check_shape(cltrain_context *cx, const batchnorm_shape *s, int training);

/* Floats of scratch that batchnorm_forward and batchnorm_backward need (one value covers both,
 * fused or not): two partial sums per (image, channel, piece of the plane) plus 4*C. */
size_t batchnorm_workspace_floats(const batchnorm_shape *s);

/* y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * training != 0: mean and var are the batch's (biased variance); running_mean and running_var
 *   are moved toward them (the variance unbiased, times M/(M-1)); saved gets (mean, invstd).
 * training == 0: mean and var are running_mean and running_var, left alone; saved gets
 *   (running_mean, 1/sqrt(running_var + eps)), or saved's mem may be NULL if no backward follows.
 * y is (N,C,H,W) and may be x when no backward follows, x is (N,C,H,W), saved is (2,C),
 * running_mean, running_var, gamma and beta are (C), workspace holds
 * batchnorm_workspace_floats(s) floats (unused in eval mode with saved present). */
cltrain_status batchnorm_forward(cltrain_context *cx, buf y, buf saved, buf running_mean,
                                 buf running_var, buf x, buf gamma, buf beta, buf workspace,
                                 int training, const batchnorm_shape *s);

/* Gradients of batchnorm_forward, in the same mode, given dy = dL/dy.
 * dx is (N,C,H,W): overwritten, or added to when accumulate_dx is OP_ACCUMULATE; it may be dy.
 * dgamma and dbeta are (C): added to (+=). Any of dx, dgamma, dbeta with mem NULL is skipped.
 * Train mode: dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)), xhat = (x-mean)*invstd.
 * Eval mode: dx = gamma*invstd * dy.
 * dy and x are (N,C,H,W), gamma is (C), saved is (2,C) as the forward left it, workspace holds
 * batchnorm_workspace_floats(s) floats. Deterministic: two runs give bitwise equal results. */
cltrain_status batchnorm_backward(cltrain_context *cx, buf dx, buf dgamma, buf dbeta, buf dy,
                                  buf x, buf gamma, buf saved, buf workspace, int training,
                                  int accumulate_dx, const batchnorm_shape *s);

/* Fused batch normalisation and ReLU: y = max(batchnorm(x), 0), arguments as batchnorm_forward
 * (y must not be x when a backward follows: backward needs both). */
cltrain_status batchnorm_relu_forward(cltrain_context *cx, buf y, buf saved, buf running_mean,
                                      buf running_var, buf x, buf gamma, buf beta, buf workspace,
                                      int training, const batchnorm_shape *s);

/* Gradients of batchnorm_relu_forward: batchnorm_backward with dy masked by y > 0, where y is the
 * fused forward's output (N,C,H,W). */
cltrain_status batchnorm_relu_backward(cltrain_context *cx, buf dx, buf dgamma, buf dbeta, buf dy,
                                       buf y, buf x, buf gamma, buf saved, buf workspace,
                                       int training, int accumulate_dx, const batchnorm_shape *s);

/* The same on host arrays, summing in double. saved may be NULL in eval mode; dx, dgamma, dbeta
 * may be NULL (as mem NULL above). */
cltrain_status batchnorm_forward_ref(float *y, float *saved, float *running_mean,
                                     float *running_var, const float *x, const float *gamma,
                                     const float *beta, int training, const batchnorm_shape *s);
cltrain_status batchnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                                      const float *x, const float *gamma, const float *saved,
                                      int training, int accumulate_dx, const batchnorm_shape *s);
cltrain_status batchnorm_relu_forward_ref(float *y, float *saved, float *running_mean,
                                          float *running_var, const float *x, const float *gamma,
                                          const float *beta, int training,
                                          const batchnorm_shape *s);
cltrain_status batchnorm_relu_backward_ref(float *dx, float *dgamma, float *dbeta,
                                           const float *dy, const float *y, const float *x,
                                           const float *gamma, const float *saved, int training,
                                           int accumulate_dx, const batchnorm_shape *s);

#ifdef __cplusplus
}
#endif
#endif
