/* conv2d.cl: the data-movement kernels around conv2d's GEMMs: im2col (and its transpose), bias fill, weight transpose, col2im gather, the weight-gradient and bias-gradient reductions. */

/* Geometry shared by every kernel, in this order:
 * c, h, w: input channels and size; r, s: kernel size; oh, ow: output size;
 * stride, pad and dilation per axis. */
#define CONV_GEOMETRY_ARGS                                                                    \
  int c, int h, int w, int r, int s, int oh, int ow, int stride_h, int stride_w, int pad_h,   \
      int pad_w, int dil_h, int dil_w

/* col (rows, nb*OH*OW) = im2col of nb images of x (nb,C,H,W): the forward GEMM's B operand,
 * with the images side by side so that one GEMM covers them all; rows >= C*R*S, and the rows
 * past C*R*S are zeros. Global (OH, rows, nb); each work-item writes one output row of OW
 * contiguous values. */
__kernel void conv2d_forward_im2col(__global float *col, int col_off, __global const float *x,
                                    int x_off, CONV_GEOMETRY_ARGS, int nb, int rows) {
  int y = get_global_id(0), crs = get_global_id(1), img = get_global_id(2);
  int rs = r * s;
  if (y >= oh || crs >= rows || img >= nb) return;
  int ci = crs / rs, ri = (crs % rs) / s, si = crs % s;
  int p = oh * ow;
  __global float *dst = col + col_off + ((size_t)crs * nb + img) * p + (size_t)y * ow;
  int iy = y * stride_h - pad_h + ri * dil_h;
  if (crs >= c * rs || iy < 0 || iy >= h) {
    for (int xo = 0; xo < ow; xo++) dst[xo] = 0.0f;
    return;
  }
  __global const float *src = x + x_off + (((size_t)img * c + ci) * h + iy) * w;
  int ix0 = -pad_w + si * dil_w;
  for (int xo = 0; xo < ow; xo++) {
    int ix = ix0 + xo * stride_w;
    dst[xo] = (ix >= 0 && ix < w) ? src[ix] : 0.0f;
  }
}

/* conv2d_forward_im2col with a work-item per element of col (GPU shapes,
 * CLTRAIN_OPT_KERNEL_SHAPE): 1-D global over rows * nb * OH*OW in col's order, so neighbouring
 * work-items write neighbouring floats and read stride_w floats apart. conv2d.c keeps the
 * count below 2^31, so the index splits in 32 bits (GPUs emulate 64-bit division). */
__kernel void conv2d_forward_im2col_each(__global float *col, int col_off, __global const float *x,
                                         int x_off, CONV_GEOMETRY_ARGS, int nb, int rows) {
  uint e = get_global_id(0), p = (uint)(oh * ow), t = e / p;
  if (t >= (uint)rows * nb) return;
  int pix = (int)(e - t * p), crs = (int)(t / nb), img = (int)(t - (uint)crs * nb);
  int rs = r * s, ci = crs / rs, ri = (crs % rs) / s, si = crs % s, y = pix / ow;
  int iy = y * stride_h - pad_h + ri * dil_h, ix = (pix - y * ow) * stride_w - pad_w + si * dil_w;
  float v = 0.0f;
  if (crs < c * rs && iy >= 0 && iy < h && ix >= 0 && ix < w)
    v = x[x_off + (((size_t)img * c + ci) * h + iy) * w + ix];
  col[col_off + (size_t)e] = v;
}

/* wp (K, crsp) = w (K, crs) with zero columns appended. Global (crsp, K). */
__kernel void conv2d_forward_pad_w(__global float *wp, int wp_off, __global const float *w,
                                   int w_off, int k, int crs, int crsp) {
  int j = get_global_id(0), ki = get_global_id(1);
  if (j >= crsp || ki >= k) return;
  wp[wp_off + (size_t)ki * crsp + j] = j < crs ? w[w_off + (size_t)ki * crs + j] : 0.0f;
}

/* y (nb,K,P) = yt (K,nb,P) [+ b (K)]: the GEMM's image-interleaved result back to NCHW, with
 * the bias added on the way. has_bias: 0 or 1; accumulate: 0 overwrites y, 1 adds to it.
 * Global (P, K, nb). */
__kernel void conv2d_forward_unpack(__global float *y, int y_off, __global const float *yt,
                                    int yt_off, __global const float *b, int b_off, int has_bias,
                                    int accumulate, int k, int p, int nb) {
  int i = get_global_id(0), ki = get_global_id(1), img = get_global_id(2);
  if (i >= p || ki >= k || img >= nb) return;
  float v = yt[yt_off + ((size_t)ki * nb + img) * p + i];
  if (has_bias) v += b[b_off + ki];
  __global float *d = y + y_off + ((size_t)img * k + ki) * p + i;
  *d = accumulate ? *d + v : v;
}

/* wf (C, krsp) = w (K,C,R,S) with the kernel flipped and K, C swapped, zero-padded to krsp
 * columns: wf[c][(k*R + r)*S + s] = w[k][c][R-1-r][S-1-s], the weights of the stride-1 data
 * gradient run as a forward convolution of dy. rs = R*S. Global (krsp, C). */
__kernel void conv2d_backward_flip_w(__global float *wf, int wf_off, __global const float *w,
                                     int w_off, int k, int c, int rs, int krsp) {
  int j = get_global_id(0), ci = get_global_id(1);
  if (j >= krsp || ci >= c) return;
  float v = 0.0f;
  if (j < k * rs) {
    int ki = j / rs, t = j % rs;
    v = w[w_off + ((size_t)ki * c + ci) * rs + (rs - 1 - t)];
  }
  wf[wf_off + (size_t)ci * krsp + j] = v;
}

/* dyt (K,nb,P) = dy (nb,K,P) regrouped by channel, so both backward GEMMs see every image of
 * the chunk as one operand. Global (P, K, nb). */
__kernel void conv2d_backward_pack_dy(__global float *dyt, int dyt_off, __global const float *dy,
                                      int dy_off, int k, int p, int nb) {
  int i = get_global_id(0), ki = get_global_id(1), img = get_global_id(2);
  if (i >= p || ki >= k || img >= nb) return;
  dyt[dyt_off + ((size_t)ki * nb + img) * p + i] = dy[dy_off + ((size_t)img * k + ki) * p + i];
}

/* colT (nb*OH*OW, C*R*S; rows ld apart) = transposed im2col of nb images x (nb,C,H,W): the
 * weight-gradient GEMM's B operand, laid out so that the GEMM needs no transpose. Global
 * (C, OH*OW, nb): each work-item writes the R*S contiguous values of one channel, and neighbouring work-items the
 * neighbouring channels of the same row. */
__kernel void conv2d_backward_im2col_t(__global float *colt, int colt_off, __global const float *x,
                                       int x_off, CONV_GEOMETRY_ARGS, int nb, int ld) {
  int ci = get_global_id(0), pi = get_global_id(1), img = get_global_id(2);
  if (pi >= oh * ow || ci >= c || img >= nb) return;
  int y = pi / ow, xo = pi % ow;
  int rs = r * s;
  __global float *dst = colt + colt_off + ((size_t)img * oh * ow + pi) * ld + ci * rs;
  __global const float *src = x + x_off + ((size_t)img * c + ci) * h * w;
  int iy0 = y * stride_h - pad_h, ix0 = xo * stride_w - pad_w;
  for (int ri = 0; ri < r; ri++) {
    int iy = iy0 + ri * dil_h;
    int row_ok = iy >= 0 && iy < h;
    for (int si = 0; si < s; si++) {
      int ix = ix0 + si * dil_w;
      dst[ri * s + si] = (row_ok && ix >= 0 && ix < w) ? src[iy * w + ix] : 0.0f;
    }
  }
}

/* wt (C*R*S, K) = transpose of w (K, C*R*S): the data-gradient GEMM's A operand without a
 * transposed-operand GEMM. Global (K, C*R*S). */
__kernel void conv2d_backward_transpose_w(__global float *wt, int wt_off, __global const float *w,
                                          int w_off, int k, int crs) {
  int ki = get_global_id(0), j = get_global_id(1);
  if (ki >= k || j >= crs) return;
  wt[wt_off + (size_t)j * k + ki] = w[w_off + (size_t)ki * crs + j];
}

/* dx (nb,C,H,W) = col2im of dcol (C*R*S, nb, OH*OW), as a gather by rows: each work-item owns
 * one row of dx and adds the dcol rows that fed it, tap by tap (r-major, then s), so every
 * pixel sums its contributions in a fixed order, without atomics. The inner loop is a plain
 * strided copy-add, like im2col's (a per-pixel gather over taps ran 4x slower on PoCL).
 * accumulate: 0 overwrites dx, 1 adds to it. Global (H, C, nb). */
__kernel void conv2d_backward_col2im(__global float *dx, int dx_off, __global const float *dcol,
                                     int dcol_off, CONV_GEOMETRY_ARGS, int nb, int accumulate) {
  int iy = get_global_id(0), ci = get_global_id(1), img = get_global_id(2);
  if (iy >= h || ci >= c || img >= nb) return;
  int p = oh * ow;
  size_t row = (size_t)nb * p; /* one dcol row: every image of the chunk */
  __global const float *src = dcol + dcol_off + (size_t)ci * r * s * row + (size_t)img * p;
  __global float *d = dx + dx_off + (((size_t)img * c + ci) * h + iy) * w;
  if (!accumulate)
    for (int ix = 0; ix < w; ix++) d[ix] = 0.0f;
  for (int ri = 0; ri < r; ri++) {
    int ty = iy + pad_h - ri * dil_h; /* = y * stride_h for the output row y this tap fed */
    if (ty < 0 || ty % stride_h) continue;
    int y = ty / stride_h;
    if (y >= oh) continue;
    for (int si = 0; si < s; si++) {
      __global const float *srow = src + (ri * s + si) * row + (size_t)y * ow;
      int ix0 = si * dil_w - pad_w; /* output column xo fed input column ix0 + xo * stride_w */
      int lo = ix0 < 0 ? (-ix0 + stride_w - 1) / stride_w : 0;
      int hi = (w - ix0 + stride_w - 1) / stride_w;
      if (hi > ow) hi = ow;
      for (int xo = lo; xo < hi; xo++) d[ix0 + xo * stride_w] += srow[xo];
    }
  }
}

/* conv2d_backward_col2im with a work-item per element of dx (GPU shapes): 1-D global over
 * nb*C*H*W in dx's order (below 2^31, as im2col's). Each pixel adds the dcol values that fed it
 * tap by tap (r-major, then s) onto 0 (or dx), the same additions in the same order as the row
 * kernel: equal bit for bit. */
__kernel void conv2d_backward_col2im_each(__global float *dx, int dx_off, __global const float *dcol,
                                          int dcol_off, CONV_GEOMETRY_ARGS, int nb,
                                          int accumulate) {
  uint e = get_global_id(0), t = e / w;
  if (t >= (uint)nb * c * h) return;
  int ix = (int)(e - t * w), iy = (int)(t % h), plane = (int)(t / h), ci = plane % c;
  int img = plane / c, p = oh * ow;
  size_t row = (size_t)nb * p; /* one dcol row: every image of the chunk */
  __global const float *src = dcol + dcol_off + (size_t)ci * r * s * row + (size_t)img * p;
  float v = accumulate ? dx[dx_off + (size_t)e] : 0.0f;
  for (int ri = 0; ri < r; ri++) {
    int ty = iy + pad_h - ri * dil_h; /* = y * stride_h for the output row y this tap fed */
    if (ty < 0 || ty % stride_h || ty / stride_h >= oh) continue;
    for (int si = 0; si < s; si++) {
      int tx = ix + pad_w - si * dil_w; /* = xo * stride_w likewise */
      if (tx < 0 || tx % stride_w || tx / stride_w >= ow) continue;
      v += src[(ri * s + si) * row + (size_t)(ty / stride_h) * ow + tx / stride_w];
    }
  }
  dx[dx_off + (size_t)e] = v;
}

/* dw (K, CRS) += the sum of nparts partial products parts (nparts, K, CRS; rows ld apart),
 * added in order with compensated (Kahan) summation. Global (CRS, K). */
__kernel void conv2d_backward_sum_parts(__global float *dw, int dw_off, __global const float *parts,
                                        int parts_off, int k, int crs, int ld, int nparts) {
  int i = get_global_id(0), ki = get_global_id(1);
  if (i >= crs || ki >= k) return;
  float sum = 0.0f, comp = 0.0f;
  for (int j = 0; j < nparts; j++) {
    float t = parts[parts_off + ((size_t)j * k + ki) * ld + i] - comp;
    float u = sum + t;
    comp = (u - sum) - t;
    sum = u;
  }
  dw[dw_off + (size_t)ki * crs + i] += sum;
}

/* db (K) += sum of dy (N,K,P) over images and pixels. One work-group per channel: item l of
 * the group's L (a power of 2, at most 256) sums pixels l, l + L, ... of each image in turn
 * (neighbouring items read neighbouring floats) with compensated (Kahan) summation, then the
 * group adds its items' sums as a fixed tree: deterministic for one L, and accurate (a plain
 * float sum over N*P terms of mixed sign would lose about sqrt(N*P) ulps). Kahan's corrections
 * have no product for FP_CONTRACT to fuse, so the default contraction is safe here. */
__kernel void conv2d_backward_bias(__global float *db, int db_off, __global const float *dy,
                                   int dy_off, int n, int k, int p) {
  __local float t[256];
  int ki = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
  float sum = 0.0f, comp = 0.0f;
  for (int img = 0; img < n; img++) {
    __global const float *src = dy + dy_off + ((size_t)img * k + ki) * p;
    for (int i = l; i < p; i += L) {
      float t1 = src[i] - comp;
      float u = sum + t1;
      comp = (u - sum) - t1;
      sum = u;
    }
  }
  t[l] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = L / 2; s > 0; s >>= 1) {
    if (l < s) t[l] += t[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) db[db_off + ki] += t[0];
}
