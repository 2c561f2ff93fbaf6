/* mul.cl: elementwise product y = a * b, where b has a's shape (plane 1: hardswish's
 * x * hardsigmoid(x)) or one value per (image, channel) broadcast over a plane of H*W (plane
 * H*W: squeeze-excitation's x * scale), forward and backward. */

/* The broadcast gradient's Kahan sums must not fuse their product into the compensation. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to the gradient instead of overwriting it */
#endif

__kernel void mul_forward(__global float *y, int y_off, __global const float *a, int a_off,
                          __global const float *b, int b_off, int n, int plane) {
  int i = get_global_id(0);
  if (i < n) y[y_off + i] = a[a_off + i] * b[b_off + i / plane];
}

/* da = dy * b (b broadcast over planes); also db = dy * a when b has a's shape (plane 1, with
 * other = a). */
__kernel void mul_backward_same(__global float *da, int da_off, __global const float *dy, int dy_off,
                                __global const float *other, int other_off, int n, int plane) {
  int i = get_global_id(0);
  if (i >= n) return;
  float g = dy[dy_off + i] * other[other_off + i / plane];
#if ACCUMULATE
  da[da_off + i] += g;
#else
  da[da_off + i] = g;
#endif
}

/* db[j] = sum over plane j of dy * a: one work-group per plane, Kahan-compensated strided sums
 * then a fixed tree (deterministic). Local size is a power of 2, at most 256. */
__kernel void mul_backward_broadcast(__global float *db, int db_off, __global const float *dy, int dy_off,
                                     __global const float *a, int a_off, int plane) {
  __local float t[256];
  int j = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
  __global const float *g = dy + dy_off + (size_t)j * plane, *x = a + a_off + (size_t)j * plane;
  float sum = 0.0f, comp = 0.0f;
  for (int q = l; q < plane; q += L) {
    float t1 = g[q] * x[q] - comp;
    float u = sum + t1;
    comp = (u - sum) - t1;
    sum = u;
  }
  t[l] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = L / 2; s > 0; s >>= 1) {
    if (l < s) t[l] += t[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
#if ACCUMULATE
  if (l == 0) db[db_off + j] += t[0];
#else
  if (l == 0) db[db_off + j] = t[0];
#endif
}
