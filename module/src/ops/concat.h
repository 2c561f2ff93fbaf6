/* concat.h: channel concatenation y = cat(x_0, ..., x_{k-1}) over axis 1 of (N,C,H,W) tensors, as
 * one copy per input into its slice of y (no views: the memory plan keeps every input its own
 * buffer), forward and backward on the device (kernels/concat.cl), and its C reference. */
#ifndef CLTRAIN_OPS_CONCAT_H
#define CLTRAIN_OPS_CONCAT_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One input's place in the output: batch n, the output's c channels of plane H*W floats, this
 * input's c_in channels starting at channel c_off (c_off + c_in <= c). */
typedef struct concat_shape {
  int n, c, c_off, c_in, plane;
} concat_shape;

/* Copies x (n, c_in, plane) into channels [c_off, c_off + c_in) of y (n, c, plane). */
cltrain_status concat_forward(cltrain_context *cx, buf y, buf x, const concat_shape *s);

/* dx = that slice of dy, overwritten or added (OP_ACCUMULATE); a dx with mem NULL is skipped. */
cltrain_status concat_backward(cltrain_context *cx, buf dx, buf dy, int accumulate, const concat_shape *s);

/* The same on host arrays (concat_ref.c). */
void concat_forward_ref(float *y, const float *x, const concat_shape *s);
void concat_backward_ref(float *dx, const float *dy, int accumulate, const concat_shape *s);

#ifdef __cplusplus
}
#endif
#endif
