/* conv2d.c: convolution as im2col plus CLBlast SGEMM, one image at a time, with every operand
 * laid out so that no GEMM needs a transposed operand (twice as slow on PoCL). */
#include <limits.h>

#include "conv2d.h"

static const char *const FILE_CL = "conv2d.cl";

cltrain_status conv2d_check_shape(cltrain_context *cx, const conv2d_shape *s) {
  if (!s) return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d: shape is NULL");
  if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0 || s->k <= 0 || s->r <= 0 || s->s <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "conv2d: sizes must be positive, got n=%d c=%d h=%d w=%d k=%d r=%d s=%d", s->n,
                   s->c, s->h, s->w, s->k, s->r, s->s);
  if (s->stride_h <= 0 || s->stride_w <= 0 || s->dil_h <= 0 || s->dil_w <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "conv2d: stride and dilation must be positive, got stride %dx%d dilation %dx%d",
                   s->stride_h, s->stride_w, s->dil_h, s->dil_w);
  if (s->pad_h < 0 || s->pad_w < 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d: padding must not be negative, got %dx%d", s->pad_h,
                   s->pad_w);
  int oh = conv2d_out_h(s), ow = conv2d_out_w(s);
  if (oh <= 0 || ow <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "conv2d: output size %dx%d is not positive (input %dx%d, kernel %dx%d, "
                   "stride %dx%d, pad %dx%d, dilation %dx%d)",
                   oh, ow, s->h, s->w, s->r, s->s, s->stride_h, s->stride_w, s->pad_h, s->pad_w,
                   s->dil_h, s->dil_w);
  /* Kernels index with int offsets; keep every tensor and the workspace within int range. */
  double crs = (double)s->c * s->r * s->s, p = (double)oh * ow;
  double biggest = (double)s->n * s->c * s->h * s->w;
  if ((double)s->n * s->k * p > biggest) biggest = (double)s->n * s->k * p;
  if (crs * p + crs * s->k > biggest) biggest = crs * p + crs * s->k;
  if (biggest > (double)INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d: tensors of %.0f floats exceed int indexing", biggest);
  return CLTRAIN_OK;
}

size_t conv2d_workspace_floats(const conv2d_shape *s) {
  size_t crs = (size_t)s->c * s->r * s->s;
  size_t p = (size_t)conv2d_out_h(s) * conv2d_out_w(s);
  /* One image's im2col (forward), transposed im2col or column gradient (backward, reused in
   * turn: the queue is in order), then the transposed weights for the data gradient. */
  return crs * p + crs * (size_t)s->k;
}

static void arg_geometry(rt_call *c, const conv2d_shape *s) {
  arg_int(c, s->c), arg_int(c, s->h), arg_int(c, s->w);
  arg_int(c, s->r), arg_int(c, s->s);
  arg_int(c, conv2d_out_h(s)), arg_int(c, conv2d_out_w(s));
  arg_int(c, s->stride_h), arg_int(c, s->stride_w);
  arg_int(c, s->pad_h), arg_int(c, s->pad_w);
  arg_int(c, s->dil_h), arg_int(c, s->dil_w);
}

cltrain_status conv2d_forward(cltrain_context *cx, buf y, buf x, buf w, buf b, buf workspace,
                              const conv2d_shape *s) {
  TRY(conv2d_check_shape(cx, s));
  if (!y.mem || !x.mem || !w.mem || !workspace.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_forward: y, x, w and workspace must be buffers");
  size_t crs = (size_t)s->c * s->r * s->s, oh = conv2d_out_h(s), ow = conv2d_out_w(s), p = oh * ow;
  size_t in_img = (size_t)s->c * s->h * s->w, out_img = (size_t)s->k * p;
  rt_call call;
  if (buf_present(b)) {
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_forward_bias_fill", &call));
    arg_buf(&call, y), arg_buf(&call, b);
    arg_int(&call, s->k), arg_int(&call, (int)p), arg_int(&call, s->n * s->k);
    size_t g[2] = {p, (size_t)s->n * s->k};
    TRY(rt_run(&call, 2, g, NULL));
  }
  for (int n = 0; n < s->n; n++) {
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_forward_im2col", &call));
    arg_buf(&call, workspace), arg_buf(&call, buf_at(x, n * in_img));
    arg_geometry(&call, s);
    size_t g[3] = {oh, crs, 1};
    TRY(rt_run(&call, 3, g, NULL));
    /* y_n (K,P) = w (K,CRS) x col (CRS,P) [+ the bias already in y_n] */
    TRY(blas_sgemm(cx, 0, 0, s->k, p, crs, 1.0f, w, crs, workspace, p,
                   buf_present(b) ? 1.0f : 0.0f, buf_at(y, n * out_img), p));
  }
  return CLTRAIN_OK;
}

cltrain_status conv2d_backward(cltrain_context *cx, buf dx, buf dw, buf db, buf dy, buf x, buf w,
                               buf workspace, int accumulate_dx, const conv2d_shape *s) {
  TRY(conv2d_check_shape(cx, s));
  if (!dy.mem) return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_backward: dy must be a buffer");
  if (buf_present(dx) && !w.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_backward: w must be a buffer when dx is wanted");
  if (buf_present(dw) && !x.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_backward: x must be a buffer when dw is wanted");
  if ((buf_present(dx) || buf_present(dw)) && !workspace.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_backward: workspace must be a buffer");
  size_t crs = (size_t)s->c * s->r * s->s, p = (size_t)conv2d_out_h(s) * conv2d_out_w(s);
  size_t in_img = (size_t)s->c * s->h * s->w, out_img = (size_t)s->k * p;
  buf col = workspace, wt = buf_at(workspace, crs * p);
  rt_call call;

  if (buf_present(db)) {
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_bias", &call));
    arg_buf(&call, db), arg_buf(&call, dy);
    arg_int(&call, s->n), arg_int(&call, s->k), arg_int(&call, (int)p);
    size_t g[1] = {(size_t)s->k};
    TRY(rt_run(&call, 1, g, NULL));
  }
  if (buf_present(dx)) {
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_transpose_w", &call));
    arg_buf(&call, wt), arg_buf(&call, w);
    arg_int(&call, s->k), arg_int(&call, (int)crs);
    size_t g[2] = {(size_t)s->k, crs};
    TRY(rt_run(&call, 2, g, NULL));
  }
  for (int n = 0; n < s->n; n++) {
    if (buf_present(dw)) {
      TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_im2col_t", &call));
      arg_buf(&call, col), arg_buf(&call, buf_at(x, n * in_img));
      arg_geometry(&call, s);
      size_t g[2] = {p, (size_t)s->c};
      TRY(rt_run(&call, 2, g, NULL));
      /* dw (K,CRS) += dy_n (K,P) x colT (P,CRS); images in order, so the sum is fixed. */
      TRY(blas_sgemm(cx, 0, 0, s->k, crs, p, 1.0f, buf_at(dy, n * out_img), p, col, crs, 1.0f, dw,
                     crs));
    }
    if (buf_present(dx)) {
      /* dcol (CRS,P) = wT (CRS,K) x dy_n (K,P), then gathered back into dx_n. */
      TRY(blas_sgemm(cx, 0, 0, crs, p, s->k, 1.0f, wt, s->k, buf_at(dy, n * out_img), p, 0.0f, col,
                     p));
      TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_col2im", &call));
      arg_buf(&call, buf_at(dx, n * in_img)), arg_buf(&call, col);
      arg_geometry(&call, s);
      arg_int(&call, accumulate_dx == OP_ACCUMULATE);
      size_t g[2] = {(size_t)s->w, (size_t)s->c * s->h};
      TRY(rt_run(&call, 2, g, NULL));
    }
  }
  return CLTRAIN_OK;
}
