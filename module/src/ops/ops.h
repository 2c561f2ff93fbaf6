/* ops.h: conventions shared by every op (one header per family beside this one).
 *
 * - Each op is a pair <op>_forward / <op>_backward of host functions, outputs first, then
 *   inputs, then a shape struct: conv2d_backward(cx, dx, dw, db, dy, x, w, &shape).
 * - Buffers are `buf` (cl_mem + element offset). Ops allocate nothing; scratch space is passed
 *   in, and its size comes from a <op>_workspace_floats() function where one is needed.
 * - Gradients are +dL/d(.), as PyTorch's .grad. Parameter gradients accumulate (+=). Input
 *   gradients overwrite (=) unless the accumulate flag is OP_ACCUMULATE (residual fan-out).
 * - A gradient buffer whose mem is NULL is not computed: a NULL dx stops backward at the first
 *   layer, a NULL dw/db skips a frozen layer's parameter gradients.
 * - Nothing is waited for: ops only enqueue on cx's in-order queue.
 * - Deterministic: no floating-point atomics; every reduction runs in a fixed order.
 * - Each family has a C reference (<family>_ref.c, accumulating in double) with the same
 *   arguments on host arrays, used as a fast oracle in tests.
 */
#ifndef CLTRAIN_OPS_H
#define CLTRAIN_OPS_H

#include "runtime/blas.h"
#include "runtime/runtime.h"

enum { OP_OVERWRITE = 0, OP_ACCUMULATE = 1 };

static inline int buf_present(buf b) { return b.mem != NULL; }
static inline buf buf_none(void) {
  buf b = {NULL, 0};
  return b;
}

#endif
