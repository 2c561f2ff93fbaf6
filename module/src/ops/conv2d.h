/* conv2d.h: 2-D convolution (NCHW, optionally grouped) as im2col plus SGEMM (blas.h), forward
 * and backward, and its double-accumulating C reference on host arrays. */
#ifndef CLTRAIN_OPS_CONV2D_H
#define CLTRAIN_OPS_CONV2D_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x is (n,c,h,w), w is (k,c/groups,r,s); padding is symmetric per axis (pad_h rows above and
 * below). groups (0 or 1: none) splits the channels as ONNX's `group` does: output channels
 * [g*k/groups, (g+1)*k/groups) see input channels [g*c/groups, (g+1)*c/groups) only. */
typedef struct conv2d_shape {
  int n, c, h, w;
  int k, r, s;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int winograd; /* conv2d_winograd_mode: 0 off, 1 C >= 256, 2 all, 3 C >= 128 (native default) */
  int groups;   /* 0 or 1: an ordinary convolution; else it divides c and k */
} conv2d_shape;

static inline int conv2d_groups(const conv2d_shape *s) { return s->groups > 1 ? s->groups : 1; }

/* conv2d_shape.winograd for cx: its CLTRAIN_OPT_CONV_WINOGRAD (-1 off, 1, 2), and for the
 * option's default 0 the backend's default: 3 on the native GEMM backend, else 0. */
int conv2d_winograd_mode(const cltrain_context *cx);

static inline int conv2d_out_h(const conv2d_shape *s) {
  return s->stride_h > 0 ? (s->h + 2 * s->pad_h - s->dil_h * (s->r - 1) - 1) / s->stride_h + 1 : 0;
}
static inline int conv2d_out_w(const conv2d_shape *s) {
  return s->stride_w > 0 ? (s->w + 2 * s->pad_w - s->dil_w * (s->s - 1) - 1) / s->stride_w + 1 : 0;
}

/* CLTRAIN_OK, or CLTRAIN_ERR_ARG with a message naming the bad field (non-positive sizes,
 * strides or dilations, negative padding, an empty output, groups that are negative or do not
 * divide c and k, sizes beyond int range). */
cltrain_status conv2d_check_shape(cltrain_context *cx, const conv2d_shape *s);

/* Floats of scratch that conv2d_forward and conv2d_backward need (one value covers both): the
 * im2col matrix of a chunk of images (up to 4M floats, or one image if larger), the chunk's
 * GEMM output, and a reshaped copy of w. Layers can share one workspace of their maximum. */
size_t conv2d_workspace_floats(const conv2d_shape *s);

/* y = conv(x, w) + b.
 * y is (N,K,OH,OW), x is (N,C,H,W), w is (K,C/groups,R,S), b is (K) or mem NULL for no bias,
 * workspace holds conv2d_workspace_floats(s) floats. */
cltrain_status conv2d_forward(cltrain_context *cx, buf y, buf x, buf w, buf b, buf workspace,
                              const conv2d_shape *s);

/* Gradients of y = conv(x, w) + b given dy = dL/dy.
 * dx is (N,C,H,W): overwritten, or added to when accumulate_dx is OP_ACCUMULATE;
 * dw is (K,C/groups,R,S) and db is (K): added to (+=). Any of dx, dw, db with mem NULL is skipped.
 * dy is (N,K,OH,OW), x is (N,C,H,W) (unused when dw is skipped), w is (K,C/groups,R,S) (unused when dx
 * is skipped), workspace holds conv2d_workspace_floats(s) floats.
 * Deterministic: every sum runs in a fixed order, so two runs give bitwise equal results. */
/* db (K) += the sum of dy (N,K,P) over images and positions; conv2d_backward and the depthwise
 * convolution use it. */
cltrain_status conv2d_backward_bias(cltrain_context *cx, buf db, buf dy, int n, int k, size_t p);
cltrain_status conv2d_backward(cltrain_context *cx, buf dx, buf dw, buf db, buf dy, buf x, buf w,
                               buf workspace, int accumulate_dx, const conv2d_shape *s);

/* The same on host arrays, summing in double. b, dx, dw, db may be NULL (as mem NULL above). */
cltrain_status conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_shape *s);
cltrain_status conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, int accumulate_dx,
                                   const conv2d_shape *s);

#ifdef __cplusplus
}
#endif
#endif
