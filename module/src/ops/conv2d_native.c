/* conv2d_native.c: the native (OpenBLAS) backend's forward convolution without an im2col matrix:
 * one native kernel packs x per image and block of output rows into a cache-sized panel and
 * multiplies the weights by it straight into y. */
#include <stdlib.h>
#include <string.h>

#include "ops/conv2d_native.h"
#include "runtime/blas.h"
#include "runtime/gemm_native.h"

/* The panel's size in floats: 128 Ki floats (512 KiB) fits next to OpenBLAS's own packed
 * panels in a 1 MiB L2. A block is at least one output row. */
#ifndef CONV2D_NATIVE_PANEL_FLOATS
#define CONV2D_NATIVE_PANEL_FLOATS ((size_t)1 << 17)
#endif

static int enabled = 1;

void conv2d_native_enable(int on) { enabled = on; }

/* Output rows per block: as many as fit the panel, at least one, at most the image's. */
static int block_rows(const conv2d_shape *s) {
  size_t crs = (size_t)s->c * s->r * s->s, row = crs * conv2d_out_w(s);
  size_t rows = CONV2D_NATIVE_PANEL_FLOATS / row;
  if (rows < 1) rows = 1;
  return rows < (size_t)conv2d_out_h(s) ? (int)rows : conv2d_out_h(s);
}

/* Each block's GEMM packs the (K, C*R*S) weights again, so this pays only where a block has
 * many pixels for its weights: measured (docs/performance.md section 18) it won at layer1
 * (C*R*S 576 against a 3136-pixel plane) and lost at layer3/4 (2304 and 4608 against 196 and
 * 49), as direct_output's rule in conv2d.c predicts; the same rule applies. */
int conv2d_native_fits(const cltrain_context *cx, const conv2d_shape *s, buf b) {
  size_t crs = (size_t)s->c * s->r * s->s, p = (size_t)conv2d_out_h(s) * conv2d_out_w(s);
  return enabled && blas_layout_free(cx) && !buf_present(b) && conv2d_groups(s) == 1 && s->r == 3 &&
         s->s == 3 && s->stride_h == 1 && s->stride_w == 1 && s->dil_h == 1 && s->dil_w == 1 && crs < p;
}

size_t conv2d_native_floats(const conv2d_shape *s) {
  return (size_t)s->c * s->r * s->s * block_rows(s) * conv2d_out_w(s);
}

/* im2col writes a chunk's whole (C*R*S, images*P) matrix, 9x the input for a 3x3 kernel, for
 * OpenBLAS to read back from memory; a panel of a few output rows is written and read in the
 * cache. */
typedef struct native_conv {
  conv2d_shape s;
  size_t ldw;
  int accumulate;
} native_conv;

/* panel (C*R*S, rows*OW) = the im2col rows of output rows oh0 .. oh0+rows of one image x. */
static void pack(float *panel, const float *x, const conv2d_shape *s, int oh0, int rows) {
  int ow = conv2d_out_w(s);
  size_t np = (size_t)rows * ow;
  for (int c = 0; c < s->c; c++)
    for (int r = 0; r < s->r; r++)
      for (int q = 0; q < s->s; q++) {
        float *dst = panel + (((size_t)c * s->r + r) * s->s + q) * np;
        /* iw = j*stride + off lies in [0, W) for j in [lo, hi) */
        int off = q * s->dil_w - s->pad_w;
        int lo = off >= 0 ? 0 : (-off + s->stride_w - 1) / s->stride_w;
        int hi = s->w - 1 - off < 0 ? 0 : (s->w - 1 - off) / s->stride_w + 1;
        if (hi > ow) hi = ow;
        if (lo > hi) lo = hi;
        for (int i = 0; i < rows; i++, dst += ow) {
          int ih = (oh0 + i) * s->stride_h - s->pad_h + r * s->dil_h;
          if (ih < 0 || ih >= s->h) {
            memset(dst, 0, sizeof(float) * ow);
            continue;
          }
          const float *src = x + ((size_t)c * s->h + ih) * s->w + off;
          memset(dst, 0, sizeof(float) * lo);
          if (s->stride_w == 1) memcpy(dst + lo, src + lo, sizeof(float) * (hi - lo));
          else
            for (int j = lo; j < hi; j++) dst[j] = src[(size_t)j * s->stride_w];
          memset(dst + hi, 0, sizeof(float) * (ow - hi));
        }
      }
}

/* ptr: y, x, w, panel. Blocks and images in a fixed order, each GEMM with blas_sgemm's K
 * chunks: the same sums in the same order on every run. */
static void native_conv_run(void *data, float *const *ptr) {
  const native_conv *t = data;
  const conv2d_shape *s = &t->s;
  float *y = ptr[0], *panel = ptr[3];
  const float *x = ptr[1], *w = ptr[2];
  int oh = conv2d_out_h(s), ow = conv2d_out_w(s), rows = block_rows(s);
  size_t p = (size_t)oh * ow, crs = (size_t)s->c * s->r * s->s;
  size_t in_img = (size_t)s->c * s->h * s->w, out_img = (size_t)s->k * p;
  for (int n = 0; n < s->n; n++)
    for (int oh0 = 0; oh0 < oh; oh0 += rows) {
      int nr = oh - oh0 < rows ? oh - oh0 : rows;
      size_t np = (size_t)nr * ow;
      pack(panel, x + n * in_img, s, oh0, nr);
      /* y[n][:, oh0*OW ..] (K, np; rows P apart) (= or +=) w (K, CRS) x panel (CRS, np) */
      gemm_native_sgemm_host(0, 0, s->k, np, crs, 1.0f, w, t->ldw, panel, np,
                             t->accumulate ? 1.0f : 0.0f, y + n * out_img + (size_t)oh0 * ow, p);
    }
}

cltrain_status conv2d_native_forward(cltrain_context *cx, buf y, buf x, buf w, size_t ldw,
                                     buf panel, int accumulate, const conv2d_shape *s) {
  native_conv *t = malloc(sizeof *t);
  if (!t) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "conv2d: out of host memory");
  *t = (native_conv){*s, ldw, accumulate};
  const buf bufs[4] = {y, x, w, panel};
  return gemm_native_enqueue(cx, bufs, 4, native_conv_run, t);
}
