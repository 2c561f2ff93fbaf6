/* hardsigmoid.c: launches kernels/hardsigmoid.cl, one work-item per element. */
#include "ops/hardsigmoid.h"

#include <limits.h>
#include <math.h>

static cltrain_status need(cltrain_context *cx, const char *op, const char *name, buf b, size_t n) {
  if (!buf_present(b)) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %s is NULL", op, name);
  if (b.off + n > INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %s offset %zu + %zu floats is beyond int range", op, name, b.off, n);
  return CLTRAIN_OK;
}

/* The kernels' form (kernels/hardsigmoid.cl): shift = beta / alpha, width = 1 / alpha. */
static cltrain_status ramp(cltrain_context *cx, const char *op, float alpha, float beta, float *shift, float *width) {
  if (!(alpha > 0) || !isfinite(alpha) || !isfinite(beta))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: alpha must be positive and beta finite (got %g, %g)", op, alpha, beta);
  *shift = beta / alpha, *width = 1.0f / alpha;
  return CLTRAIN_OK;
}

cltrain_status hardsigmoid_forward(cltrain_context *cx, buf y, buf x, float alpha, float beta, size_t n) {
  float shift = 0, width = 1;
  TRY(ramp(cx, "hardsigmoid_forward", alpha, beta, &shift, &width));
  TRY(need(cx, "hardsigmoid_forward", "y", y, n));
  TRY(need(cx, "hardsigmoid_forward", "x", x, n));
  rt_call k;
  TRY(rt_kernel(cx, "hardsigmoid.cl", "", "hardsigmoid_forward", &k));
  arg_buf(&k, y), arg_buf(&k, x), arg_float(&k, shift), arg_float(&k, width), arg_int(&k, (int)n);
  return rt_run_items(&k, n);
}

cltrain_status hardsigmoid_backward(cltrain_context *cx, buf dx, buf dy, buf x, float alpha, float beta,
                                    int accumulate_dx, size_t n) {
  if (!buf_present(dx)) return CLTRAIN_OK;
  float shift = 0, width = 1;
  TRY(ramp(cx, "hardsigmoid_backward", alpha, beta, &shift, &width));
  TRY(need(cx, "hardsigmoid_backward", "dx", dx, n));
  TRY(need(cx, "hardsigmoid_backward", "dy", dy, n));
  TRY(need(cx, "hardsigmoid_backward", "x", x, n));
  if (accumulate_dx != OP_OVERWRITE && accumulate_dx != OP_ACCUMULATE)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "hardsigmoid_backward: accumulate_dx must be OP_OVERWRITE or OP_ACCUMULATE, got %d",
                   accumulate_dx);
  rt_call k;
  TRY(rt_kernel(cx, "hardsigmoid.cl", accumulate_dx ? "-DACCUMULATE=1" : "-DACCUMULATE=0", "hardsigmoid_backward", &k));
  arg_buf(&k, dx), arg_buf(&k, dy), arg_buf(&k, x), arg_float(&k, alpha), arg_float(&k, -shift),
      arg_float(&k, width - shift), arg_int(&k, (int)n);
  return rt_run_items(&k, n);
}
