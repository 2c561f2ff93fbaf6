/* concat.cl: channel concatenation of (N,C,H,W) tensors, one input at a time: element i of an
 * input of c_in channels goes to channel c_off + (its channel) of an output of c channels. */

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to the gradient instead of overwriting it */
#endif

/* Where element i of the input lands in the output. */
static int y_index(int i, int c, int c_off, int c_in, int plane) {
  int slab = c_in * plane;
  return i / slab * c * plane + c_off * plane + i % slab;
}

__kernel void concat_forward(__global float *y, int y_off, __global const float *x, int x_off, int c, int c_off,
                             int c_in, int plane, int n) {
  int i = get_global_id(0);
  if (i < n) y[y_off + y_index(i, c, c_off, c_in, plane)] = x[x_off + i];
}

/* dx = the input's slice of dy. */
__kernel void concat_backward(__global float *dx, int dx_off, __global const float *dy, int dy_off, int c,
                              int c_off, int c_in, int plane, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float g = dy[dy_off + y_index(i, c, c_off, c_in, plane)];
#if ACCUMULATE
  dx[dx_off + i] += g;
#else
  dx[dx_off + i] = g;
#endif
}
