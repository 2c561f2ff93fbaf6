/* eltwise.c: launches kernels/eltwise.cl. */
#include "ops/eltwise.h"

#include <limits.h>
#include <stdio.h>

static cltrain_status check_n(cltrain_context *cx, const char *op, size_t n) {
  if (n > INT_MAX) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: n = %zu exceeds 2^31 - 1", op, n);
  return CLTRAIN_OK;
}

cltrain_status add_forward(cltrain_context *cx, buf y, buf a, buf b, size_t n) {
  TRY(check_n(cx, "add_forward", n));
  if (!buf_present(y) || !buf_present(a) || !buf_present(b))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "add_forward: buffer %s is NULL",
                   !buf_present(y) ? "y" : !buf_present(a) ? "a" : "b");
  rt_call k;
  TRY(rt_kernel(cx, "eltwise.cl", "", "add_forward", &k));
  arg_buf(&k, y), arg_buf(&k, a), arg_buf(&k, b), arg_int(&k, (int)n);
  return rt_run_items(&k, n);
}

cltrain_status add_backward(cltrain_context *cx, buf da, buf db, buf dy, size_t n, int accumulate_a,
                            int accumulate_b) {
  TRY(check_n(cx, "add_backward", n));
  int has_a = buf_present(da), has_b = buf_present(db);
  if (!has_a && !has_b) return CLTRAIN_OK;
  if (!buf_present(dy)) return rt_fail(cx, CLTRAIN_ERR_ARG, "add_backward: buffer dy is NULL");
  int acc_a = accumulate_a == OP_ACCUMULATE, acc_b = accumulate_b == OP_ACCUMULATE;
  char opt[48];
  rt_call k;
  if (has_a && has_b) {
    snprintf(opt, sizeof opt, "-DACC_A=%d -DACC_B=%d", acc_a, acc_b);
    TRY(rt_kernel(cx, "eltwise.cl", opt, "add_backward_inputs", &k));
    arg_buf(&k, da), arg_buf(&k, db);
  } else {
    /* The one present branch goes through the single-branch kernel as "a". */
    snprintf(opt, sizeof opt, "-DACC_A=%d", has_a ? acc_a : acc_b);
    TRY(rt_kernel(cx, "eltwise.cl", opt, "add_backward_input", &k));
    arg_buf(&k, has_a ? da : db);
  }
  arg_buf(&k, dy), arg_int(&k, (int)n);
  return rt_run_items(&k, n);
}
