/* activation.cl: elementwise activations (ReLU), forward and backward. Each work-item owns a
 * contiguous chunk of `chunk` floats. */

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to dx instead of overwriting it */
#endif

/* y = max(x, 0); y may be x. */
__kernel void relu_forward(__global float *y, int y_off, __global const float *x, int x_off,
                           int n, int chunk) {
  int i = get_global_id(0) * chunk;
  int end = min(i + chunk, n);
  __global const float *px = x + x_off;
  __global float *py = y + y_off;
  for (; i < end; i++) py[i] = px[i] < 0.0f ? 0.0f : px[i]; /* NaN passes, as in PyTorch */
}

/* dx = dy where y > 0, else 0 (PyTorch's threshold_backward on the output); dx may be dy. */
__kernel void relu_backward_data(__global float *dx, int dx_off, __global const float *dy,
                                 int dy_off, __global const float *y, int y_off, int n,
                                 int chunk) {
  int i = get_global_id(0) * chunk;
  int end = min(i + chunk, n);
  __global const float *pdy = dy + dy_off, *py = y + y_off;
  __global float *pdx = dx + dx_off;
  for (; i < end; i++) {
    float v = py[i] > 0.0f ? pdy[i] : 0.0f;
#if ACCUMULATE
    pdx[i] += v;
#else
    pdx[i] = v;
#endif
  }
}
