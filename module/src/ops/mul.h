/* mul.h: elementwise product y = a * b of two activations, b either of a's shape or one value per
 * (image, channel) broadcast over the H x W plane (squeeze-excitation), forward and backward on the
 * device (kernels/mul.cl), and its C reference. */
#ifndef CLTRAIN_OPS_MUL_H
#define CLTRAIN_OPS_MUL_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* a and y hold n floats, (N,C,H,W); b holds n / plane: plane 1 for b of a's shape, H*W for b
 * (N,C,1,1). n must be a multiple of plane. */
typedef struct mul_shape {
  size_t n;
  int plane;
} mul_shape;

cltrain_status mul_forward(cltrain_context *cx, buf y, buf a, buf b, const mul_shape *s);

/* da = dy * b, db = dy * a summed over each plane; each overwritten, or added to where its flag is
 * OP_ACCUMULATE; either with mem NULL is skipped. a and b are the forward's inputs. */
cltrain_status mul_backward(cltrain_context *cx, buf da, buf db, buf dy, buf a, buf b, int accumulate_a,
                            int accumulate_b, const mul_shape *s);

/* The same on host arrays (mul_ref.c), sums in double; NULL da or db is skipped. */
void mul_forward_ref(float *y, const float *a, const float *b, const mul_shape *s);
void mul_backward_ref(float *da, float *db, const float *dy, const float *a, const float *b, int accumulate_a,
                      int accumulate_b, const mul_shape *s);

#ifdef __cplusplus
}
#endif
#endif
