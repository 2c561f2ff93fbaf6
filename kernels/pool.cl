/* pool.cl: max, average and global average 2-D pooling, forward and backward (gathers, no atomics).
 * Rounding: max pooling is exact; the averages divide by a window size once per output, so a
 * GPU's 2.5-ulp division stays far inside the pool tests' tolerances: default build flags. */

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

/* Max of one window with bound checks, scanning in row-major order; strict > keeps the first
 * max, and a NaN always replaces (PyTorch's CPU rule). Padding is -inf: skipped, never chosen;
 * if every value is -inf the first in-bounds position is reported, as PyTorch does. */
static void max_window_checked(__global const float *xp, int H, int W, int h0, int w0,
                               __global float *yo, __global int *io) {
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
  *yo = m;
  *io = best;
}

/* The gradient input (ih, iw) of one plane receives, summed in (oh, ow) order over the outputs
 * covering it: max pooling (ip, the chosen indices) dyp of those that chose it; average pooling
 * (ip is 0) every dyp / (KH*KW). */
static float cover_sum(__global const float *dyp, __global const int *ip, int ih, int iw, int W,
                       int OH, int OW) {
  int oh0 = FIRST_COVER(ih, KH, SH, PH), oh1 = LAST_COVER(ih, SH, PH, OH);
  int ow0 = FIRST_COVER(iw, KW, SW, PW), ow1 = LAST_COVER(iw, SW, PW, OW), me = ih * W + iw;
  float s = 0.0f;
  for (int i = 0; i < COVER_H; i++) {
    int oh = oh0 + i;
    if (oh > oh1) break;
    for (int j = 0; j < COVER_W; j++) {
      int ow = ow0 + j, o = oh * OW + ow;
      if (ow > ow1) break;
      if (!ip) s += dyp[o] / (float)(KH * KW);
      else if (ip[o] == me) s += dyp[o];
    }
  }
  return s;
}

/* The 8 values p[0], p[SW], ..., p[7*SW] as float8 lanes: whole-vector loads where the stride
 * allows (1: one vload8; 2: the even lanes of a vload16), a gather otherwise. The loads span
 * LANES_SPAN floats from p: for stride 2 one more than the lanes need, so the caller keeps that
 * float inside the row. */
#define LANES_SPAN (SW == 2 ? 16 : 7 * SW + 1)
static float8 window_lanes(__global const float *p) {
#if SW == 1
  return vload8(0, p);
#elif SW == 2
  return vload16(0, p).even;
#else
  return (float8)(p[0], p[SW], p[2 * SW], p[3 * SW], p[4 * SW], p[5 * SW], p[6 * SW], p[7 * SW]);
#endif
}

/* Global size (OH, C, N): one work-item per output row (C and N apart: GPUs may stop at 65535 in
 * dimensions 1 and 2). The row's interior windows (no bound
 * checks) go 8 at a time as float8 lanes with selects, which PoCL's compiler would not vectorise
 * on its own (about 2x), loaded as whole vectors for strides 1 and 2 (4x over a gather of 8
 * floats); edge windows take the checked path. Same scan and rule as above. */
__kernel void maxpool2d_forward(__global float *restrict y, int y_off, __global int *restrict idx,
                                int idx_off, __global const float *restrict x, int x_off, int H,
                                int W, int OH, int OW, int C) {
  int oh = get_global_id(0), c = get_global_id(1), nc = get_global_id(2) * C + c;
  if (oh >= OH || c >= C) return;
  int h0 = oh * SH - PH;
  __global const float *xp = x + x_off + (size_t)nc * H * W;
  size_t row = ((size_t)nc * OH + oh) * OW;
  __global float *restrict yp = y + y_off + row;
  __global int *restrict ip = idx + idx_off + row;
  /* Columns whose windows lie inside the image: w0 = ow*SW - PW in [0, W - KW]. */
  int lo = min((PW + SW - 1) / SW, OW), hi = max(min((W + PW - KW) / SW + 1, OW), lo);
  if (h0 < 0 || h0 + KH > H) lo = hi = OW; /* a padded row: all checked */
  for (int ow = 0; ow < lo; ow++) max_window_checked(xp, H, W, h0, ow * SW - PW, yp + ow, ip + ow);
  int ow = lo;
  /* 8 interior windows at a time, as float8 lanes: the same scan, compares and selects. */
  const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7) * SW;
  for (; ow + 8 <= hi && ow * SW - PW + KW - 1 + LANES_SPAN <= W; ow += 8) {
    int w0 = ow * SW - PW;
    int8 best = (int8)(h0 * W + w0) + lane;
    float8 m = (float8)(-INFINITY);
    for (int i = 0; i < KH; i++)
      for (int j = 0; j < KW; j++) {
        int at = (h0 + i) * W + w0 + j;
        float8 v = window_lanes(xp + at);
        int8 take = isgreater(v, m) | isnan(v);
        m = select(m, v, take);
        best = select(best, (int8)at + lane, take);
      }
    vstore8(m, 0, yp + ow);
    vstore8(best, 0, ip + ow);
  }
  for (; ow < hi; ow++) {
    int w0 = ow * SW - PW, best = h0 * W + w0;
    float m = -INFINITY;
    for (int i = 0; i < KH; i++)
      for (int j = 0; j < KW; j++) {
        int at = (h0 + i) * W + w0 + j;
        float v = xp[at];
        int take = v > m || isnan(v);
        m = take ? v : m;
        best = take ? at : best;
      }
    yp[ow] = m;
    ip[ow] = best;
  }
  for (ow = hi; ow < OW; ow++) max_window_checked(xp, H, W, h0, ow * SW - PW, yp + ow, ip + ow);
}

/* Global size (H, C, N), one work-item per input row. Each input sums, in (oh, ow) order, the
 * gradients of the outputs that chose it: the same additions in the same order as PyTorch's
 * scatter into zeros. Inputs go 8 at a time as int8/float8 lanes (a non-covering or unchosen
 * output adds 0.0f, which leaves a sum unchanged), the row's remainder one at a time. */
__kernel void maxpool2d_backward_input(__global float *restrict dx, int dx_off,
                                       __global const float *restrict dy, int dy_off,
                                       __global const int *restrict idx, int idx_off, int H, int W,
                                       int OH, int OW, int C) {
  int ih = get_global_id(0), c = get_global_id(1), nc = get_global_id(2) * C + c;
  if (ih >= H || c >= C) return;
  int oh0 = FIRST_COVER(ih, KH, SH, PH), oh1 = LAST_COVER(ih, SH, PH, OH);
  __global const float *dyp = dy + dy_off + (size_t)nc * OH * OW;
  __global const int *ip = idx + idx_off + (size_t)nc * OH * OW;
  __global float *dxp = dx + dx_off + (size_t)nc * H * W + (size_t)ih * W;
  int iw = 0;
  for (; iw + 8 <= W; iw += 8) {
    int8 col = (int8)(iw) + (int8)(0, 1, 2, 3, 4, 5, 6, 7), me = (int8)(ih * W) + col;
    int8 ow0 = select((col + PW - KW) / SW + 1, (int8)(0), col + PW < KW);
    int8 ow1 = min((col + PW) / SW, (int8)(OW - 1));
    float8 s = (float8)(0.0f);
    for (int i = 0; i < COVER_H; i++) {
      int oh = oh0 + i;
      if (oh > oh1) break;
      for (int j = 0; j < COVER_W; j++) {
        int8 ow = ow0 + j, o = (int8)(oh * OW) + min(ow, (int8)(OW - 1));
        int8 who = (int8)(ip[o.s0], ip[o.s1], ip[o.s2], ip[o.s3], ip[o.s4], ip[o.s5], ip[o.s6], ip[o.s7]);
        float8 g = (float8)(dyp[o.s0], dyp[o.s1], dyp[o.s2], dyp[o.s3], dyp[o.s4], dyp[o.s5], dyp[o.s6], dyp[o.s7]);
        s += select((float8)(0.0f), g, (ow <= ow1) & (who == me));
      }
    }
#if ACCUMULATE
    vstore8(vload8(0, dxp + iw) + s, 0, dxp + iw);
#else
    vstore8(s, 0, dxp + iw);
#endif
  }
  for (; iw < W; iw++) {
    float s = cover_sum(dyp, ip, ih, iw, W, OH, OW);
#if ACCUMULATE
    dxp[iw] += s;
#else
    dxp[iw] = s;
#endif
  }
}

/* GPU shapes (CLTRAIN_OPT_KERNEL_SHAPE): a work-item per output, global (OH*OW, C, N), so that
 * neighbouring work-items write neighbouring floats and read windows SW floats apart. Same scan
 * and rule as max_window_checked: results equal the CPU shape's bit for bit. */
__kernel void maxpool2d_forward_each(__global float *restrict y, int y_off,
                                     __global int *restrict idx, int idx_off,
                                     __global const float *restrict x, int x_off, int H, int W,
                                     int OH, int OW, int C) {
  int e = get_global_id(0), c = get_global_id(1), nc = get_global_id(2) * C + c;
  if (e >= OH * OW) return;
  int oh = e / OW, ow = e - oh * OW;
  size_t at = (size_t)nc * OH * OW + e;
  max_window_checked(x + x_off + (size_t)nc * H * W, H, W, oh * SH - PH, ow * SW - PW,
                     y + y_off + at, idx + idx_off + at);
}

/* GPU shapes: a work-item per input, global (H*W, C, N), gathering as
 * maxpool2d_backward_input does (the same sums in the same order, no atomics). */
__kernel void maxpool2d_backward_input_each(__global float *restrict dx, int dx_off,
                                            __global const float *restrict dy, int dy_off,
                                            __global const int *restrict idx, int idx_off,
                                            int H, int W, int OH, int OW, int C) {
  int e = get_global_id(0), c = get_global_id(1), nc = get_global_id(2) * C + c;
  if (e >= H * W) return;
  int ih = e / W, iw = e - ih * W;
  size_t plane = (size_t)nc * OH * OW;
  float s = cover_sum(dy + dy_off + plane, idx + idx_off + plane, ih, iw, W, OH, OW);
  size_t at = dx_off + (size_t)nc * H * W + e;
#if ACCUMULATE
  dx[at] += s;
#else
  dx[at] = s;
#endif
}

/* Global size (OW, OH, N*C) folded into one dimension (N*C may pass 65535), one work-item per
 * output. count_include_pad: the divisor is always KH*KW. */
__kernel void avgpool2d_forward(__global float *y, int y_off, __global const float *x, int x_off,
                                int H, int W, int OH, int OW, int NC) {
  int e = get_global_id(0), nc = e / (OH * OW), oh = e / OW - nc * OH, ow = e % OW;
  if (nc >= NC) return;
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
  y[y_off + e] = s / (float)(KH * KW);
}

/* One work-item per input (1-D, as avgpool2d_forward): each gathers dy / (KH*KW) from the
 * outputs covering it. */
__kernel void avgpool2d_backward_input(__global float *dx, int dx_off, __global const float *dy,
                                       int dy_off, int H, int W, int OH, int OW, int NC) {
  int e = get_global_id(0), nc = e / (H * W), ih = e / W - nc * H, iw = e % W;
  if (nc >= NC) return;
  float s = cover_sum(dy + dy_off + (size_t)nc * OH * OW, 0, ih, iw, W, OH, OW);
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
