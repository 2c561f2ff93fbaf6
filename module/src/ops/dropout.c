/* dropout.c: launches kernels/dropout.cl after checking p, n and the stream range. */
#include "ops/dropout.h"

#include <limits.h>

static cltrain_status check(cltrain_context *cx, const char *op, const dropout_args *a) {
  if (!a) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: NULL arguments", op);
  if (!(a->p >= 0.0f && a->p < 1.0f)) /* also refuses NaN */
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: p = %g must lie in [0, 1)", op, (double)a->p);
  if (a->n > INT_MAX) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: n = %zu exceeds 2^31 - 1", op, a->n);
  if (a->offset > UINT64_MAX - a->n)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: offset + n passes the end of the 2^64 stream", op);
  return CLTRAIN_OK;
}

static cltrain_status launch(cltrain_context *cx, const char *kernel, const char *options, buf out,
                             buf in, const dropout_args *a) {
  rt_call k;
  TRY(rt_kernel(cx, "dropout.cl", options, kernel, &k));
  /* Philox blocks (4 draws each) that positions [offset, offset + n) touch. */
  uint64_t first = a->offset >> 2, last = (a->offset + a->n + 3) >> 2;
  int nblocks = a->n ? (int)(last - first) : 0;
  arg_buf(&k, out), arg_buf(&k, in), arg_int(&k, (int)a->n);
  arg_uint(&k, (unsigned)a->seed), arg_uint(&k, (unsigned)(a->seed >> 32));
  arg_uint(&k, (unsigned)a->offset), arg_uint(&k, (unsigned)(a->offset >> 32));
  arg_float(&k, a->p), arg_float(&k, 1.0f / (1.0f - a->p)), arg_int(&k, nblocks);
  return rt_run_items(&k, (size_t)nblocks);
}

cltrain_status dropout_forward(cltrain_context *cx, buf y, buf x, const dropout_args *a) {
  TRY(check(cx, "dropout_forward", a));
  if (!buf_present(y) || !buf_present(x))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "dropout_forward: buffer %s is NULL", buf_present(y) ? "x" : "y");
  return launch(cx, "dropout_forward", "", y, x, a);
}

cltrain_status dropout_backward(cltrain_context *cx, buf dx, buf dy, const dropout_args *a, int accumulate) {
  TRY(check(cx, "dropout_backward", a));
  if (!buf_present(dx)) return CLTRAIN_OK;
  if (!buf_present(dy)) return rt_fail(cx, CLTRAIN_ERR_ARG, "dropout_backward: buffer dy is NULL");
  return launch(cx, "dropout_backward_input", accumulate == OP_ACCUMULATE ? "-DACCUMULATE=1" : "", dx, dy, a);
}
