/* loss.cl: softmax cross-entropy with optional label smoothing (torch.nn.functional.cross_entropy,
 * mean over the batch): the loss with per-row argmax, and the logits gradient.
 * A label outside [0,K) is never used as an index: its row's loss and gradient become NaN.
 * Rounding: exp and log1p carry their own ulp bounds on every device, and the divisions (by the
 * row's sum of exponentials, by N) are a few per row: default flags and FP_CONTRACT; the loss
 * tests compare against float64 with tolerances far above a GPU's 2.5 ulp. */

#ifndef WG
#define WG 64 /* work-group size of the forward kernel: a power of two */
#endif

/* One row's statistics, everything relative to the row maximum m so nothing overflows:
 * *am = index of the first maximum, *rest = sum over j != am of exp(x_j - m) (so the softmax
 * denominator is 1 + rest, and log1p keeps small losses accurate), *centred = sum of (x_j - m). */
static void row_stats(__global const float *x, int k, float *m, int *am, float *rest, float *centred) {
  float mx = x[0];
  int arg = 0;
  for (int j = 1; j < k; j++)
    if (x[j] > mx) mx = x[j], arg = j;
  float r = 0.0f, c = 0.0f;
  for (int j = 0; j < k; j++) {
    float d = x[j] - mx;
    if (j != arg) r += exp(d);
    c += d;
  }
  *m = mx, *am = arg, *rest = r, *centred = c;
}

/* loss[0] = mean over rows of  log(sum_j exp(x_j - m)) - (1-eps)(x_label - m) - eps/K sum_j (x_j - m),
 * which is -sum_j target_j log softmax_j with target = (1-eps) onehot + eps/K.
 * argmax (N) gets each row's first maximum when has_argmax. One work-group of WG items: each
 * sums rows t, t+WG, ... in order, then a fixed tree adds the partial sums (deterministic). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_forward(__global float *loss, int loss_off, __global int *argmax, int argmax_off,
                           int has_argmax, __global const float *logits, int logits_off,
                           __global const int *labels, int labels_off, int n, int k, float eps) {
  __local float part[WG];
  int t = get_local_id(0);
  float acc = 0.0f;
  for (int i = t; i < n; i += WG) {
    __global const float *x = logits + logits_off + (size_t)i * k;
    float m, rest, centred;
    int am;
    row_stats(x, k, &m, &am, &rest, &centred);
    if (has_argmax) argmax[argmax_off + i] = am;
    int label = labels[labels_off + i];
    if (label < 0 || label >= k) {
      acc += NAN;
      continue;
    }
    acc += log1p(rest) - (1.0f - eps) * (x[label] - m) - eps / k * centred;
  }
  part[t] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = WG / 2; s > 0; s >>= 1) {
    if (t < s) part[t] += part[t + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) loss[loss_off] = part[0] / n;
}

/* dlogits (N,K) = scale * (softmax - target), scale = dloss / N; one work-item per row. */
__kernel void cross_entropy_backward(__global float *dlogits, int dlogits_off,
                                     __global const float *logits, int logits_off,
                                     __global const int *labels, int labels_off, int n, int k,
                                     float eps, float scale) {
  int i = get_global_id(0);
  if (i >= n) return;
  __global const float *x = logits + logits_off + (size_t)i * k;
  __global float *dx = dlogits + dlogits_off + (size_t)i * k;
  float m, rest, centred;
  int am;
  row_stats(x, k, &m, &am, &rest, &centred);
  int label = labels[labels_off + i];
  if (label < 0 || label >= k) {
    for (int j = 0; j < k; j++) dx[j] = NAN;
    return;
  }
  float inv = 1.0f / (1.0f + rest), off = eps / k;
  for (int j = 0; j < k; j++) {
    float target = (j == label ? 1.0f - eps : 0.0f) + off;
    dx[j] = scale * (exp(x[j] - m) * inv - target);
  }
}
