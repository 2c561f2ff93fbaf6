/* sgd.h: the parameter update of torch.optim.SGD (momentum, dampening, weight decay, Nesterov)
 * on one flat block of parameters, and its C reference on host arrays. */
#ifndef CLTRAIN_OPS_SGD_H
#define CLTRAIN_OPS_SGD_H

#include "ops/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.optim.SGD's hyper-parameters for one parameter group. */
typedef struct sgd_params {
  float lr, momentum, dampening, weight_decay;
  int nesterov;
} sgd_params;

/* CLTRAIN_OK, or CLTRAIN_ERR_ARG naming the bad field, with torch's rules: lr, momentum and
 * weight_decay not negative (nor NaN); Nesterov needs momentum > 0 and dampening 0. */
cltrain_status sgd_check_params(cltrain_context *cx, const sgd_params *h);

/* One step on n floats, exactly torch.optim.SGD.step():
 *   d = g + weight_decay p
 *   if momentum != 0:  m = first ? d : momentum m + (1 - dampening) d
 *                      d = nesterov ? d + momentum m : m
 *   p -= lr d
 * p is (n), updated in place; m is (n), the momentum buffer (not read when `first`, which is
 * nonzero on a parameter's first step; may be mem NULL when momentum is 0); g is (n).
 * Per-group learning rates: call once per group on its sub-range (buffer offsets). */
cltrain_status sgd_update(cltrain_context *cx, buf p, buf m, buf g, size_t n, const sgd_params *h,
                          int first);

/* The same on host arrays, each element computed in double. m may be NULL when momentum is 0. */
cltrain_status sgd_update_ref(float *p, float *m, const float *g, size_t n, const sgd_params *h,
                              int first);

#ifdef __cplusplus
}
#endif
#endif
