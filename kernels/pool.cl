/* pool.cl: max, average and global average 2-D pooling, forward and backward (gathers, no atomics). */

/* Window geometry comes from -D options (one build per geometry; ResNet has one or two). */
#ifndef KH
#define KH 1
#endif
#ifndef KW
#define KW 1
#endif
#ifndef SH
#define SH 1
#endif
#ifndef SW
#define SW 1
#endif
#ifndef PH
#define PH 0
#endif
#ifndef PW
#define PW 0
#endif
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif

/* Outputs whose windows cover input row i: o*S - P <= i <= o*S - P + K - 1, clipped to [0, O). */
#define FIRST_COVER(i, K, S, P) ((i) + (P) < (K) ? 0 : ((i) + (P) - (K)) / (S) + 1)
#define LAST_COVER(i, S, P, O) min(((i) + (P)) / (S), (O) - 1)
/* At most this many outputs along one axis cover an input: a fixed trip count unrolls. */
#define COVER_H ((KH + SH - 1) / SH)
#define COVER_W ((KW + SW - 1) / SW)

/* Global size (OW, OH, N*C). Scan in row-major window order; strict > keeps the first max, and
 * a NaN always replaces (PyTorch's CPU rule). Padding is -inf: it is skipped, never chosen. */
__kernel void maxpool2d_forward(__global float *y, int y_off, __global int *idx, int idx_off,
                                __global const float *x, int x_off, int H, int W, int OH, int OW,
                                int NC) {
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH || nc >= NC) return;
  int h0 = oh * SH - PH, w0 = ow * SW - PW;
  __global const float *xp = x + x_off + (size_t)nc * H * W;
  /* The first in-bounds position, as PyTorch does when every value is -inf. */
  int best = max(h0, 0) * W + max(w0, 0);
  float m = -INFINITY;
  for (int i = 0; i < KH; i++) {
    int ih = h0 + i;
    if (ih < 0 || ih >= H) continue;
    for (int j = 0; j < KW; j++) {
      int iw = w0 + j;
      if (iw < 0 || iw >= W) continue;
      float v = xp[ih * W + iw];
      if (v > m || isnan(v)) {
        m = v;
        best = ih * W + iw;
      }
    }
  }
  size_t o = (size_t)nc * OH * OW + (size_t)oh * OW + ow;
  y[y_off + o] = m;
  idx[idx_off + o] = best;
}

/* Global size (W, H, N*C): each input sums, in (oh, ow) order, the gradients of the outputs that
 * chose it; the same additions in the same order as PyTorch's scatter into zeros. */
__kernel void maxpool2d_backward_input(__global float *dx, int dx_off, __global const float *dy,
                                       int dy_off, __global const int *idx, int idx_off, int H,
                                       int W, int OH, int OW, int NC) {
  int iw = get_global_id(0), ih = get_global_id(1), nc = get_global_id(2);
  if (iw >= W || ih >= H || nc >= NC) return;
  int oh0 = FIRST_COVER(ih, KH, SH, PH), oh1 = LAST_COVER(ih, SH, PH, OH);
  int ow0 = FIRST_COVER(iw, KW, SW, PW), ow1 = LAST_COVER(iw, SW, PW, OW);
  int me = ih * W + iw;
  size_t plane = (size_t)nc * OH * OW;
  float s = 0.0f;
  for (int i = 0; i < COVER_H; i++) {
    int oh = oh0 + i;
    if (oh > oh1) break;
    for (int j = 0; j < COVER_W; j++) {
      int ow = ow0 + j;
      if (ow > ow1) break;
      size_t o = plane + (size_t)oh * OW + ow;
      if (idx[idx_off + o] == me) s += dy[dy_off + o];
    }
  }
  size_t e = (size_t)nc * H * W + me;
#if ACCUMULATE
  dx[dx_off + e] += s;
#else
  dx[dx_off + e] = s;
#endif
}

/* Global size (OW, OH, N*C). count_include_pad: the divisor is always KH*KW. */
__kernel void avgpool2d_forward(__global float *y, int y_off, __global const float *x, int x_off,
                                int H, int W, int OH, int OW, int NC) {
  int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
  if (ow >= OW || oh >= OH || nc >= NC) return;
  int h0 = oh * SH - PH, w0 = ow * SW - PW;
  __global const float *xp = x + x_off + (size_t)nc * H * W;
  float s = 0.0f;
  for (int i = 0; i < KH; i++) {
    int ih = h0 + i;
    if (ih < 0 || ih >= H) continue;
    for (int j = 0; j < KW; j++) {
      int iw = w0 + j;
      if (iw >= 0 && iw < W) s += xp[ih * W + iw];
    }
  }
  y[y_off + (size_t)nc * OH * OW + (size_t)oh * OW + ow] = s / (float)(KH * KW);
}

/* Global size (W, H, N*C): each input gathers dy / (KH*KW) from the outputs covering it. */
__kernel void avgpool2d_backward_input(__global float *dx, int dx_off, __global const float *dy,
                                       int dy_off, int H, int W, int OH, int OW, int NC) {
  int iw = get_global_id(0), ih = get_global_id(1), nc = get_global_id(2);
  if (iw >= W || ih >= H || nc >= NC) return;
  int oh0 = FIRST_COVER(ih, KH, SH, PH), oh1 = LAST_COVER(ih, SH, PH, OH);
  int ow0 = FIRST_COVER(iw, KW, SW, PW), ow1 = LAST_COVER(iw, SW, PW, OW);
  __global const float *dyp = dy + dy_off + (size_t)nc * OH * OW;
  float s = 0.0f;
  for (int i = 0; i < COVER_H; i++) {
    int oh = oh0 + i;
    if (oh > oh1) break;
    for (int j = 0; j < COVER_W; j++) {
      int ow = ow0 + j;
      if (ow > ow1) break;
      s += dyp[oh * OW + ow] / (float)(KH * KW);
    }
  }
  size_t e = (size_t)nc * H * W + (size_t)ih * W + iw;
#if ACCUMULATE
  dx[dx_off + e] += s;
#else
  dx[dx_off + e] = s;
#endif
}

/* Global size N*C: one plane's sum in index order, then one division. */
__kernel void global_avgpool_forward(__global float *y, int y_off, __global const float *x,
                                     int x_off, int HW, int NC) {
  int nc = get_global_id(0);
  if (nc >= NC) return;
  __global const float *xp = x + x_off + (size_t)nc * HW;
  float s = 0.0f;
  for (int i = 0; i < HW; i++) s += xp[i];
  y[y_off + nc] = s / (float)HW;
}

/* Global size N*C*H*W. */
__kernel void global_avgpool_backward_input(__global float *dx, int dx_off, __global const float *dy,
                                            int dy_off, int HW, int total) {
  int e = get_global_id(0);
  if (e >= total) return;
  float g = dy[dy_off + e / HW] / (float)HW;
#if ACCUMULATE
  dx[dx_off + e] += g;
#else
  dx[dx_off + e] = g;
#endif
}
