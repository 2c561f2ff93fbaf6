/* linear.cl: the bias parts of the fully connected layer (the products are CLBlast SGEMMs). Sums
 * only: no product to contract, no division. */

/* y (N,OUT) += b (OUT) broadcast over rows; one work-item per element of y, in order. */
__kernel void linear_forward_bias(__global float *y, int y_off, __global const float *b, int b_off,
                                  int n, int out) {
  int e = get_global_id(0);
  if (e < n * out) y[y_off + e] += b[b_off + e % out];
}

/* db (OUT) += the column sums of dy (N,OUT), rows summed in order; global (OUT). */
__kernel void linear_backward_bias(__global float *db, int db_off, __global const float *dy,
                                   int dy_off, int n, int out) {
  int j = get_global_id(0);
  if (j >= out) return;
  float s = 0.0f;
  for (int i = 0; i < n; i++) s += dy[dy_off + i * out + j];
  db[db_off + j] += s;
}
