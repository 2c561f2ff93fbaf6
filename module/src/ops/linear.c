/* linear.c: the fully connected layer as CLBlast SGEMMs on torch's (OUT,IN) weight layout, with
 * small kernels for the bias. The head is tiny next to the convolutions (at most N*512*1000
 * multiply-adds), so the transposed-operand GEMMs are kept rather than a transposed copy of W. */
#include <limits.h>

#include "ops/linear.h"

static const char *const FILE_CL = "linear.cl";

cltrain_status linear_check_shape(cltrain_context *cx, const linear_shape *s) {
  if (!s) return rt_fail(cx, CLTRAIN_ERR_ARG, "linear: shape is NULL");
  if (s->n <= 0 || s->in <= 0 || s->out <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "linear: sizes must be positive, got n=%d in=%d out=%d",
                   s->n, s->in, s->out);
  /* Kernels index with int offsets; keep every tensor within int range. */
  double biggest = (double)s->n * s->in;
  if ((double)s->n * s->out > biggest) biggest = (double)s->n * s->out;
  if ((double)s->out * s->in > biggest) biggest = (double)s->out * s->in;
  if (biggest > (double)INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "linear: tensors of %.0f floats exceed int indexing", biggest);
  return CLTRAIN_OK;
}

cltrain_status linear_forward(cltrain_context *cx, buf y, buf x, buf w, buf b,
                              const linear_shape *s) {
  TRY(linear_check_shape(cx, s));
  if (!y.mem || !x.mem || !w.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "linear_forward: y, x and w must be buffers");
  /* y (N,OUT) = x (N,IN) · w (OUT,IN)ᵀ */
  TRY(blas_sgemm(cx, 0, 1, s->n, s->out, s->in, 1.0f, x, s->in, w, s->in, 0.0f, y, s->out));
  if (buf_present(b)) {
    rt_call call;
    TRY(rt_kernel(cx, FILE_CL, "", "linear_forward_bias", &call));
    arg_buf(&call, y), arg_buf(&call, b), arg_int(&call, s->n), arg_int(&call, s->out);
    TRY(rt_run_items(&call, (size_t)s->out * s->n)); /* 1-D: a batch may pass 65535 rows */
  }
  return CLTRAIN_OK;
}

cltrain_status linear_backward(cltrain_context *cx, buf dx, buf dw, buf db, buf dy, buf x, buf w,
                               int accumulate_dx, const linear_shape *s) {
  TRY(linear_check_shape(cx, s));
  if (!dy.mem) return rt_fail(cx, CLTRAIN_ERR_ARG, "linear_backward: dy must be a buffer");
  if (buf_present(dx) && !w.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "linear_backward: w must be a buffer when dx is wanted");
  if (buf_present(dw) && !x.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "linear_backward: x must be a buffer when dw is wanted");
  if (accumulate_dx != OP_OVERWRITE && accumulate_dx != OP_ACCUMULATE)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "linear_backward: accumulate_dx is %d, not OP_OVERWRITE or "
                   "OP_ACCUMULATE", accumulate_dx);
  if (buf_present(dx)) /* dx (N,IN) = dy (N,OUT) · w (OUT,IN) */
    TRY(blas_sgemm(cx, 0, 0, s->n, s->in, s->out, 1.0f, dy, s->out, w, s->in,
                   accumulate_dx == OP_ACCUMULATE ? 1.0f : 0.0f, dx, s->in));
  if (buf_present(dw)) /* dw (OUT,IN) += dy (N,OUT)ᵀ · x (N,IN) */
    TRY(blas_sgemm(cx, 1, 0, s->out, s->in, s->n, 1.0f, dy, s->out, x, s->in, 1.0f, dw, s->in));
  if (buf_present(db)) {
    rt_call call;
    TRY(rt_kernel(cx, FILE_CL, "", "linear_backward_bias", &call));
    arg_buf(&call, db), arg_buf(&call, dy), arg_int(&call, s->n), arg_int(&call, s->out);
    TRY(rt_run_items(&call, (size_t)s->out));
  }
  return CLTRAIN_OK;
}
