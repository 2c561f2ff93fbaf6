/* eltwise.h: elementwise joins on flat tensors of n floats: add, the residual join of ResNet's
 * blocks. Its backward hands the same gradient to both branches. */
#ifndef CLTRAIN_ELTWISE_H
#define CLTRAIN_ELTWISE_H

#include "ops/ops.h"

/* y, a, b are (n); y may be a or b (in place). */
cltrain_status add_forward(cltrain_context *cx, buf y, buf a, buf b, size_t n);
/* da, db, dy are (n). Each present branch gets dy: overwritten (OP_OVERWRITE) or added
 * (OP_ACCUMULATE, e.g. into a shortcut's gradient that another path also feeds). A NULL da or db
 * is skipped. da or db may be dy itself only when overwritten. */
cltrain_status add_backward(cltrain_context *cx, buf da, buf db, buf dy, size_t n, int accumulate_a,
                            int accumulate_b);

/* ---- C references (eltwise_ref.c), on host arrays; NULL da/db is skipped ---- */
void add_forward_ref(float *y, const float *a, const float *b, size_t n);
void add_backward_ref(float *da, float *db, const float *dy, size_t n, int accumulate_a, int accumulate_b);

#endif
