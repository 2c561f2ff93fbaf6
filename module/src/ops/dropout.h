/* dropout.h: inverted dropout, y = x * mask / (1 - p), with the mask drawn from Philox4x32-10
 * (core/rng.h) on the device and recomputed by the backward from the same arguments: no mask is
 * stored, and the host (dropout_ref.c) draws the same mask bit for bit. */
#ifndef CLTRAIN_DROPOUT_H
#define CLTRAIN_DROPOUT_H

#include <stdint.h>

#include "ops/ops.h"

/* The mask rule. Element i draws the 32-bit word u at position offset + i of the Philox stream
 * keyed by seed (what rng_u32 gives for cltrain_rng {seed, offset + i}), and is kept iff
 * (u >> 8) * 2^-24 >= p, i.e. with probability 1 - p up to 2^-24; kept elements are multiplied by
 * 1.0f / (1.0f - p) (float), dropped ones by 0. Calls whose [offset, offset + n) ranges overlap
 * under one seed share mask bits, so give each layer and step its own range, e.g.
 * offset = rng_make(seed, RNG_STREAM_DROPOUT).pos + step * (elements per step) + layer start. */
typedef struct dropout_args {
  size_t n;        /* elements, at most 2^31 - 1 */
  float p;         /* drop probability, in [0, 1); 0 is the identity */
  uint64_t seed;   /* Philox key */
  uint64_t offset; /* stream position of element 0 */
} dropout_args;

/* y, x are (n); y may be x. */
cltrain_status dropout_forward(cltrain_context *cx, buf y, buf x, const dropout_args *a);
/* dx, dy are (n); dx may be dy when overwritten. A NULL dx does nothing. */
cltrain_status dropout_backward(cltrain_context *cx, buf dx, buf dy, const dropout_args *a, int accumulate);

/* ---- C references (dropout_ref.c): the same rule through core/rng.h, on host arrays ---- */
/* 1 if element i of the call is kept. */
int dropout_keep_ref(const dropout_args *a, size_t i);
void dropout_forward_ref(float *y, const float *x, const dropout_args *a);
void dropout_backward_ref(float *dx, const float *dy, const dropout_args *a, int accumulate);

#endif
