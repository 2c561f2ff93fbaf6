/* depthwise.c: launches kernels/depthwise.cl: one work-item per output (forward) or per input
 * element (dx) over a 3-D range, one reducing work-group per (channel, tap) for dw; db is
 * conv2d's bias sum (the same per-channel sum of dy). */
#include "ops/depthwise.h"

#define FILE_CL "depthwise.cl"

static cltrain_status check(cltrain_context *cx, const char *op, const conv2d_shape *s) {
  TRY(conv2d_check_shape(cx, s));
  if (s->k != s->c)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: a depthwise convolution has k == c (got k %d, c %d)", op, s->k, s->c);
  return CLTRAIN_OK;
}

/* The window arguments every kernel of the family takes after its sizes. */
static void window_args(rt_call *k, const conv2d_shape *s) {
  arg_int(k, s->r), arg_int(k, s->s), arg_int(k, conv2d_out_h(s)), arg_int(k, conv2d_out_w(s));
  arg_int(k, s->stride_h), arg_int(k, s->stride_w), arg_int(k, s->pad_h), arg_int(k, s->pad_w);
  arg_int(k, s->dil_h), arg_int(k, s->dil_w);
}

/* Enqueues k over (cols, rows, images * c) in chunks of images whose planes fit a range's third
 * dimension (65535 on GPUs); k's arguments end with img0 set here (its index in the call). */
static cltrain_status run_planes(rt_call *k, int img0_arg, int cols, int rows, const conv2d_shape *s) {
  size_t l0 = rt_local_size(k, 64);
  while (l0 > 1 && l0 / 2 >= (size_t)cols) l0 /= 2; /* no more idle columns than needed */
  size_t g[3] = {((size_t)cols + l0 - 1) / l0 * l0, (size_t)rows, 0}, l[3] = {l0, 1, 1};
  int chunk = 65535 / s->c > 0 ? 65535 / s->c : 1;
  for (int img0 = 0; img0 < s->n; img0 += chunk) {
    int m = s->n - img0 < chunk ? s->n - img0 : chunk;
    g[2] = (size_t)m * s->c;
    cl_uint end = k->nargs; /* rewrite img0 in place: the other arguments stay set */
    k->nargs = (cl_uint)img0_arg;
    arg_int(k, img0);
    k->nargs = end;
    TRY(rt_run(k, 3, g, l));
  }
  return CLTRAIN_OK;
}

cltrain_status depthwise_forward(cltrain_context *cx, buf y, buf x, buf w, buf b, const conv2d_shape *s) {
  TRY(check(cx, "depthwise_forward", s));
  if (!buf_present(y) || !buf_present(x) || !buf_present(w))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "depthwise_forward: %s is NULL",
                   !buf_present(y) ? "y" : !buf_present(x) ? "x" : "w");
  rt_call k;
  TRY(rt_kernel(cx, FILE_CL, "", "depthwise_forward", &k));
  arg_buf(&k, y), arg_buf(&k, x), arg_buf(&k, w), arg_buf(&k, buf_present(b) ? b : w);
  arg_int(&k, buf_present(b)), arg_int(&k, 0); /* img0: argument 9 */
  arg_int(&k, s->c), arg_int(&k, s->h), arg_int(&k, s->w);
  window_args(&k, s);
  return run_planes(&k, 9, conv2d_out_w(s), conv2d_out_h(s), s);
}

/* A reduction work-group as wide as the sum's length, up to the device's reduction width. */
cltrain_status depthwise_backward(cltrain_context *cx, buf dx, buf dw, buf db, buf dy, buf x, buf w,
                                  int accumulate_dx, const conv2d_shape *s) {
  if (!buf_present(dx) && !buf_present(dw) && !buf_present(db)) return CLTRAIN_OK;
  TRY(check(cx, "depthwise_backward", s));
  if (!buf_present(dy)) return rt_fail(cx, CLTRAIN_ERR_ARG, "depthwise_backward: dy is NULL");
  if (accumulate_dx != OP_OVERWRITE && accumulate_dx != OP_ACCUMULATE)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "depthwise_backward: accumulate_dx must be OP_OVERWRITE or OP_ACCUMULATE, got %d",
                   accumulate_dx);
  size_t p = (size_t)conv2d_out_h(s) * conv2d_out_w(s);
  rt_call k;
  if (buf_present(db)) TRY(conv2d_backward_bias(cx, db, dy, s->n, s->c, p)); /* the same sum */
  if (buf_present(dw)) {
    if (!buf_present(x)) return rt_fail(cx, CLTRAIN_ERR_ARG, "depthwise_backward: x is NULL (dw needs it)");
    TRY(rt_kernel(cx, FILE_CL, "", "depthwise_backward_weight", &k));
    arg_buf(&k, dw), arg_buf(&k, dy), arg_buf(&k, x);
    arg_int(&k, s->n), arg_int(&k, s->c), arg_int(&k, s->h), arg_int(&k, s->w);
    window_args(&k, s);
    TRY(rt_run_groups(&k, rt_reduce_width_for(cx, (size_t)s->n * conv2d_out_h(s)), (size_t)s->c * s->r * s->s, 1, 1));
  }
  if (buf_present(dx)) {
    if (!buf_present(w)) return rt_fail(cx, CLTRAIN_ERR_ARG, "depthwise_backward: w is NULL (dx needs it)");
    TRY(rt_kernel(cx, FILE_CL, accumulate_dx ? "-DACCUMULATE=1" : "-DACCUMULATE=0", "depthwise_backward_data", &k));
    arg_buf(&k, dx), arg_buf(&k, dy), arg_buf(&k, w), arg_int(&k, 0); /* img0: argument 6 */
    arg_int(&k, s->c), arg_int(&k, s->h), arg_int(&k, s->w);
    window_args(&k, s);
    TRY(run_planes(&k, 6, s->w, s->h, s));
  }
  return CLTRAIN_OK;
}
