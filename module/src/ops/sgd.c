/* sgd.c: torch.optim.SGD's update on the device: one elementwise kernel per parameter block. */
#include <limits.h>

#include "ops/sgd.h"

cltrain_status sgd_check_params(cltrain_context *cx, const sgd_params *h) {
  if (!h) return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd: params is NULL");
  /* Written as !(x >= 0) so that NaN is refused too. */
  if (!(h->lr >= 0.0f)) return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd: invalid learning rate %g", (double)h->lr);
  if (!(h->momentum >= 0.0f))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd: invalid momentum %g", (double)h->momentum);
  if (!(h->weight_decay >= 0.0f))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd: invalid weight_decay %g", (double)h->weight_decay);
  if (h->dampening != h->dampening)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd: dampening is NaN");
  if (h->nesterov && (h->momentum <= 0.0f || h->dampening != 0.0f))
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "sgd: nesterov needs momentum > 0 and dampening 0, got momentum %g dampening %g",
                   (double)h->momentum, (double)h->dampening);
  return CLTRAIN_OK;
}

cltrain_status sgd_update(cltrain_context *cx, buf p, buf m, buf g, size_t n, const sgd_params *h,
                          int first) {
  TRY(sgd_check_params(cx, h));
  int need_m = h->momentum != 0.0f;
  if (!p.mem || !g.mem || (need_m && !m.mem))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd_update: p, g%s must be buffers",
                   need_m ? " and m (momentum is not 0)" : "");
  /* The kernel indexes with int offsets. */
  size_t last = p.off > g.off ? p.off : g.off;
  if (need_m && m.off > last) last = m.off;
  if (n > (size_t)INT_MAX || last > (size_t)INT_MAX - n)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "sgd_update: %zu floats at offset %zu exceed int indexing", n, last);
  if (n == 0) return CLTRAIN_OK;
  rt_call call;
  TRY(rt_kernel(cx, "sgd.cl", "", "sgd_update", &call));
  arg_buf(&call, p), arg_buf(&call, need_m ? m : buf_none()), arg_buf(&call, g);
  arg_int(&call, (int)n), arg_float(&call, h->lr), arg_float(&call, h->momentum);
  arg_float(&call, h->dampening), arg_float(&call, h->weight_decay);
  arg_int(&call, h->nesterov ? 1 : 0), arg_int(&call, first ? 1 : 0);
  return rt_run_items(&call, n);
}
