/* winograd.cl: the transforms of Winograd's F(2x2, 3x3) convolution (Lavin & Gray, 2015), for
 * 3x3 stride-1 convolutions: each 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A, with d the
 * tile's 4x4 input patch and g a 3x3 kernel. The 16 elementwise products, summed over input
 * channels, are 16 batched GEMMs run by the host between these kernels. Element e = 4*i + j of
 * a transformed 4x4 tile is row i, column j. */

/* The transformed tensors' rows are ld floats apart (ld >= their length, for CLBlast's sake,
 * see blas_batched_ld). */

/* u (16, K, C; rows ldu apart) = G g G^T for every kernel g = w[k][c] (3x3) of w (K,C,3,3),
 * with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. Global (C, K). */
__kernel void winograd_weights(__global float *u, int u_off, __global const float *w, int w_off,
                               int k, int c, int ldu) {
  int ci = get_global_id(0), ki = get_global_id(1);
  if (ci >= c || ki >= k) return;
  __global const float *g = w + w_off + ((size_t)ki * c + ci) * 9;
  float t[4][3]; /* G g */
  for (int j = 0; j < 3; j++) {
    float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
    t[0][j] = g0;
    t[1][j] = 0.5f * (g0 + g1 + g2);
    t[2][j] = 0.5f * (g0 - g1 + g2);
    t[3][j] = g2;
  }
  size_t plane = (size_t)k * ldu, at = u_off + (size_t)ki * ldu + ci;
  for (int i = 0; i < 4; i++) {
    float v[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                  0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
    for (int j = 0; j < 4; j++) u[at + (4 * i + j) * plane] = v[j];
  }
}

/* v (16, C, nb*TH*TW; rows ldv apart) = B^T d B for each 4x4 input patch d of nb images x (nb,C,H,W), the
 * patch of tile (ty, tx) starting at row 2*ty - pad_h, column 2*tx - pad_w (zeros outside),
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Tiles are numbered (image, ty, tx).
 * Global (TW, TH, C*nb). */
__kernel void winograd_input(__global float *v, int v_off, __global const float *x, int x_off,
                             int c, int h, int w, int pad_h, int pad_w, int th, int tw, int nb,
                             int ldv) {
  int tx = get_global_id(0), ty = get_global_id(1), z = get_global_id(2);
  if (tx >= tw || ty >= th || z >= c * nb) return;
  int img = z / c, ci = z % c;
  __global const float *src = x + x_off + ((size_t)img * c + ci) * h * w;
  int y0 = 2 * ty - pad_h, x0 = 2 * tx - pad_w;
  float d[4][4];
  for (int i = 0; i < 4; i++) {
    int iy = y0 + i;
    for (int j = 0; j < 4; j++) {
      int ix = x0 + j;
      d[i][j] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? src[iy * w + ix] : 0.0f;
    }
  }
  float t[4][4]; /* B^T d */
  for (int j = 0; j < 4; j++) {
    t[0][j] = d[0][j] - d[2][j];
    t[1][j] = d[1][j] + d[2][j];
    t[2][j] = d[2][j] - d[1][j];
    t[3][j] = d[1][j] - d[3][j];
  }
  size_t plane = (size_t)c * ldv;
  size_t at = v_off + (size_t)ci * ldv + ((size_t)img * th + ty) * tw + tx;
  for (int i = 0; i < 4; i++) {
    v[at + (4 * i + 0) * plane] = t[i][0] - t[i][2];
    v[at + (4 * i + 1) * plane] = t[i][1] + t[i][2];
    v[at + (4 * i + 2) * plane] = t[i][2] - t[i][1];
    v[at + (4 * i + 3) * plane] = t[i][1] - t[i][3];
  }
}

/* y (nb,K,OH,OW) (=, or += when accumulate) A^T m A [+ b] for each tile's 4x4 m of
 * m (16, K, nb*TH*TW; rows ldm apart), with A^T = [1 1 1 0; 0 1 -1 -1]; a tile's 2x2 outputs past OH or OW are
 * dropped. Global (TW, TH, K*nb). */
__kernel void winograd_output(__global float *y, int y_off, __global const float *m, int m_off,
                              __global const float *b, int b_off, int has_bias, int accumulate,
                              int k, int oh, int ow, int th, int tw, int nb, int ldm) {
  int tx = get_global_id(0), ty = get_global_id(1), z = get_global_id(2);
  if (tx >= tw || ty >= th || z >= k * nb) return;
  int img = z / k, ki = z % k;
  size_t plane = (size_t)k * ldm;
  size_t at = m_off + (size_t)ki * ldm + ((size_t)img * th + ty) * tw + tx;
  float t[2][4]; /* A^T m */
  for (int j = 0; j < 4; j++) {
    float m0 = m[at + j * plane], m1 = m[at + (4 + j) * plane];
    float m2 = m[at + (8 + j) * plane], m3 = m[at + (12 + j) * plane];
    t[0][j] = m0 + m1 + m2;
    t[1][j] = m1 - m2 - m3;
  }
  float bias = has_bias ? b[b_off + ki] : 0.0f;
  __global float *dst = y + y_off + ((size_t)img * k + ki) * oh * ow;
  for (int i = 0; i < 2; i++) {
    int oy = 2 * ty + i;
    if (oy >= oh) break;
    float o[2] = {t[i][0] + t[i][1] + t[i][2], t[i][1] - t[i][2] - t[i][3]};
    for (int j = 0; j < 2; j++) {
      int ox = 2 * tx + j;
      if (ox >= ow) break;
      float val = o[j] + bias;
      __global float *d = dst + oy * ow + ox;
      *d = accumulate ? *d + val : val;
    }
  }
}
