/* batchnorm.cl: 2-D batch normalisation (NCHW) in train and eval mode, forward and backward,
 * optionally fused with the ReLU that follows it (the kernels' `relu` argument: a run-time
 * switch rather than a -D option, so that a cold start builds one program less per pass). */

/* Every kernel splits the data the same way: row r = n*C + c is one (image, channel) plane of HW
 * floats, cut into Q pieces of `chunk` floats; work-item (q, c, n) owns piece q of row r (a 3-D
 * range: C and N each stay within the 65535 that GPUs allow in dimensions 1 and 2). A channel's
 * partial sums sit at part[c*P + n*Q + q] (P = N*Q) and are always added in that order, so every
 * result is bitwise repeatable. The sums use 16 lanes in a fixed order: accurate, and a form that
 * vectorises without reassociation. */

/* Rounding: batchnorm.c builds this file with -cl-fp32-correctly-rounded-divide-sqrt where the
 * device supports it. A GPU otherwise gives 2.5-ulp divisions and 3-ulp square roots, and the
 * mean (s / M) and 1/sqrt(var + eps) of a channel scale every value after them: train-mode BN
 * amplifies such per-channel errors through a network (the trajectory tests were calibrated on
 * PoCL, whose division and sqrt are IEEE), and the cost is a few scalars per channel.
 * FP_CONTRACT stays at its default (on): clang contracts a*b+c into an FMA on PoCL's AVX-512 as
 * a GPU does, so contraction is what the tests were calibrated with. */

#ifndef TRAIN
#define TRAIN 1 /* backward: 1 uses batch statistics (dx depends on the sums), 0 is an affine map */
#endif
#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to dx instead of overwriting it */
#endif

static float lanes_sum(float16 a) {
  float8 b = a.lo + a.hi;
  float4 c = b.lo + b.hi;
  float2 d = c.lo + c.hi;
  return d.x + d.y;
}

/* One output of the forward map: (x - m) * k + b with k = invstd * gamma, then ReLU. */
static float forward_value(float x, float m, float k, float b, int relu) {
  float v = (x - m) * k + b;
  return relu && v < 0.0f ? 0.0f : v; /* NaN passes, as in PyTorch */
}

/* One dx of the backward map (see batchnorm_backward_data); ga and gb are the per-channel
 * sums already divided by M (gb also scaled by invstd), k = gamma * invstd. */
static float backward_value(float dy, float y, float x, float m, float k, float ga, float gb,
                            int relu) {
  float g = relu && !(y > 0.0f) ? 0.0f : dy;
#if TRAIN
  return k * (g - ga - (x - m) * gb);
#else
  return k * g;
#endif
}

/* Channel c's constants for backward_value: m = mean, k = gamma * invstd, ga = sum(g) / M and
 * gb = sum(g * xhat) * invstd / M (zeros in eval mode, which reads no sums). */
static void backward_scales(__global const float *saved, int saved_off,
                            __global const float *gamma, int gamma_off,
                            __global const float *sums, int sums_off, int C, int c, int M,
                            float *m, float *k, float *ga, float *gb) {
  float invstd = saved[saved_off + C + c];
  *k = gamma[gamma_off + c] * invstd;
  *m = *ga = *gb = 0.0f;
#if TRAIN
  *m = saved[saved_off + c];
  *ga = sums[sums_off + c] / (float)M;
  *gb = sums[sums_off + C + c] * invstd / (float)M;
#endif
}

/* part[c*P + n*Q + q] = sum of piece q of x[n, c]. */
__kernel void batchnorm_forward_partial_sum(__global float *part, int part_off,
                                            __global const float *x, int x_off, int N, int C,
                                            int HW, int Q, int chunk) {
  int q = get_global_id(0), c = get_global_id(1), n = get_global_id(2), r = n * C + c;
  if (q >= Q || c >= C) return;
  int i = q * chunk, end = min(i + chunk, HW);
  __global const float *p = x + x_off + (size_t)r * HW;
  float16 acc = 0;
  for (; i + 16 <= end; i += 16) acc += vload16(0, p + i);
  float s = lanes_sum(acc);
  for (; i < end; i++) s += p[i];
  part[part_off + (c * N + n) * Q + q] = s;
}

/* mean[c] = (sum of the channel's P partial sums) / M. */
__kernel void batchnorm_forward_mean(__global float *mean, int mean_off,
                                     __global const float *part, int part_off, int C, int P,
                                     int M) {
  int c = get_global_id(0);
  if (c >= C) return;
  __global const float *p = part + part_off + (size_t)c * P;
  float s = 0;
  for (int j = 0; j < P; j++) s += p[j];
  mean[mean_off + c] = s / (float)M;
}

/* part[c*P + n*Q + q] = sum over piece q of x[n, c] of (x - mean[c])^2. */
__kernel void batchnorm_forward_partial_sqdev(__global float *part, int part_off,
                                              __global const float *x, int x_off,
                                              __global const float *mean, int mean_off, int N,
                                              int C, int HW, int Q, int chunk) {
  int q = get_global_id(0), c = get_global_id(1), n = get_global_id(2), r = n * C + c;
  if (q >= Q || c >= C) return;
  int i = q * chunk, end = min(i + chunk, HW);
  __global const float *p = x + x_off + (size_t)r * HW;
  float m = mean[mean_off + c];
  float16 acc = 0;
  for (; i + 16 <= end; i += 16) {
    float16 d = vload16(0, p + i) - m;
    acc += d * d;
  }
  float s = lanes_sum(acc);
  for (; i < end; i++) s += (p[i] - m) * (p[i] - m);
  part[part_off + (c * N + n) * Q + q] = s;
}

/* saved = (mean, invstd) is already half written (mean); adds invstd = 1/sqrt(var + eps) from
 * the biased variance, and moves the running statistics toward the batch's, the variance
 * unbiased (M/(M-1)), as PyTorch does. */
__kernel void batchnorm_forward_finish(__global float *saved, int saved_off,
                                       __global float *running_mean, int running_mean_off,
                                       __global float *running_var, int running_var_off,
                                       __global const float *part, int part_off, int C, int P,
                                       int M, float eps, float momentum) {
  int c = get_global_id(0);
  if (c >= C) return;
  __global const float *p = part + part_off + (size_t)c * P;
  float s = 0;
  for (int j = 0; j < P; j++) s += p[j];
  float var = s / (float)M;
  float mean = saved[saved_off + c];
  saved[saved_off + C + c] = 1.0f / sqrt(var + eps);
  float unbiased = s / (float)(M - 1);
  running_mean[running_mean_off + c] =
      (1.0f - momentum) * running_mean[running_mean_off + c] + momentum * mean;
  running_var[running_var_off + c] =
      (1.0f - momentum) * running_var[running_var_off + c] + momentum * unbiased;
}

/* Eval mode: saved = (running_mean, 1/sqrt(running_var + eps)), the statistics the affine map
 * and its backward use. */
__kernel void batchnorm_forward_eval_stats(__global float *saved, int saved_off,
                                           __global const float *running_mean,
                                           int running_mean_off,
                                           __global const float *running_var,
                                           int running_var_off, int C, float eps) {
  int c = get_global_id(0);
  if (c >= C) return;
  saved[saved_off + c] = running_mean[running_mean_off + c];
  saved[saved_off + C + c] = 1.0f / sqrt(running_var[running_var_off + c] + eps);
}

/* y = (x - mean) * invstd * gamma + beta, then max(., 0) if relu; y may be x. */
__kernel void batchnorm_forward(__global float *y, int y_off, __global const float *x, int x_off,
                                __global const float *saved, int saved_off,
                                __global const float *gamma, int gamma_off,
                                __global const float *beta, int beta_off, int N, int C, int HW,
                                int Q, int chunk, int relu) {
  int q = get_global_id(0), c = get_global_id(1), r = get_global_id(2) * C + c;
  if (q >= Q || c >= C) return;
  int i = q * chunk, end = min(i + chunk, HW);
  __global const float *px = x + x_off + (size_t)r * HW;
  __global float *py = y + y_off + (size_t)r * HW;
  float m = saved[saved_off + c];
  float k = saved[saved_off + C + c] * gamma[gamma_off + c];
  float b = beta[beta_off + c];
  for (; i < end; i++) py[i] = forward_value(px[i], m, k, b, relu);
}

/* Backward, first pass: a[c*P + n*Q + q] = sum of g, b[...] = sum of g * (x - mean), over piece
 * q of row (n, c), where g = dy (masked by y > 0 if relu). */
__kernel void batchnorm_backward_partial(__global float *a, int a_off, __global float *b,
                                         int b_off, __global const float *dy, int dy_off,
                                         __global const float *y, int y_off,
                                         __global const float *x, int x_off,
                                         __global const float *saved, int saved_off, int N, int C,
                                         int HW, int Q, int chunk, int relu) {
  int q = get_global_id(0), c = get_global_id(1), n = get_global_id(2), r = n * C + c;
  if (q >= Q || c >= C) return;
  int i = q * chunk, end = min(i + chunk, HW);
  size_t row = (size_t)r * HW;
  __global const float *pdy = dy + dy_off + row, *px = x + x_off + row, *py = y + y_off + row;
  float m = saved[saved_off + c];
  float16 sa = 0, sb = 0;
  for (; i + 16 <= end; i += 16) {
    float16 g = vload16(0, pdy + i);
    if (relu) g = select((float16)0.0f, g, isgreater(vload16(0, py + i), (float16)0.0f));
    sa += g;
    sb += g * (vload16(0, px + i) - m);
  }
  float ta = lanes_sum(sa), tb = lanes_sum(sb);
  for (; i < end; i++) {
    float g = pdy[i];
    if (relu) g = py[i] > 0.0f ? g : 0.0f;
    ta += g;
    tb += g * (px[i] - m);
  }
  a[a_off + (c * N + n) * Q + q] = ta;
  b[b_off + (c * N + n) * Q + q] = tb;
}

/* Backward, per channel: sums = (sum g, sum g*xhat); dgamma += sum g*xhat and dbeta += sum g
 * where has_dgamma / has_dbeta (frozen parameters are skipped). */
__kernel void batchnorm_backward_params(__global float *sums, int sums_off,
                                        __global float *dgamma, int dgamma_off,
                                        __global float *dbeta, int dbeta_off,
                                        __global const float *a, int a_off,
                                        __global const float *b, int b_off,
                                        __global const float *saved, int saved_off, int C, int P,
                                        int has_dgamma, int has_dbeta) {
  int c = get_global_id(0);
  if (c >= C) return;
  __global const float *pa = a + a_off + (size_t)c * P, *pb = b + b_off + (size_t)c * P;
  float sa = 0, sb = 0;
  for (int j = 0; j < P; j++) {
    sa += pa[j];
    sb += pb[j];
  }
  sb *= saved[saved_off + C + c];
  sums[sums_off + c] = sa;
  sums[sums_off + C + c] = sb;
  if (has_dgamma) dgamma[dgamma_off + c] += sb;
  if (has_dbeta) dbeta[dbeta_off + c] += sa;
}

/* dx = gamma*invstd * (g - sum(g)/M - xhat*sum(g*xhat)/M) in train mode, gamma*invstd * g in
 * eval mode; overwritten, or added with ACCUMULATE. dx may be dy. */
__kernel void batchnorm_backward_data(__global float *dx, int dx_off, __global const float *dy,
                                      int dy_off, __global const float *y, int y_off,
                                      __global const float *x, int x_off,
                                      __global const float *saved, int saved_off,
                                      __global const float *gamma, int gamma_off,
                                      __global const float *sums, int sums_off, int N, int C,
                                      int HW, int Q, int chunk, int M, int relu) {
  int q = get_global_id(0), c = get_global_id(1), r = get_global_id(2) * C + c;
  if (q >= Q || c >= C) return;
  int i = q * chunk, end = min(i + chunk, HW);
  size_t row = (size_t)r * HW;
  __global const float *pdy = dy + dy_off + row;
  __global float *pdx = dx + dx_off + row;
  __global const float *py = y + y_off + row;
  __global const float *px = x + x_off + row;
  float m, k, ga, gb;
  backward_scales(saved, saved_off, gamma, gamma_off, sums, sums_off, C, c, M, &m, &k, &ga, &gb);
  for (; i < end; i++) {
    float v = backward_value(pdy[i], relu ? py[i] : 0.0f, TRAIN ? px[i] : 0.0f, m, k, ga, gb, relu);
#if ACCUMULATE
    pdx[i] += v;
#else
    pdx[i] = v;
#endif
  }
}

/* ---- GPU shapes (CLTRAIN_OPT_KERNEL_SHAPE): neighbouring work-items on neighbouring floats ----
 * The reductions keep the CPU shapes' pieces and partial-sum layout (so the per-channel kernels
 * above finish them): piece q of row (n, c) is one work-group of WG items (-DWG, a power of 2),
 * item l adding elements l, l + WG, ... of the piece, then a fixed tree in local memory adds the
 * items' sums; one launch (Q * WG, C, N) in work-groups of (WG, 1, 1). Bitwise repeatable for
 * one WG. The maps run a work-item per element over (HW, C, N). */
#ifdef WG
/* The sum of every item's v over the work-group, as a fixed tree; t holds WG floats. Every item
 * gets it; t may be reused after the call's last barrier. */
static float group_sum(__local float *t, float v) {
  int l = get_local_id(0);
  t[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (l < s) t[l] += t[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float r = t[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

/* part as batchnorm_forward_partial_sum's, and with has_mean as batchnorm_forward_partial_sqdev's
 * (sum of (x - mean[c])^2). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void batchnorm_forward_partial_tree(__global float *part, int part_off, __global const float *x,
                                    int x_off, __global const float *mean, int mean_off,
                                    int has_mean, int N, int C, int HW, int chunk) {
  __local float t[WG];
  int l = get_local_id(0), q = get_group_id(0), Q = get_num_groups(0);
  int c = get_global_id(1), n = get_global_id(2);
  int end = min(q * chunk + chunk, HW);
  __global const float *p = x + x_off + (size_t)(n * C + c) * HW;
  float m = has_mean ? mean[mean_off + c] : 0.0f, s = 0.0f;
  for (int i = q * chunk + l; i < end; i += WG) {
    float d = p[i] - m;
    s += has_mean ? d * d : d;
  }
  s = group_sum(t, s);
  if (l == 0) part[part_off + (c * N + n) * Q + q] = s;
}

/* a and b as batchnorm_backward_partial's. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void batchnorm_backward_partial_tree(__global float *a, int a_off, __global float *b, int b_off,
                                     __global const float *dy, int dy_off,
                                     __global const float *y, int y_off,
                                     __global const float *x, int x_off,
                                     __global const float *saved, int saved_off, int N, int C,
                                     int HW, int chunk, int relu) {
  __local float t[WG];
  int l = get_local_id(0), q = get_group_id(0), Q = get_num_groups(0);
  int c = get_global_id(1), n = get_global_id(2);
  int end = min(q * chunk + chunk, HW);
  size_t row = (size_t)(n * C + c) * HW;
  float m = saved[saved_off + c], sa = 0.0f, sb = 0.0f;
  for (int i = q * chunk + l; i < end; i += WG) {
    float g = dy[dy_off + row + i];
    if (relu) g = y[y_off + row + i] > 0.0f ? g : 0.0f;
    sa += g;
    sb += g * (x[x_off + row + i] - m);
  }
  sa = group_sum(t, sa);
  sb = group_sum(t, sb);
  if (l == 0) {
    a[a_off + (c * N + n) * Q + q] = sa;
    b[b_off + (c * N + n) * Q + q] = sb;
  }
}
#endif

/* batchnorm_forward with a work-item per element: global (HW, C, N). */
__kernel void batchnorm_forward_each(__global float *y, int y_off, __global const float *x,
                                     int x_off, __global const float *saved, int saved_off,
                                     __global const float *gamma, int gamma_off,
                                     __global const float *beta, int beta_off, int C, int HW,
                                     int relu) {
  int i = get_global_id(0), c = get_global_id(1);
  if (i >= HW) return;
  size_t e = (size_t)(get_global_id(2) * C + c) * HW + i;
  float k = saved[saved_off + C + c] * gamma[gamma_off + c];
  y[y_off + e] = forward_value(x[x_off + e], saved[saved_off + c], k, beta[beta_off + c], relu);
}

/* batchnorm_backward_data with a work-item per element: global (HW, C, N). */
__kernel void batchnorm_backward_data_each(__global float *dx, int dx_off,
                                           __global const float *dy, int dy_off,
                                           __global const float *y, int y_off,
                                           __global const float *x, int x_off,
                                           __global const float *saved, int saved_off,
                                           __global const float *gamma, int gamma_off,
                                           __global const float *sums, int sums_off, int C,
                                           int HW, int M, int relu) {
  int i = get_global_id(0), c = get_global_id(1);
  if (i >= HW) return;
  size_t e = (size_t)(get_global_id(2) * C + c) * HW + i;
  float m, k, ga, gb;
  backward_scales(saved, saved_off, gamma, gamma_off, sums, sums_off, C, c, M, &m, &k, &ga, &gb);
  float v = backward_value(dy[dy_off + e], relu ? y[y_off + e] : 0.0f, TRAIN ? x[x_off + e] : 0.0f,
                           m, k, ga, gb, relu);
#if ACCUMULATE
  dx[dx_off + e] += v;
#else
  dx[dx_off + e] = v;
#endif
}
