/* mul.c: launches kernels/mul.cl: one work-item per element, and for a broadcast b's gradient one
 * reducing work-group per plane. */
#include "ops/mul.h"

#include <limits.h>

static cltrain_status check(cltrain_context *cx, const char *op, const mul_shape *s) {
  if (s->n > INT_MAX) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: n = %zu exceeds 2^31 - 1", op, s->n);
  if (s->plane < 1 || s->n % (size_t)s->plane)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: n = %zu is not a multiple of the plane %d", op, s->n, s->plane);
  return CLTRAIN_OK;
}

cltrain_status mul_forward(cltrain_context *cx, buf y, buf a, buf b, const mul_shape *s) {
  TRY(check(cx, "mul_forward", s));
  if (!buf_present(y) || !buf_present(a) || !buf_present(b))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "mul_forward: %s is NULL", !buf_present(y) ? "y" : !buf_present(a) ? "a" : "b");
  rt_call k;
  TRY(rt_kernel(cx, "mul.cl", "", "mul_forward", &k));
  arg_buf(&k, y), arg_buf(&k, a), arg_buf(&k, b), arg_int(&k, (int)s->n), arg_int(&k, s->plane);
  return rt_run_items(&k, s->n);
}

static const char *acc_opt(int acc) { return acc == OP_ACCUMULATE ? "-DACCUMULATE=1" : "-DACCUMULATE=0"; }

cltrain_status mul_backward(cltrain_context *cx, buf da, buf db, buf dy, buf a, buf b, int accumulate_a,
                            int accumulate_b, const mul_shape *s) {
  if (!buf_present(da) && !buf_present(db)) return CLTRAIN_OK;
  TRY(check(cx, "mul_backward", s));
  if (!buf_present(dy) || !buf_present(a) || !buf_present(b))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "mul_backward: %s is NULL", !buf_present(dy) ? "dy" : !buf_present(a) ? "a" : "b");
  rt_call k;
  if (buf_present(da)) {
    TRY(rt_kernel(cx, "mul.cl", acc_opt(accumulate_a), "mul_backward_same", &k));
    arg_buf(&k, da), arg_buf(&k, dy), arg_buf(&k, b), arg_int(&k, (int)s->n), arg_int(&k, s->plane);
    TRY(rt_run_items(&k, s->n));
  }
  if (!buf_present(db)) return CLTRAIN_OK;
  if (s->plane == 1) {
    TRY(rt_kernel(cx, "mul.cl", acc_opt(accumulate_b), "mul_backward_same", &k));
    arg_buf(&k, db), arg_buf(&k, dy), arg_buf(&k, a), arg_int(&k, (int)s->n), arg_int(&k, 1);
    return rt_run_items(&k, s->n);
  }
  TRY(rt_kernel(cx, "mul.cl", acc_opt(accumulate_b), "mul_backward_broadcast", &k));
  arg_buf(&k, db), arg_buf(&k, dy), arg_buf(&k, a), arg_int(&k, s->plane);
  return rt_run_groups(&k, rt_reduce_width_for(cx, (size_t)s->plane), s->n / (size_t)s->plane, 1, 1);
}
