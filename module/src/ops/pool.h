/* pool.h: 2-D pooling: max pooling with argmax indices (ResNet's stem), average pooling with a
 * window (count_include_pad, as PyTorch's default) and global average pooling (ResNet's head).
 * Floor mode only, no dilation: what torchvision's ResNets use. */
#ifndef CLTRAIN_POOL_H
#define CLTRAIN_POOL_H

#include "ops/ops.h"

typedef struct pool2d_shape {
  int n, c, h, w;         /* input (N,C,H,W) */
  int kh, kw, sh, sw, ph, pw;
  int oh, ow;             /* output (N,C,OH,OW): (h + 2*ph - kh) / sh + 1, floor mode */
} pool2d_shape;

/* A square window of size k, stride and padding, with the output size filled in. Validity is
 * checked by the ops (pool2d_check), not here. */
pool2d_shape pool2d_make(int n, int c, int h, int w, int k, int stride, int pad);

/* CLTRAIN_ERR_ARG (message naming the field) unless sizes are positive, padding is at most half
 * the window (as PyTorch requires, so every window holds an input element) and oh/ow agree. */
cltrain_status pool2d_check(cltrain_context *cx, const pool2d_shape *s);

/* ---- max pooling ----
 * Padding counts as -inf and is never selected. idx holds, per output, the flat index h*W + w of
 * its max inside the input plane (PyTorch's return_indices); ties take the first max in
 * row-major window order, and a NaN always replaces, so the last NaN wins (PyTorch's CPU rule). */

/* y is (N,C,OH,OW), idx is (N,C,OH,OW) int32 (its offset counts ints), x is (N,C,H,W) */
cltrain_status maxpool2d_forward(cltrain_context *cx, buf y, buf idx, buf x, const pool2d_shape *s);
/* dx is (N,C,H,W), dy and idx are (N,C,OH,OW). Each dx element gathers, over the outputs whose
 * windows cover it in (oh, ow) order, the dy whose argmax it is: no atomics, and bitwise the
 * same sums as PyTorch's CPU scatter. A NULL dx does nothing. */
cltrain_status maxpool2d_backward(cltrain_context *cx, buf dx, buf dy, buf idx, const pool2d_shape *s,
                                  int accumulate);

/* ---- average pooling over a window ----
 * count_include_pad: every window divides by kh*kw, padding counting as zeros. */

/* y is (N,C,OH,OW), x is (N,C,H,W) */
cltrain_status avgpool2d_forward(cltrain_context *cx, buf y, buf x, const pool2d_shape *s);
/* dx is (N,C,H,W), dy is (N,C,OH,OW) */
cltrain_status avgpool2d_backward(cltrain_context *cx, buf dx, buf dy, const pool2d_shape *s,
                                  int accumulate);

/* ---- global average pooling ---- (only s->n, c, h, w are read) */

/* y is (N,C), x is (N,C,H,W) */
cltrain_status global_avgpool_forward(cltrain_context *cx, buf y, buf x, const pool2d_shape *s);
/* dx is (N,C,H,W) = dy / (H*W) broadcast, dy is (N,C) */
cltrain_status global_avgpool_backward(cltrain_context *cx, buf dx, buf dy, const pool2d_shape *s,
                                       int accumulate);

/* ---- C references (pool_ref.c): the same arguments on host arrays, sums in double ---- */
void maxpool2d_forward_ref(float *y, int *idx, const float *x, const pool2d_shape *s);
void maxpool2d_backward_ref(float *dx, const float *dy, const int *idx, const pool2d_shape *s,
                            int accumulate);
void avgpool2d_forward_ref(float *y, const float *x, const pool2d_shape *s);
void avgpool2d_backward_ref(float *dx, const float *dy, const pool2d_shape *s, int accumulate);
void global_avgpool_forward_ref(float *y, const float *x, const pool2d_shape *s);
void global_avgpool_backward_ref(float *dx, const float *dy, const pool2d_shape *s, int accumulate);

#endif
