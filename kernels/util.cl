/* util.cl: small buffer kernels (fill, copy, scaled add) used across ops, one work-item per float
 * (axpy's alpha*x + y may become an FMA on a GPU, FP_CONTRACT's default: one rounding fewer,
 * within every tolerance that checks it). */

__kernel void fill(__global float *y, int y_off, float value, int n) {
  int i = get_global_id(0);
  if (i < n) y[y_off + i] = value;
}

__kernel void copy(__global float *y, int y_off, __global const float *x, int x_off, int n) {
  int i = get_global_id(0);
  if (i < n) y[y_off + i] = x[x_off + i];
}

/* y += alpha * x */
__kernel void axpy(__global float *y, int y_off, __global const float *x, int x_off, float alpha, int n) {
  int i = get_global_id(0);
  if (i < n) y[y_off + i] += alpha * x[x_off + i];
}
