/* conv2d.c: convolution as im2col plus SGEMM over chunks of images, with every operand laid out
 * so that no CLBlast GEMM needs a transposed operand (twice as slow on PoCL; the native backend
 * takes them for free); 3x3 stride-1 convolutions as Winograd F(2x2, 3x3) with batched GEMMs.
 * A grouped convolution (groups > 1) shares the im2col layout, whose rows for group g are
 * [g*Cg*R*S, (g+1)*Cg*R*S) (Cg = C/groups), and turns each GEMM into a batched GEMM with one
 * item per group (group_gemm); it takes the plain im2col paths only (see grouped()). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv2d.h"
#include "ops/conv2d_native.h"

static const char *const FILE_CL = "conv2d.cl", *const FILE_WINO = "winograd.cl";

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
  if (s->groups < 0 || s->c % conv2d_groups(s) || s->k % conv2d_groups(s))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d: groups %d must be positive and divide c %d and k %d",
                   s->groups, s->c, s->k);
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

/* Whether s is grouped. Such a convolution keeps to the im2col paths without extras: no zero
 * padding of C*R*S (it would split the groups' rows), no Winograd, no data gradient as a forward
 * pass or direct output (their weights would need regrouping), no partial products of dw, and
 * the forward pass's im2col layout in the backward pass on both backends (transposed GEMM
 * operands on CLBlast: slower, but no grouped transposing kernels). */
static int grouped(const conv2d_shape *s) { return conv2d_groups(s) > 1; }

static size_t padded_crs(const conv2d_shape *s) {
  size_t crs = (size_t)s->c * s->r * s->s;
  if (grouped(s)) return crs;
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
                    s->dil_h, s->dil_w, s->winograd, s->groups};
  if (t) *t = d;
  return !grouped(s) && s->stride_h == 1 && s->stride_w == 1 && d.pad_h >= 0 && d.pad_w >= 0;
}

/* Floats of the forward layout: a chunk's im2col matrix, the GEMM's (K, images, P) output and
 * the zero-padded weights. The backward GEMM + col2im path fits in it as well: its transposed
 * im2col (rows blas_batched_ld(C*R*S) apart) then its column gradient (in turn: the queue is
 * in order), the packed dy, and w transposed. */
static size_t layout_floats(const conv2d_shape *s) {
  size_t crs = padded_crs(s), k = (size_t)s->k;
  size_t gp = (size_t)chunk_images(s) * conv2d_out_h(s) * conv2d_out_w(s);
  return (crs + 1) * gp + k * gp + crs * k;
}

/* The leading dimension of the transposed im2col matrix and of dw's partial products. */
static size_t dw_ld(const conv2d_shape *s) {
  return blas_batched_ld((size_t)s->c * s->r * s->s);
}

/* The weight gradient's GEMM sums over every pixel of a chunk: dw (K, CRS) += dyt (K, nb*P) x
 * colT (nb*P, CRS), long and thin where the resolution is high (conv1: 64 x 147 x 25088).
 * blas_sgemm would cut that sum, for accuracy, into ~100 GEMMs of 256 inner terms run one
 * after the other, each too small to run well on PoCL (conv1's dw ran at 5 GFLOP/s). Instead
 * one batched GEMM computes the partial products of DW_SLICE pixels each, side by side, into
 * scratch, and a kernel adds them up in slice order (compensated): a fixed order, two calls.
 * Measured at batch 16 (docs/performance.md section 6) this pays only where C*R*S is below
 * DW_PARTS_MAX_CRS (conv1: 1.7x; the 1x1 downsamples): for layer1 and layer2 (576, 1152) the
 * sequential GEMMs were already large enough, and the batched one, which CLBlast runs through
 * padded copies of its operands, was 2x slower. The scratch holds at most DW_PARTS_FLOATS. */
enum { DW_SLICE = 256, DW_PARTS_MAX_CRS = 256 };
#ifndef DW_PARTS_FLOATS
#define DW_PARTS_FLOATS ((size_t)1 << 21)
#endif

/* Partial products per batched GEMM: 0 when that would be fewer than 2, or C*R*S is too large
 * to gain (plain GEMM instead). */
static size_t dw_parts(const conv2d_shape *s) {
  size_t crs = (size_t)s->c * s->r * s->s, kc = (size_t)s->k * crs;
  if (crs >= DW_PARTS_MAX_CRS || grouped(s)) return 0;
  size_t np = (size_t)chunk_images(s) * conv2d_out_h(s) * conv2d_out_w(s);
  size_t all = (np + DW_SLICE - 1) / DW_SLICE, fit = DW_PARTS_FLOATS / kc;
  size_t n = all < fit ? all : fit;
  return n >= 2 ? n : 0;
}

/* 3x3 stride-1 convolutions can run as Winograd F(2x2, 3x3) (kernels/winograd.cl): 16 batched
 * GEMMs of C inner terms per 2x2 output tile instead of one of 9C per pixel, 2.25x fewer
 * multiplications, for input and output transforms that only move data; forward pass and data
 * gradient. Measured at batch 16 against im2col (docs/performance.md section 6): layer3 1.6x
 * faster, layer4's data gradient 1.3x, layer2 level, layer1 (C = 64: thin GEMMs over many
 * tiles) 1.4-1.8x slower, hence WINOGRAD_MIN_C. It is deterministic (the same sums in a fixed
 * order) and within the op tests' tolerances against float64, but up to 1.75x less accurate
 * than im2col. On every 3x3 stride-1 convolution, multi-step training with train-mode BN
 * amplified that past test_train's bound (3x PyTorch-float32's drift from float64; measured
 * 5x); on C >= WINOGRAD_MIN_C only, test_train passed, but the whole suite has not run that
 * way yet. So it is off unless the shape's winograd (the context's CLTRAIN_OPT_CONV_WINOGRAD) is
 * 1 (C >= WINOGRAD_MIN_C) or 2 (every 3x3 stride-1 convolution).
 *
 * On the native (OpenBLAS) backend the batched GEMMs are plain OpenBLAS calls with no padded
 * copies, and the same A/B (docs/performance.md section 18, process CPU time) found Winograd
 * 1.2-1.4x faster for C = 128 and 256, level at 512 and 1.3-2x slower at 64; test_train's five
 * configurations passed with it on for C >= 128. So there it is the default (shape winograd 3,
 * C >= WINOGRAD_NATIVE_MIN_C) where its layout fits CONV2D_CHUNK_FLOATS, so that the default
 * workspace does not grow (layer2 and layer3 fit; layer4's transformed weights alone do not, and
 * it was level), unless the context's option turns it off (-1) or asks for 1 or 2. */
enum { WINOGRAD_MIN_C = 256, WINOGRAD_NATIVE_MIN_C = 128 };

static size_t wino_floats(const conv2d_shape *s);

static int use_winograd(const conv2d_shape *s) {
  static const int min_c[] = {0, WINOGRAD_MIN_C, 1, WINOGRAD_NATIVE_MIN_C};
  if (s->winograd < 1 || s->winograd > 3 || grouped(s)) return 0;
  return s->r == 3 && s->s == 3 && s->stride_h == 1 && s->stride_w == 1 && s->dil_h == 1 &&
         s->dil_w == 1 && s->c >= min_c[s->winograd] &&
         (s->winograd != 3 || wino_floats(s) <= CONV2D_CHUNK_FLOATS);
}

int conv2d_winograd_mode(const cltrain_context *cx) {
  if (cx->conv_winograd < 0) return 0;
  if (cx->conv_winograd == 0) return blas_layout_free(cx) ? 3 : 0;
  return cx->conv_winograd;
}

static size_t wino_tiles(const conv2d_shape *s) {
  return (size_t)((conv2d_out_h(s) + 1) / 2) * ((conv2d_out_w(s) + 1) / 2);
}

/* Floats of the Winograd layout that do not grow with the images of a chunk: the transformed
 * weights, room for the flipped ones, and v's and m's extra column (blas_batched_ld). */
static size_t wino_fixed(const conv2d_shape *s) {
  return 16 * (size_t)s->k * blas_batched_ld(s->c) + 9 * (size_t)s->k * s->c + 16 * (size_t)(s->c + s->k);
}

/* Images per Winograd chunk: the whole layout within CONV2D_CHUNK_FLOATS when an image fits. */
static int wino_images(const conv2d_shape *s) {
  size_t per_image = 16 * (size_t)(s->c + s->k) * wino_tiles(s), fixed = wino_fixed(s);
  size_t g = fixed < CONV2D_CHUNK_FLOATS ? (CONV2D_CHUNK_FLOATS - fixed) / per_image : 0;
  if (g < 1) g = 1;
  return g < (size_t)s->n ? (int)g : s->n;
}

/* Floats of the Winograd layout: the transformed weights u (16,K,C), a chunk's transformed
 * input v (16,C,tiles) and GEMM output m (16,K,tiles), rows blas_batched_ld() apart, and room
 * for (K,C,3,3) weights (the data gradient's flipped ones). */
static size_t wino_floats(const conv2d_shape *s) {
  size_t ldt = blas_batched_ld((size_t)wino_images(s) * wino_tiles(s));
  return 16 * (size_t)s->k * blas_batched_ld(s->c) + 16 * (size_t)(s->c + s->k) * ldt +
         9 * (size_t)s->k * s->c;
}

/* The forward path's floats: im2col's layout, or Winograd's. */
static size_t forward_floats(const conv2d_shape *s) {
  return use_winograd(s) ? wino_floats(s) : layout_floats(s);
}

size_t conv2d_workspace_floats(const conv2d_shape *s) {
  conv2d_shape d;
  size_t f = layout_floats(s) + dw_parts(s) * s->k * dw_ld(s);
  if (forward_floats(s) > f) f = forward_floats(s);
  if (dx_as_forward(s, &d) && forward_floats(&d) > f) f = forward_floats(&d);
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

/* Launches im2col or col2im over nb images: kernel `name` in the CPU shapes, a work-item per row
 * over (rows, planes, nb); `name`_each in the GPU shapes (CLTRAIN_OPT_KERNEL_SHAPE), a work-item
 * per element of `out`, `items` of them (1-D: no dimension near 65535; below 2^31, as the shape
 * check keeps the workspace and dx in int range, so the kernels split indices in 32 bits).
 * `last`: the kernel's last argument. */
static cltrain_status move_rows(cltrain_context *cx, const char *name, buf out, buf in, int nb,
                                int last, size_t items, size_t rows, size_t planes,
                                const conv2d_shape *s) {
  rt_call call;
  int gpu = rt_gpu_shapes(cx);
  char kernel[64];
  snprintf(kernel, sizeof kernel, "%s%s", name, gpu ? "_each" : "");
  TRY(rt_kernel(cx, FILE_CL, "", kernel, &call));
  arg_buf(&call, out), arg_buf(&call, in);
  arg_geometry(&call, s);
  arg_int(&call, nb), arg_int(&call, last);
  if (gpu) return rt_run_items(&call, items);
  size_t g[3] = {rows, planes, (size_t)nb};
  return rt_run(&call, 3, g, NULL);
}

/* col (rows, nb*P) = im2col of the nb images (nb,C,H,W) at x, zero rows past C*R*S. */
static cltrain_status im2col(cltrain_context *cx, buf col, buf x, int nb, size_t rows,
                             const conv2d_shape *s) {
  size_t oh = conv2d_out_h(s);
  return move_rows(cx, "conv2d_forward_im2col", col, x, nb, (int)rows,
                   rows * nb * oh * conv2d_out_w(s), oh, rows, s);
}

/* dx (nb,C,H,W) (=, or += when accumulate) col2im of dcol (C*R*S, nb*P). */
static cltrain_status col2im(cltrain_context *cx, buf dx, buf dcol, int nb, int accumulate,
                             const conv2d_shape *s) {
  return move_rows(cx, "conv2d_backward_col2im", dx, dcol, nb, accumulate,
                   (size_t)nb * s->c * s->h * s->w, (size_t)s->h, (size_t)s->c, s);
}

/* 1 when the forward GEMM writes y's (N,K,P) layout itself, one GEMM per image of a chunk
 * (a batched call), instead of one GEMM over the chunk into (K, nb*P) and an unpack kernel.
 * Only where per-item calls cost nothing (blas_layout_free), with no bias to add, and where
 * it moves fewer bytes: each per-image GEMM packs the (K, CRSP) weights again, while the
 * unpack reads and writes (K, P) per image, so it pays while CRSP < P (conv1, layer1, the
 * downsamples; not layer3/4's 3x3s, whose weights outweigh their small planes). */
static int direct_output(const cltrain_context *cx, const conv2d_shape *s, buf b) {
  return blas_layout_free(cx) && !buf_present(b) && !grouped(s) &&
         padded_crs(s) < (size_t)conv2d_out_h(s) * conv2d_out_w(s);
}

/* C (=, or += when beta is 1) op(A) x op(B) for each group of s, as blas_sgemm with m, n, k
 * per group and each operand's stride from one group to the next (sa, sb, sc): one batched
 * call, or blas_sgemm itself when s is not grouped. */
static cltrain_status group_gemm(cltrain_context *cx, const conv2d_shape *s, int ta, int tb, size_t m,
                                 size_t n, size_t k, buf a, size_t lda, size_t sa, buf b, size_t ldb,
                                 size_t sb, float beta, buf c, size_t ldc, size_t sc) {
  if (!grouped(s)) return blas_sgemm(cx, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  return blas_sgemm_batched(cx, ta, tb, m, n, k, 1.0f, a, lda, sa, b, ldb, sb, beta, c, ldc, sc,
                            conv2d_groups(s));
}

/* y (=, or += when accumulate) conv(x, wp) [+ b], wp being the weights prepared as
 * (K, padded C*R*S), or (K, C/groups*R*S) when grouped. */
static cltrain_status forward_core(cltrain_context *cx, buf y, buf x, buf wp, buf b, buf workspace,
                                   int accumulate, const conv2d_shape *s) {
  size_t crsp = padded_crs(s), oh = conv2d_out_h(s), p = oh * conv2d_out_w(s);
  size_t in_img = (size_t)s->c * s->h * s->w, out_img = (size_t)s->k * p;
  int g = chunk_images(s), direct = direct_output(cx, s, b);
  buf col = workspace, yt = buf_at(workspace, crsp * g * p);
  rt_call call;
  /* On the native backend, 3x3 stride-1 convolutions pack x into a cache-sized panel per block
   * of output rows instead (conv2d_native.c; its panel fits where col's chunk does). */
  if (conv2d_native_fits(cx, s, b))
    return conv2d_native_forward(cx, y, x, wp, crsp, workspace, accumulate, s);
  for (int n0 = 0; n0 < s->n; n0 += g) {
    int nb = s->n - n0 < g ? s->n - n0 : g;
    TRY(im2col(cx, col, buf_at(x, n0 * in_img), nb, crsp, s));
    if (direct) {
      /* y[i] (K, P) (= or +=) wp (K,CRSP) x col[:, i*P .. (i+1)*P) (CRSP, P; rows nb*P apart) */
      TRY(blas_sgemm_batched(cx, 0, 0, s->k, p, crsp, 1.0f, wp, crsp, 0, col, nb * p, p,
                             accumulate ? 1.0f : 0.0f, buf_at(y, n0 * out_img), p, out_img, nb));
      continue;
    }
    /* yt (K, nb*P) = wp (K,CRSP) x col (CRSP, nb*P), CRSP = CRS padded with zeros; grouped:
     * yt's rows of group g from wp's (Kg, CRSP/groups) and col's rows of group g */
    size_t kg = s->k / conv2d_groups(s), cg = crsp / conv2d_groups(s), np = nb * p;
    TRY(group_gemm(cx, s, 0, 0, kg, np, cg, wp, cg, kg * cg, col, np, cg * np, 0.0f, yt, np, kg * np));
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_forward_unpack", &call));
    arg_buf(&call, buf_at(y, n0 * out_img)), arg_buf(&call, yt), arg_buf(&call, b);
    arg_int(&call, buf_present(b)), arg_int(&call, accumulate);
    arg_int(&call, s->k), arg_int(&call, (int)p), arg_int(&call, nb);
    size_t gu[3] = {p, (size_t)s->k, (size_t)nb};
    TRY(rt_run(&call, 3, gu, NULL));
  }
  return CLTRAIN_OK;
}

/* y (=, or += when accumulate) conv(x, w) [+ b] as Winograd F(2x2, 3x3), w being (K,C,3,3). */
static cltrain_status winograd_forward(cltrain_context *cx, buf y, buf x, buf w, buf b,
                                       buf workspace, int accumulate, const conv2d_shape *s) {
  int oh = conv2d_out_h(s), ow = conv2d_out_w(s), th = (oh + 1) / 2, tw = (ow + 1) / 2;
  int g = wino_images(s);
  size_t in_img = (size_t)s->c * s->h * s->w, out_img = (size_t)s->k * oh * ow;
  /* u's, and v's and m's rows: ldu and ldt floats apart */
  size_t ldu = blas_batched_ld(s->c), ldt = blas_batched_ld((size_t)g * wino_tiles(s));
  size_t su = (size_t)s->k * ldu, sv = (size_t)s->c * ldt, sm = (size_t)s->k * ldt;
  buf u = workspace, v = buf_at(u, 16 * su), m = buf_at(v, 16 * sv);
  rt_call call;
  TRY(rt_kernel(cx, FILE_WINO, "", "winograd_weights", &call));
  arg_buf(&call, u), arg_buf(&call, w);
  arg_int(&call, s->k), arg_int(&call, s->c), arg_int(&call, (int)ldu);
  size_t gw[2] = {(size_t)s->c, (size_t)s->k};
  TRY(rt_run(&call, 2, gw, NULL));
  for (int n0 = 0; n0 < s->n; n0 += g) {
    int nb = s->n - n0 < g ? s->n - n0 : g;
    size_t tiles = (size_t)nb * wino_tiles(s);
    TRY(rt_kernel(cx, FILE_WINO, "", "winograd_input", &call));
    arg_buf(&call, v), arg_buf(&call, buf_at(x, n0 * in_img));
    arg_int(&call, s->c), arg_int(&call, s->h), arg_int(&call, s->w);
    arg_int(&call, s->pad_h), arg_int(&call, s->pad_w);
    arg_int(&call, th), arg_int(&call, tw), arg_int(&call, nb), arg_int(&call, (int)ldt);
    size_t gi[3] = {(size_t)tw, (size_t)th, (size_t)s->c * nb};
    TRY(rt_run(&call, 3, gi, NULL));
    /* m[e] (K, tiles) = u[e] (K,C) x v[e] (C, tiles), for the 16 elements e of a tile */
    TRY(blas_sgemm_batched(cx, 0, 0, s->k, tiles, s->c, 1.0f, u, ldu, su, v, ldt, sv, 0.0f, m,
                           ldt, sm, 16));
    TRY(rt_kernel(cx, FILE_WINO, "", "winograd_output", &call));
    arg_buf(&call, buf_at(y, n0 * out_img)), arg_buf(&call, m), arg_buf(&call, b);
    arg_int(&call, buf_present(b)), arg_int(&call, accumulate);
    arg_int(&call, s->k), arg_int(&call, oh), arg_int(&call, ow);
    arg_int(&call, th), arg_int(&call, tw), arg_int(&call, nb), arg_int(&call, (int)ldt);
    size_t go[3] = {(size_t)tw, (size_t)th, (size_t)s->k * nb};
    TRY(rt_run(&call, 3, go, NULL));
  }
  return CLTRAIN_OK;
}

cltrain_status conv2d_forward(cltrain_context *cx, buf y, buf x, buf w, buf b, buf workspace,
                              const conv2d_shape *s) {
  TRY(conv2d_check_shape(cx, s));
  if (!y.mem || !x.mem || !w.mem || !workspace.mem)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "conv2d_forward: y, x, w and workspace must be buffers");
  if (use_winograd(s)) return winograd_forward(cx, y, x, w, b, workspace, 0, s);
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

/* dw (K, CRS) += dyt (K, np) x col^T, as described at DW_SLICE, col being the chunk's im2col:
 * transposed (np, CRS; rows dw_ld(s) apart) when col_t, else as the forward pass lays it out
 * (CRS, np) and read through a transposed GEMM (blas_layout_free). parts is the scratch for
 * dw_parts(s) partial products, rows dw_ld(s) apart. */
static cltrain_status weight_grad(cltrain_context *cx, buf dw, buf dyt, buf col, int col_t,
                                  buf parts, size_t np, const conv2d_shape *s) {
  size_t crs = (size_t)s->c * s->r * s->s, ld = dw_ld(s), kc = (size_t)s->k * ld;
  size_t ldb = col_t ? ld : np, pix = col_t ? ld : 1; /* col's rows; one pixel to the next */
  size_t per_call = dw_parts(s), slices = (np + DW_SLICE - 1) / DW_SLICE;
  size_t kg = s->k / conv2d_groups(s), cg = crs / conv2d_groups(s);
  if (!per_call || slices < 2) /* grouped: dw (Kg, Cg*R*S) of group g from its rows of dyt, col */
    return group_gemm(cx, s, 0, !col_t, kg, cg, np, dyt, np, kg * np, col, ldb, cg * (col_t ? 1 : np),
                      1.0f, dw, cg, kg * cg);
  rt_call call;
  for (size_t j0 = 0; j0 < slices; j0 += per_call) {
    size_t nj = slices - j0 < per_call ? slices - j0 : per_call;
    size_t full = nj, p0 = j0 * DW_SLICE;
    if (j0 + nj == slices && np % DW_SLICE) full--; /* the last slice is short */
    TRY(blas_sgemm_batched(cx, 0, !col_t, s->k, crs, DW_SLICE, 1.0f, buf_at(dyt, p0), np,
                           DW_SLICE, buf_at(col, p0 * pix), ldb, DW_SLICE * pix, 0.0f, parts, ld,
                           kc, full));
    if (full < nj) {
      size_t q0 = p0 + full * DW_SLICE;
      TRY(blas_sgemm(cx, 0, !col_t, s->k, crs, np - q0, 1.0f, buf_at(dyt, q0), np,
                     buf_at(col, q0 * pix), ldb, 0.0f, buf_at(parts, full * kc), ld));
    }
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_sum_parts", &call));
    arg_buf(&call, dw), arg_buf(&call, parts);
    arg_int(&call, s->k), arg_int(&call, (int)crs), arg_int(&call, (int)ld), arg_int(&call, (int)nj);
    size_t gs[2] = {crs, (size_t)s->k};
    TRY(rt_run(&call, 2, gs, NULL));
  }
  return CLTRAIN_OK;
}

cltrain_status conv2d_backward_bias(cltrain_context *cx, buf db, buf dy, int n, int k, size_t p) {
  rt_call call;
  TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_bias", &call));
  arg_buf(&call, db), arg_buf(&call, dy);
  arg_int(&call, n), arg_int(&call, k), arg_int(&call, (int)p);
  /* One work-group per channel, as wide as a plane up to the reduction width (<= 256, the
   * kernel's local array). */
  return rt_run_groups(&call, rt_reduce_width_for(cx, p), (size_t)k, 1, 1);
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
  size_t kg = s->k / conv2d_groups(s), cg = crs / conv2d_groups(s); /* per group (grouped()) */
  int g = chunk_images(s);
  buf col = workspace, dyt = buf_at(workspace, dw_ld(s) * g * p);
  buf wt = buf_at(dyt, (size_t)s->k * g * p);
  buf parts = buf_at(workspace, layout_floats(s));
  rt_call call;

  if (buf_present(db)) TRY(conv2d_backward_bias(cx, db, dy, s->n, s->k, p));
  if (!buf_present(dx) && !buf_present(dw)) return CLTRAIN_OK;
  conv2d_shape d;
  int fwd_dx = buf_present(dx) && dx_as_forward(s, &d);
  int gemm_dx = buf_present(dx) && !fwd_dx;
  /* Where a GEMM's operand layout costs nothing, the weight gradient reads the forward pass's
   * im2col layout and the data gradient reads w as it is: the transposed im2col (R*S floats
   * per work-item, each from its own channel plane) took more of a batch-16 step on PoCL
   * (10.9% of its perf samples) than the forward one, run twice per layer (8.8%); with it
   * gone the im2col samples fell by 26% (docs/performance.md section 12). */
  int col_t = !grouped(s) && !blas_layout_free(cx);
  if (gemm_dx && col_t) {
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
      if (col_t) {
        TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_im2col_t", &call));
        arg_buf(&call, col), arg_buf(&call, buf_at(x, n0 * in_img));
        arg_geometry(&call, s);
        arg_int(&call, nb), arg_int(&call, (int)dw_ld(s));
        size_t gi[3] = {(size_t)s->c, p, (size_t)nb};
        TRY(rt_run(&call, 3, gi, NULL));
      } else {
        TRY(im2col(cx, col, buf_at(x, n0 * in_img), nb, crs, s));
      }
      /* dw (K,CRS) += dyt (K, nb*P) x col^T; chunks in order, so the sum is fixed. */
      TRY(weight_grad(cx, dw, dyt, col, col_t, parts, np, s));
    }
    if (gemm_dx) {
      /* dcol (CRS, nb*P) = wT (CRS,K) x dyt (K, nb*P), then gathered back into dx. */
      if (col_t) TRY(blas_sgemm(cx, 0, 0, crs, np, s->k, 1.0f, wt, s->k, dyt, np, 0.0f, col, np));
      else TRY(group_gemm(cx, s, 1, 0, cg, np, kg, w, cg, kg * cg, dyt, np, kg * np, 0.0f, col, np, cg * np));
      TRY(col2im(cx, buf_at(dx, n0 * in_img), col, nb, accumulate_dx == OP_ACCUMULATE, s));
    }
  }
  if (fwd_dx) {
    /* After the chunks above, which reuse the same workspace (the queue is in order).
     * Winograd reads the flipped weights as (C,K,3,3), unpadded, from the end of its layout. */
    int wino = use_winograd(&d);
    size_t krsp = wino ? (size_t)s->k * s->r * s->s : padded_crs(&d);
    buf wf = wino ? buf_at(workspace, wino_floats(&d) - krsp * s->c) : weights_slot(workspace, &d);
    TRY(rt_kernel(cx, FILE_CL, "", "conv2d_backward_flip_w", &call));
    arg_buf(&call, wf), arg_buf(&call, w);
    arg_int(&call, s->k), arg_int(&call, s->c), arg_int(&call, s->r * s->s), arg_int(&call, (int)krsp);
    size_t gf[2] = {krsp, (size_t)s->c};
    TRY(rt_run(&call, 2, gf, NULL));
    int acc = accumulate_dx == OP_ACCUMULATE;
    if (wino) TRY(winograd_forward(cx, dx, dy, wf, buf_none(), workspace, acc, &d));
    else TRY(forward_core(cx, dx, dy, wf, buf_none(), workspace, acc, &d));
  }
  return CLTRAIN_OK;
}
