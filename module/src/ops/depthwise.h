/* depthwise.h: depthwise 2-D convolution (NCHW, one R x S filter per channel: ONNX Conv with
 * group = C and K = C, MobileNet's and EfficientNet's 3x3 and 5x5), forward and backward on the
 * device (kernels/depthwise.cl, no im2col: it is memory-bound), and its C reference. */
#ifndef CLTRAIN_OPS_DEPTHWISE_H
#define CLTRAIN_OPS_DEPTHWISE_H

#include "ops/conv2d.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shape is conv2d's with k == c (checked, with conv2d_check_shape's rules); w is (C,1,R,S). */

/* y = dwconv(x, w) + b. y is (N,C,OH,OW), x is (N,C,H,W), w is (C,1,R,S), b is (C) or mem NULL. */
cltrain_status depthwise_forward(cltrain_context *cx, buf y, buf x, buf w, buf b, const conv2d_shape *s);

/* dx (N,C,H,W) overwritten or, with OP_ACCUMULATE, added to; dw (C,1,R,S) and db (C) accumulate.
 * Any of dx, dw, db with mem NULL is skipped. dy is (N,C,OH,OW), x the forward's input. */
cltrain_status depthwise_backward(cltrain_context *cx, buf dx, buf dw, buf db, buf dy, buf x, buf w,
                                  int accumulate_dx, const conv2d_shape *s);

/* The same on host arrays, sums in double (depthwise_ref.c); NULL dx, dw or db is skipped. */
void depthwise_forward_ref(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s);
void depthwise_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            int accumulate_dx, const conv2d_shape *s);

#ifdef __cplusplus
}
#endif
#endif
