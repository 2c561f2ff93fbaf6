/* relu.c: ReLU on the device (kernels/activation.cl), one work-item per element. */
#include "ops/relu.h"

#include <limits.h>

static cltrain_status need(cltrain_context *cx, const char *op, const char *name, buf b, size_t n) {
  if (!buf_present(b)) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %s is NULL", op, name);
  if (b.off + n > INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %s offset %zu + %zu floats is beyond int range", op,
                   name, b.off, n);
  return CLTRAIN_OK;
}

cltrain_status relu_forward(cltrain_context *cx, buf y, buf x, size_t n) {
  TRY(need(cx, "relu_forward", "y", y, n));
  TRY(need(cx, "relu_forward", "x", x, n));
  rt_call k;
  TRY(rt_kernel(cx, "activation.cl", "", "relu_forward", &k));
  arg_buf(&k, y), arg_buf(&k, x), arg_int(&k, (int)n);
  return rt_run_items(&k, n);
}

cltrain_status relu_backward(cltrain_context *cx, buf dx, buf dy, buf y, int accumulate_dx,
                             size_t n) {
  if (!buf_present(dx)) return CLTRAIN_OK;
  TRY(need(cx, "relu_backward", "dx", dx, n));
  TRY(need(cx, "relu_backward", "dy", dy, n));
  TRY(need(cx, "relu_backward", "y", y, n));
  if (accumulate_dx != OP_OVERWRITE && accumulate_dx != OP_ACCUMULATE)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "relu_backward: accumulate_dx must be OP_OVERWRITE or OP_ACCUMULATE, got %d",
                   accumulate_dx);
  rt_call k;
  TRY(rt_kernel(cx, "activation.cl", accumulate_dx ? "-DACCUMULATE=1" : "-DACCUMULATE=0",
                "relu_backward_data", &k));
  arg_buf(&k, dx), arg_buf(&k, dy), arg_buf(&k, y), arg_int(&k, (int)n);
  return rt_run_items(&k, n);
}
