/* depthwise.cl: depthwise 2-D convolution (one filter per channel, ONNX group = C), forward and
 * backward. It is memory-bound (r*s multiply-adds per output), so it runs directly on the NCHW
 * tensors with no im2col copy: forward and dx take a 3-D range (column, row, image*channel from
 * img0 on), so no work-item divides an index (PoCL's loops over dimension 0 then vectorise);
 * dw reduces one (channel, tap) per work-group. Every sum runs in a fixed order: deterministic. */

/* The weight gradient's Kahan sums must not fuse their product into the compensation. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward data: 1 adds to dx instead of overwriting it */
#endif

/* y (N,C,OH,OW) = x (N,C,H,W) * w (C,1,R,S) (+ b (C), when has_bias). */
__kernel void depthwise_forward(__global float *y, int y_off, __global const float *x, int x_off,
                                __global const float *w, int w_off, __global const float *b, int b_off,
                                int has_bias, int img0, int c, int h, int wd, int r, int s, int oh,
                                int ow, int sh, int sw, int ph, int pw, int dh, int dw) {
  int ox = get_global_id(0), oy = get_global_id(1), nc = img0 * c + get_global_id(2), ch = nc % c;
  if (ox >= ow) return;
  size_t i = ((size_t)nc * oh + oy) * ow + ox;
  __global const float *xp = x + x_off + (size_t)nc * h * wd;
  __global const float *wp = w + w_off + (size_t)ch * r * s;
  float acc = 0.0f;
  for (int kr = 0; kr < r; kr++) {
    int iy = oy * sh - ph + kr * dh;
    if (iy < 0 || iy >= h) continue;
    for (int ks = 0; ks < s; ks++) {
      int ix = ox * sw - pw + ks * dw;
      if (ix >= 0 && ix < wd) acc += xp[iy * wd + ix] * wp[kr * s + ks];
    }
  }
  if (has_bias) acc += b[b_off + ch];
  y[y_off + i] = acc;
}

/* dx (N,C,H,W) from dy (N,C,OH,OW): each input element gathers the outputs whose windows hold it,
 * in (kr, ks) order. */
__kernel void depthwise_backward_data(__global float *dx, int dx_off, __global const float *dy, int dy_off,
                                      __global const float *w, int w_off, int img0, int c, int h, int wd,
                                      int r, int s, int oh, int ow, int sh, int sw, int ph, int pw, int dh,
                                      int dw) {
  int ix = get_global_id(0), iy = get_global_id(1), nc = img0 * c + get_global_id(2), ch = nc % c;
  if (ix >= wd) return;
  size_t i = ((size_t)nc * h + iy) * wd + ix;
  __global const float *dyp = dy + dy_off + (size_t)nc * oh * ow;
  __global const float *wp = w + w_off + (size_t)ch * r * s;
  float acc = 0.0f;
  for (int kr = 0; kr < r; kr++) {
    int ty = iy + ph - kr * dh; /* = oy * sh */
    if (ty < 0 || ty % sh) continue;
    int oy = ty / sh;
    if (oy >= oh) continue;
    for (int ks = 0; ks < s; ks++) {
      int tx = ix + pw - ks * dw;
      if (tx < 0 || tx % sw) continue;
      int ox = tx / sw;
      if (ox < ow) acc += dyp[oy * ow + ox] * wp[kr * s + ks];
    }
  }
#if ACCUMULATE
  dx[dx_off + i] += acc;
#else
  dx[dx_off + i] = acc;
#endif
}

/* dw (C,1,R,S) += sum over images and outputs of dy * x under tap (kr, ks): one work-group per
 * (channel, tap), its items taking strided (image, output row) pairs, a row each, with
 * Kahan-compensated sums, then a fixed tree over the group (as conv2d's bias gradient). Local
 * size is a power of 2, at most 256. */
__kernel void depthwise_backward_weight(__global float *dwt, int dw_off, __global const float *dy, int dy_off,
                                        __global const float *x, int x_off, int n, int c, int h, int wd,
                                        int r, int s, int oh, int ow, int sh, int sw, int ph, int pw, int dh,
                                        int dw) {
  __local float t[256];
  int tap = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
  int ch = tap / (r * s), kr = (tap / s) % r, ks = tap % s;
  float sum = 0.0f, comp = 0.0f;
  for (int row = l; row < n * oh; row += L) {
    int img = row / oh, oy = row % oh, iy = oy * sh - ph + kr * dh;
    if (iy < 0 || iy >= h) continue;
    __global const float *dyp = dy + dy_off + (((size_t)img * c + ch) * oh + oy) * ow;
    __global const float *xp = x + x_off + (((size_t)img * c + ch) * h + iy) * wd;
    for (int ox = 0; ox < ow; ox++) {
      int ix = ox * sw - pw + ks * dw;
      if (ix < 0 || ix >= wd) continue;
      float t1 = dyp[ox] * xp[ix] - comp;
      float u = sum + t1;
      comp = (u - sum) - t1;
      sum = u;
    }
  }
  t[l] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int q = L / 2; q > 0; q >>= 1) {
    if (l < q) t[l] += t[l + q];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) dwt[dw_off + tap] += t[0];
}
