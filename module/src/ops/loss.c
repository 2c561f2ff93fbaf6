/* loss.c: softmax cross-entropy on the device: one work-group reduces the batch (a handful of
 * rows) in a fixed order, and the gradient takes one work-item per row. */
#include <limits.h>
#include <stdio.h>

#include "ops/loss.h"

static const char *const FILE_CL = "loss.cl";
enum { FORWARD_WG = 64 }; /* the forward kernel's one work-group (a power of two) */

/* Both kernels share one build, specialised on the forward work-group size. */
static cltrain_status loss_kernel(cltrain_context *cx, const char *name, rt_call *call) {
  char options[32];
  snprintf(options, sizeof options, "-DWG=%d", FORWARD_WG);
  return rt_kernel(cx, FILE_CL, options, name, call);
}

cltrain_status cross_entropy_check_shape(cltrain_context *cx, const cross_entropy_shape *s) {
  if (!s) return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy: shape is NULL");
  if (s->n <= 0 || s->k <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy: sizes must be positive, got n=%d k=%d",
                   s->n, s->k);
  if (!(s->label_smoothing >= 0.0f && s->label_smoothing <= 1.0f))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy: label_smoothing %g is not in [0,1]",
                   (double)s->label_smoothing);
  if ((double)s->n * s->k > (double)INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy: logits of %.0f floats exceed int indexing",
                   (double)s->n * s->k);
  return CLTRAIN_OK;
}

cltrain_status cross_entropy_check_labels(cltrain_context *cx, const int *labels,
                                          const cross_entropy_shape *s) {
  TRY(cross_entropy_check_shape(cx, s));
  if (!labels) return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy: labels is NULL");
  for (int i = 0; i < s->n; i++)
    if (labels[i] < 0 || labels[i] >= s->k)
      return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy: label %d of row %d is not in [0,%d)",
                     labels[i], i, s->k);
  return CLTRAIN_OK;
}

cltrain_status cross_entropy_forward(cltrain_context *cx, buf loss, buf argmax, buf logits,
                                     buf labels, const cross_entropy_shape *s) {
  TRY(cross_entropy_check_shape(cx, s));
  if (!loss.mem || !logits.mem || !labels.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "cross_entropy_forward: loss, logits and labels must be buffers");
  rt_call call;
  TRY(loss_kernel(cx, "cross_entropy_forward", &call));
  arg_buf(&call, loss), arg_buf(&call, argmax), arg_int(&call, buf_present(argmax));
  arg_buf(&call, logits), arg_buf(&call, labels);
  arg_int(&call, s->n), arg_int(&call, s->k), arg_float(&call, s->label_smoothing);
  return rt_run_groups(&call, FORWARD_WG, 1, 1, 1); /* names the kernel if 64 is too wide */
}

cltrain_status cross_entropy_backward(cltrain_context *cx, buf dlogits, buf logits, buf labels,
                                      float dloss, const cross_entropy_shape *s) {
  TRY(cross_entropy_check_shape(cx, s));
  if (!dlogits.mem || !logits.mem || !labels.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "cross_entropy_backward: dlogits, logits and labels must be buffers");
  rt_call call;
  TRY(loss_kernel(cx, "cross_entropy_backward", &call));
  arg_buf(&call, dlogits), arg_buf(&call, logits), arg_buf(&call, labels);
  arg_int(&call, s->n), arg_int(&call, s->k), arg_float(&call, s->label_smoothing);
  arg_float(&call, dloss / (float)s->n);
  return rt_run_items(&call, (size_t)s->n);
}
