/* concat.c: launches kernels/concat.cl: one work-item per element of the input being copied. */
#include "ops/concat.h"

#include <limits.h>

static cltrain_status check(cltrain_context *cx, const char *op, const concat_shape *s) {
  if (s->n < 1 || s->c_in < 1 || s->plane < 1 || s->c_off < 0 || s->c_off + s->c_in > s->c)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: channels [%d, %d) of %d (n %d, plane %d) is no slice", op, s->c_off,
                   s->c_off + s->c_in, s->c, s->n, s->plane);
  if ((size_t)s->n * s->c * s->plane > INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %d x %d x %d floats exceed 2^31 - 1", op, s->n, s->c, s->plane);
  return CLTRAIN_OK;
}

static cltrain_status run(cltrain_context *cx, const char *name, const char *opts, buf to, buf from,
                          const concat_shape *s) {
  rt_call k;
  TRY(rt_kernel(cx, "concat.cl", opts, name, &k));
  arg_buf(&k, to), arg_buf(&k, from);
  arg_int(&k, s->c), arg_int(&k, s->c_off), arg_int(&k, s->c_in), arg_int(&k, s->plane);
  arg_int(&k, s->n * s->c_in * s->plane);
  return rt_run_items(&k, (size_t)s->n * s->c_in * s->plane);
}

cltrain_status concat_forward(cltrain_context *cx, buf y, buf x, const concat_shape *s) {
  TRY(check(cx, "concat_forward", s));
  if (!buf_present(y) || !buf_present(x))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "concat_forward: %s is NULL", !buf_present(y) ? "y" : "x");
  return run(cx, "concat_forward", "", y, x, s);
}

cltrain_status concat_backward(cltrain_context *cx, buf dx, buf dy, int accumulate, const concat_shape *s) {
  if (!buf_present(dx)) return CLTRAIN_OK;
  TRY(check(cx, "concat_backward", s));
  if (!buf_present(dy)) return rt_fail(cx, CLTRAIN_ERR_ARG, "concat_backward: dy is NULL");
  return run(cx, "concat_backward", accumulate == OP_ACCUMULATE ? "-DACCUMULATE=1" : "-DACCUMULATE=0", dx, dy, s);
}
