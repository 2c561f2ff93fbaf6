/* eltwise.cl: elementwise joins: add (the residual join), forward and backward. One rounding per
 * element and no product: FP_CONTRACT and division flags change nothing. */

#ifndef ACC_A
#define ACC_A 0
#endif
#ifndef ACC_B
#define ACC_B 0
#endif

/* y = a + b; y may be a or b (each element is read before it is written, by the same item). */
__kernel void add_forward(__global float *y, int y_off, __global const float *a, int a_off,
                          __global const float *b, int b_off, int n) {
  int i = get_global_id(0);
  if (i < n) y[y_off + i] = a[a_off + i] + b[b_off + i];
}

/* One branch: da = dy, or da += dy with -DACC_A=1. */
__kernel void add_backward_input(__global float *da, int da_off, __global const float *dy, int dy_off,
                                 int n) {
  int i = get_global_id(0);
  if (i >= n) return;
#if ACC_A
  da[da_off + i] += dy[dy_off + i];
#else
  da[da_off + i] = dy[dy_off + i];
#endif
}

/* Both branches in one pass over dy, each overwritten or accumulated (-DACC_A, -DACC_B). */
__kernel void add_backward_inputs(__global float *da, int da_off, __global float *db, int db_off,
                                  __global const float *dy, int dy_off, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float g = dy[dy_off + i];
#if ACC_A
  da[da_off + i] += g;
#else
  da[da_off + i] = g;
#endif
#if ACC_B
  db[db_off + i] += g;
#else
  db[db_off + i] = g;
#endif
}
