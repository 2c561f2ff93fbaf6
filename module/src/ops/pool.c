/* pool.c: launches the pooling kernels of kernels/pool.cl, after checking shapes and buffers. */
#include "ops/pool.h"

#include <limits.h>
#include <stdio.h>

pool2d_shape pool2d_make(int n, int c, int h, int w, int k, int stride, int pad) {
  pool2d_shape s = {n, c, h, w, k, k, stride, stride, pad, pad, 0, 0};
  if (stride > 0) {
    s.oh = (h + 2 * pad - k) / stride + 1;
    s.ow = (w + 2 * pad - k) / stride + 1;
  }
  return s;
}

static int too_big(long long elems) { return elems > INT_MAX; }

/* Checks only what global pooling reads: n, c, h, w. */
static cltrain_status check_input(cltrain_context *cx, const pool2d_shape *s) {
  if (!s) return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: NULL shape");
  if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: input (%d,%d,%d,%d) has a non-positive size", s->n,
                   s->c, s->h, s->w);
  if (s->n > 65535 || s->c > 65535)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: batch %d and channels %d must be at most 65535 "
                   "(a GPU's launch limit)", s->n, s->c);
  if (too_big((long long)s->n * s->c * s->h * s->w))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: input (%d,%d,%d,%d) exceeds 2^31 elements", s->n,
                   s->c, s->h, s->w);
  return CLTRAIN_OK;
}

cltrain_status pool2d_check(cltrain_context *cx, const pool2d_shape *s) {
  TRY(check_input(cx, s));
  if (s->kh <= 0 || s->kw <= 0 || s->sh <= 0 || s->sw <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: kernel %dx%d and stride %dx%d must be positive",
                   s->kh, s->kw, s->sh, s->sw);
  if (s->ph < 0 || s->pw < 0 || 2 * s->ph > s->kh || 2 * s->pw > s->kw)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: padding %dx%d must lie in [0, kernel/2] (kernel %dx%d)",
                   s->ph, s->pw, s->kh, s->kw);
  int oh = (s->h + 2 * s->ph - s->kh) / s->sh + 1, ow = (s->w + 2 * s->pw - s->kw) / s->sw + 1;
  if (s->h + 2 * s->ph < s->kh || s->w + 2 * s->pw < s->kw)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: kernel %dx%d larger than padded input %dx%d", s->kh,
                   s->kw, s->h + 2 * s->ph, s->w + 2 * s->pw);
  if (s->oh != oh || s->ow != ow)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "pooling: output %dx%d should be %dx%d (floor mode)", s->oh,
                   s->ow, oh, ow);
  return CLTRAIN_OK;
}

static cltrain_status need(cltrain_context *cx, buf b, const char *op, const char *what) {
  if (!buf_present(b)) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: buffer %s is NULL", op, what);
  return CLTRAIN_OK;
}

/* Launches a max-pool kernel over (rows, C, N), one work-item per row, with an explicit local
 * size: the rows of a plane times channels, up to 64 work-items. */
static cltrain_status run_rows(rt_call *k, int rows, const pool2d_shape *s) {
  size_t total = rt_local_size(k, 64), lr = (size_t)rows < total ? (size_t)rows : total;
  size_t lc = 1;
  while (lc * 2 * lr <= total && lc < (size_t)s->c) lc *= 2;
  size_t g[3] = {(size_t)rows, (size_t)s->c, (size_t)s->n}, l[3] = {lr, lc, 1};
  return rt_run(k, 3, g, l);
}

/* GPU shapes: a max-pool kernel over (elements of a plane, C, N), a work-item per element, in
 * work-groups of up to 256 along the plane. */
static cltrain_status run_each(rt_call *k, int plane, const pool2d_shape *s) {
  size_t want = 1;
  while (want < (size_t)plane && want < 256) want *= 2;
  size_t g[3] = {(size_t)plane, (size_t)s->c, (size_t)s->n}, l[3] = {rt_local_size(k, want), 1, 1};
  return rt_run(k, 3, g, l);
}

static void window_options(char *opt, size_t cap, const pool2d_shape *s, int accumulate) {
  snprintf(opt, cap, "-DKH=%d -DKW=%d -DSH=%d -DSW=%d -DPH=%d -DPW=%d -DACCUMULATE=%d", s->kh, s->kw,
           s->sh, s->sw, s->ph, s->pw, accumulate == OP_ACCUMULATE);
}

cltrain_status maxpool2d_forward(cltrain_context *cx, buf y, buf idx, buf x, const pool2d_shape *s) {
  TRY(pool2d_check(cx, s));
  TRY(need(cx, y, "maxpool2d_forward", "y"));
  TRY(need(cx, idx, "maxpool2d_forward", "idx"));
  TRY(need(cx, x, "maxpool2d_forward", "x"));
  char opt[160];
  window_options(opt, sizeof opt, s, 0);
  rt_call k;
  int gpu = rt_gpu_shapes(cx);
  TRY(rt_kernel(cx, "pool.cl", opt, gpu ? "maxpool2d_forward_each" : "maxpool2d_forward", &k));
  arg_buf(&k, y), arg_buf(&k, idx), arg_buf(&k, x);
  arg_int(&k, s->h), arg_int(&k, s->w), arg_int(&k, s->oh), arg_int(&k, s->ow), arg_int(&k, s->c);
  if (gpu) return run_each(&k, s->oh * s->ow, s);
  return run_rows(&k, s->oh, s); /* one work-item per output row */
}

cltrain_status maxpool2d_backward(cltrain_context *cx, buf dx, buf dy, buf idx, const pool2d_shape *s,
                                  int accumulate) {
  TRY(pool2d_check(cx, s));
  if (!buf_present(dx)) return CLTRAIN_OK;
  TRY(need(cx, dy, "maxpool2d_backward", "dy"));
  TRY(need(cx, idx, "maxpool2d_backward", "idx"));
  char opt[160];
  window_options(opt, sizeof opt, s, accumulate);
  rt_call k;
  int gpu = rt_gpu_shapes(cx);
  TRY(rt_kernel(cx, "pool.cl", opt, gpu ? "maxpool2d_backward_input_each" : "maxpool2d_backward_input",
                &k));
  arg_buf(&k, dx), arg_buf(&k, dy), arg_buf(&k, idx);
  arg_int(&k, s->h), arg_int(&k, s->w), arg_int(&k, s->oh), arg_int(&k, s->ow), arg_int(&k, s->c);
  if (gpu) return run_each(&k, s->h * s->w, s);
  return run_rows(&k, s->h, s); /* one work-item per input row */
}

cltrain_status avgpool2d_forward(cltrain_context *cx, buf y, buf x, const pool2d_shape *s) {
  TRY(pool2d_check(cx, s));
  TRY(need(cx, y, "avgpool2d_forward", "y"));
  TRY(need(cx, x, "avgpool2d_forward", "x"));
  char opt[160];
  window_options(opt, sizeof opt, s, 0);
  rt_call k;
  TRY(rt_kernel(cx, "pool.cl", opt, "avgpool2d_forward", &k));
  arg_buf(&k, y), arg_buf(&k, x);
  arg_int(&k, s->h), arg_int(&k, s->w), arg_int(&k, s->oh), arg_int(&k, s->ow), arg_int(&k, s->n * s->c);
  return rt_run_items(&k, (size_t)s->n * s->c * s->oh * s->ow);
}

cltrain_status avgpool2d_backward(cltrain_context *cx, buf dx, buf dy, const pool2d_shape *s,
                                  int accumulate) {
  TRY(pool2d_check(cx, s));
  if (!buf_present(dx)) return CLTRAIN_OK;
  TRY(need(cx, dy, "avgpool2d_backward", "dy"));
  char opt[160];
  window_options(opt, sizeof opt, s, accumulate);
  rt_call k;
  TRY(rt_kernel(cx, "pool.cl", opt, "avgpool2d_backward_input", &k));
  arg_buf(&k, dx), arg_buf(&k, dy);
  arg_int(&k, s->h), arg_int(&k, s->w), arg_int(&k, s->oh), arg_int(&k, s->ow), arg_int(&k, s->n * s->c);
  return rt_run_items(&k, (size_t)s->n * s->c * s->h * s->w);
}

cltrain_status global_avgpool_forward(cltrain_context *cx, buf y, buf x, const pool2d_shape *s) {
  TRY(check_input(cx, s));
  TRY(need(cx, y, "global_avgpool_forward", "y"));
  TRY(need(cx, x, "global_avgpool_forward", "x"));
  rt_call k;
  TRY(rt_kernel(cx, "pool.cl", "", "global_avgpool_forward", &k));
  arg_buf(&k, y), arg_buf(&k, x);
  arg_int(&k, s->h * s->w), arg_int(&k, s->n * s->c);
  return rt_run_items(&k, (size_t)s->n * s->c);
}

cltrain_status global_avgpool_backward(cltrain_context *cx, buf dx, buf dy, const pool2d_shape *s,
                                       int accumulate) {
  TRY(check_input(cx, s));
  if (!buf_present(dx)) return CLTRAIN_OK;
  TRY(need(cx, dy, "global_avgpool_backward", "dy"));
  rt_call k;
  TRY(rt_kernel(cx, "pool.cl", accumulate == OP_ACCUMULATE ? "-DACCUMULATE=1" : "",
                "global_avgpool_backward_input", &k));
  int total = s->n * s->c * s->h * s->w;
  arg_buf(&k, dx), arg_buf(&k, dy);
  arg_int(&k, s->h * s->w), arg_int(&k, total);
  return rt_run_items(&k, (size_t)total);
}
