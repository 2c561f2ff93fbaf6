/* activation.cl: elementwise activations (ReLU), forward and backward. One work-item per element,
 * so neighbouring work-items touch neighbouring floats (coalesced on a GPU; PoCL vectorises the
 * work-group's loop over items). Nothing here rounds, so FP_CONTRACT and division flags are moot. */

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to dx instead of overwriting it */
#endif

/* y = max(x, 0); y may be x. */
__kernel void relu_forward(__global float *y, int y_off, __global const float *x, int x_off,
                           int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = x[x_off + i];
  y[y_off + i] = v < 0.0f ? 0.0f : v; /* NaN passes, as in PyTorch */
}

/* dx = dy where y > 0, else 0 (PyTorch's threshold_backward on the output); dx may be dy. */
__kernel void relu_backward_data(__global float *dx, int dx_off, __global const float *dy,
                                 int dy_off, __global const float *y, int y_off, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = y[y_off + i] > 0.0f ? dy[dy_off + i] : 0.0f;
#if ACCUMULATE
  dx[dx_off + i] += v;
#else
  dx[dx_off + i] = v;
#endif
}
