/* sigmoid.cl: the logistic sigmoid y = 1 / (1 + exp(-x)) (EfficientNet's squeeze-excitation gate,
 * and its SiLU x * sigmoid(x)), forward and backward. One work-item per element. */

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to dx instead of overwriting it */
#endif

/* y may be x. */
__kernel void sigmoid_forward(__global float *y, int y_off, __global const float *x, int x_off, int n) {
  int i = get_global_id(0);
  if (i < n) y[y_off + i] = 1.0f / (1.0f + exp(-x[x_off + i]));
}

/* dx = dy * y * (1 - y), y the forward's output (PyTorch's sigmoid_backward); dx may be dy. */
__kernel void sigmoid_backward(__global float *dx, int dx_off, __global const float *dy, int dy_off,
                               __global const float *y, int y_off, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = y[y_off + i];
  float g = dy[dy_off + i] * ((1.0f - v) * v);
#if ACCUMULATE
  dx[dx_off + i] += g;
#else
  dx[dx_off + i] = g;
#endif
}
