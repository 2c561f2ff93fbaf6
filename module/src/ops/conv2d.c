/* conv2d.c: convolution as im2col plus CLBlast SGEMM over chunks of images, with every operand
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
  double p = (double)oh * ow;
  double biggest = (double)s->n * s->c * s->h * s->w;
  if ((double)s->n * s->k * p > biggest) biggest = (double)s->n * s->k * p;
  if ((double)conv2d_workspace_floats(s) > biggest) biggest = (double)conv2d_workspace_floats(s);
  if (biggest > (double)INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d: tensors of %.0f floats exceed int indexing", biggest);
  return CLTRAIN_OK;
}

/* Images go through the GEMMs in chunks, side by side, because one large SGEMM runs several
 * times faster on PoCL than one per image (CLBlast's per-call cost and small-problem tiles).
 * A chunk's im2col matrix is kept to at most CONV2D_CHUNK_FLOATS (16 MiB) when an image fits:
 * measured at batch 16, 1 to 16 images per call made no clear difference where one image's
 * GEMM is already large (conv1, layer1), while layer4 (P = 49) ran 2-4x faster at 16. */
#ifndef CONV2D_CHUNK_FLOATS
#define CONV2D_CHUNK_FLOATS ((size_t)1 << 22)
#endif

/* The forward GEMM's inner dimension C*R*S is padded with zeros to a multiple of this (the PoCL
 * tuning's KWG): for conv1 (147) CLBlast otherwise pads the whole im2col matrix itself on every
 * call, and 64 x 25088 x 147 ran at 9-14 GFLOP/s against 19-23 for x 144 or x 160. */
enum { CONV2D_K_ALIGN = 16 };

static size_t padded_crs(const conv2d_shape *s) {
  size_t crs = (size_t)s->c * s->r * s->s;
  return (crs + CONV2D_K_ALIGN - 1) / CONV2D_K_ALIGN * CONV2D_K_ALIGN;
}

static int chunk_images(const conv2d_shape *s) {
  size_t per_image = padded_crs(s) * conv2d_out_h(s) * conv2d_out_w(s);
  size_t g = CONV2D_CHUNK_FLOATS / (per_image ? per_image : 1);
  if (g < 1) g = 1;
  return g < (size_t)s->n ? (int)g : s->n;
}

/* The data gradient of a stride-1 convolution is itself a stride-1 convolution: of dy, with
 * the kernel flipped and its in/out channels swapped, and padding dil*(R-1) - pad (when that
 * is not negative). Run that way it is one forward pass whose GEMM has K*R*S inner terms
 * instead of K, and needs no col2im: at batch 16 layer1's data gradient went from 0.6x to
 * 1.2x the speed of its forward pass (GEMM + col2im: a 576 x 50176 x 64 GEMM, then a gather). */
static int dx_as_forward(const conv2d_shape *s, conv2d_shape *t) {
  conv2d_shape d = {s->n, s->k, conv2d_out_h(s), conv2d_out_w(s), s->c, s->r, s->s, 1, 1,
                    s->dil_h * (s->r - 1) - s->pad_h, s->dil_w * (s->s - 1) - s->pad_w,
                    s->dil_h, s->dil_w};
  if (t) *t = d;
  return s->stride_h == 1 && s->stride_w == 1 && d.pad_h >= 0 && d.pad_w >= 0;
}

/* Floats of the forward layout: a chunk's im2col matrix, the GEMM's (K, images, P) output and
 * the zero-padded weights. The backward GEMM + col2im path fits in it as well: its transposed
 * im2col then its column gradient (in turn: the queue is in order), the packed dy, and w
 * transposed. */
static size_t layout_floats(const conv2d_shape *s) {
  size_t crs = padded_crs(s), k = (size_t)s->k;
  size_t gp = (size_t)chunk_images(s) * conv2d_out_h(s) * conv2d_out_w(s);
  return crs * gp + k * gp + crs * k;
}

size_t conv2d_workspace_floats(const conv2d_shape *s) {
  conv2d_shape d;
  size_t f = layout_floats(s);
  if (dx_as_forward(s, &d) && layout_floats(&d) > f) f = layout_floats(&d);
  return f;
}

/* Where the forward layout keeps its prepared (K, padded C*R*S) weights. */
static buf weights_slot(buf workspace, const conv2d_shape *s) {
  size_t gp = (size_t)chunk_images(s) * conv2d_out_h(s) * conv2d_out_w(s);
  return buf_at(workspace, (padded_crs(s) + s->k) * gp);
}

static void arg_geometry(rt_call *c, const conv2d_shape *s) {
  arg_int(c, s->c), arg_int(c, s->h), arg_int(c, s->w);
  arg_int(c, s->r), arg_int(c, s->s);
  arg_int(c, conv2d_out_h(s)), arg_int(c, conv2d_out_w(s));
  arg_int(c, s->stride_h), arg_int(c, s->stride_w);
  arg_int(c, s->pad_h), arg_int(c, s->pad_w);
  arg_int(c, s->dil_h), arg_int(c, s->dil_w);
}

/* y (=, or += when accumulate) conv(x, wp) [+ b], wp being the weights prepared as
 * (K, padded C*R*S). */
static cltrain_status forward_core(cltrain_context *cx, buf y, buf x, buf wp, buf b, buf workspace,
                                   int accumulate, const conv2d_shape *s) {
  size_t crsp = padded_crs(s), oh = conv2d_out_h(s), p = oh * conv2d_out_w(s);
  size_t in_img = (size_t)s->c * s->h * s->w, out_img = (size_t)s->k * p;
  int g = chunk_images(s);
  buf col = workspace, yt = buf_at(workspace, crsp * g * p);
  rt_call call;
  for (int n0 = 0; n0 < s->n; n0 += g) {
    int nb = s->n - n0 < g ? s->n - n0 : g;
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_forward_im2col", &call));
    arg_buf(&call, col), arg_buf(&call, buf_at(x, n0 * in_img));
    arg_geometry(&call, s);
    arg_int(&call, nb), arg_int(&call, (int)crsp);
    size_t gi[3] = {oh, crsp, (size_t)nb};
    TRY(rt_run(&call, 3, gi, NULL));
    /* yt (K, nb*P) = wp (K,CRSP) x col (CRSP, nb*P), CRSP = CRS padded with zeros */
    TRY(blas_sgemm(cx, 0, 0, s->k, nb * p, crsp, 1.0f, wp, crsp, col, nb * p, 0.0f, yt, nb * p));
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_forward_unpack", &call));
    arg_buf(&call, buf_at(y, n0 * out_img)), arg_buf(&call, yt), arg_buf(&call, b);
    arg_int(&call, buf_present(b)), arg_int(&call, accumulate);
    arg_int(&call, s->k), arg_int(&call, (int)p), arg_int(&call, nb);
    size_t gu[3] = {p, (size_t)s->k, (size_t)nb};
    TRY(rt_run(&call, 3, gu, NULL));
  }
  return CLTRAIN_OK;
}

cltrain_status conv2d_forward(cltrain_context *cx, buf y, buf x, buf w, buf b, buf workspace,
                              const conv2d_shape *s) {
  TRY(conv2d_check_shape(cx, s));
  if (!y.mem || !x.mem || !w.mem || !workspace.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_forward: y, x, w and workspace must be buffers");
  size_t crs = (size_t)s->c * s->r * s->s, crsp = padded_crs(s);
  buf wp = w;
  if (crsp != crs) {
    rt_call call;
    wp = weights_slot(workspace, s);
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_forward_pad_w", &call));
    arg_buf(&call, wp), arg_buf(&call, w);
    arg_int(&call, s->k), arg_int(&call, (int)crs), arg_int(&call, (int)crsp);
    size_t gw[2] = {crsp, (size_t)s->k};
    TRY(rt_run(&call, 2, gw, NULL));
  }
  return forward_core(cx, y, x, wp, b, workspace, 0, s);
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
  int g = chunk_images(s);
  buf col = workspace, dyt = buf_at(workspace, crs * g * p), wt = buf_at(dyt, (size_t)s->k * g * p);
  rt_call call;

  if (buf_present(db)) {
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_bias", &call));
    arg_buf(&call, db), arg_buf(&call, dy);
    arg_int(&call, s->n), arg_int(&call, s->k), arg_int(&call, (int)p);
    size_t gb[1] = {(size_t)s->k};
    TRY(rt_run(&call, 1, gb, NULL));
  }
  if (!buf_present(dx) && !buf_present(dw)) return CLTRAIN_OK;
  conv2d_shape d;
  int fwd_dx = buf_present(dx) && dx_as_forward(s, &d);
  int gemm_dx = buf_present(dx) && !fwd_dx;
  if (gemm_dx) {
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_transpose_w", &call));
    arg_buf(&call, wt), arg_buf(&call, w);
    arg_int(&call, s->k), arg_int(&call, (int)crs);
    size_t gt[2] = {(size_t)s->k, crs};
    TRY(rt_run(&call, 2, gt, NULL));
  }
  for (int n0 = 0; n0 < s->n && (buf_present(dw) || gemm_dx); n0 += g) {
    int nb = s->n - n0 < g ? s->n - n0 : g;
    size_t np = (size_t)nb * p;
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_pack_dy", &call));
    arg_buf(&call, dyt), arg_buf(&call, buf_at(dy, n0 * out_img));
    arg_int(&call, s->k), arg_int(&call, (int)p), arg_int(&call, nb);
    size_t gp[3] = {p, (size_t)s->k, (size_t)nb};
    TRY(rt_run(&call, 3, gp, NULL));
    if (buf_present(dw)) {
      TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_im2col_t", &call));
      arg_buf(&call, col), arg_buf(&call, buf_at(x, n0 * in_img));
      arg_geometry(&call, s);
      arg_int(&call, nb);
      size_t gi[3] = {(size_t)s->c, p, (size_t)nb};
      TRY(rt_run(&call, 3, gi, NULL));
      /* dw (K,CRS) += dyt (K, nb*P) x colT (nb*P, CRS); chunks in order, so the sum is fixed. */
      TRY(blas_sgemm(cx, 0, 0, s->k, crs, np, 1.0f, dyt, np, col, crs, 1.0f, dw, crs));
    }
    if (gemm_dx) {
      /* dcol (CRS, nb*P) = wT (CRS,K) x dyt (K, nb*P), then gathered back into dx. */
      TRY(blas_sgemm(cx, 0, 0, crs, np, s->k, 1.0f, wt, s->k, dyt, np, 0.0f, col, np));
      TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_col2im", &call));
      arg_buf(&call, buf_at(dx, n0 * in_img)), arg_buf(&call, col);
      arg_geometry(&call, s);
      arg_int(&call, nb);
      arg_int(&call, accumulate_dx == OP_ACCUMULATE);
      size_t gc[3] = {(size_t)s->h, (size_t)s->c, (size_t)nb};
      TRY(rt_run(&call, 3, gc, NULL));
    }
  }
  if (fwd_dx) {
    /* After the chunks above, which reuse the same workspace (the queue is in order). */
    size_t krsp = padded_crs(&d);
    buf wf = weights_slot(workspace, &d);
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_flip_w", &call));
    arg_buf(&call, wf), arg_buf(&call, w);
    arg_int(&call, s->k), arg_int(&call, s->c), arg_int(&call, s->r * s->s), arg_int(&call, (int)krsp);
    size_t gf[2] = {krsp, (size_t)s->c};
    TRY(rt_run(&call, 2, gf, NULL));
    TRY(forward_core(cx, dx, dy, wf, buf_none(), workspace, accumulate_dx == OP_ACCUMULATE, &d));
  }
  return CLTRAIN_OK;
}
