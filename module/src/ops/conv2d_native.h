/* conv2d_native.h: the forward convolution without an im2col matrix, as one native kernel on the
 * native (OpenBLAS) backend (conv2d_native.c); conv2d.c chooses it. */
#ifndef CLTRAIN_OPS_CONV2D_NATIVE_H
#define CLTRAIN_OPS_CONV2D_NATIVE_H

#include "ops/conv2d.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when conv2d_native_forward runs s on cx: the native backend, no bias, a 3x3 stride-1
 * undilated kernel over planes larger than C*R*S (and conv2d_native_enable has not turned it
 * off). */
int conv2d_native_fits(const cltrain_context *cx, const conv2d_shape *s, buf b);

/* Floats of the panel conv2d_native_forward packs into (at most the image's im2col matrix). */
size_t conv2d_native_floats(const conv2d_shape *s);

/* y (=, or += when accumulate) conv(x, w), w being (K, C*R*S) with rows ldw apart; panel holds
 * conv2d_native_floats(s). Enqueued on cx's queue. */
cltrain_status conv2d_native_forward(cltrain_context *cx, buf y, buf x, buf w, size_t ldw,
                                     buf panel, int accumulate, const conv2d_shape *s);

/* Process-wide switch for benchmarks (test_conv2d's CONV2D_BENCH_AB=2): 0 sends every shape to
 * im2col + GEMM. On by default. */
void conv2d_native_enable(int on);

#ifdef __cplusplus
}
#endif
#endif
