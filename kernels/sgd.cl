/* sgd.cl: one step of torch.optim.SGD (momentum, dampening, weight decay, Nesterov) on a flat
 * block of parameters, one work-item per element. FP_CONTRACT stays on (default): PoCL's clang
 * already fuses m*b + (1-d)*g and p - lr*d into FMAs on AVX-512, as a GPU does, so the
 * trajectory tests' calibration holds; no division or sqrt here. */

/* d = g + wd p;  with momentum: m = first ? d : momentum m + (1 - dampening) d,
 * d = nesterov ? d + momentum m : m;  then p -= lr d. m is not touched when momentum is 0. */
__kernel void sgd_update(__global float *p, int p_off, __global float *m, int m_off,
                         __global const float *g, int g_off, int n, float lr, float momentum,
                         float dampening, float weight_decay, int nesterov, int first) {
  int i = get_global_id(0);
  if (i >= n) return;
  float pv = p[p_off + i];
  float d = g[g_off + i];
  if (weight_decay != 0.0f) d += weight_decay * pv;
  if (momentum != 0.0f) {
    /* torch starts the buffer at d itself, not (1 - dampening) d; an old m is never read then */
    float b = first ? d : momentum * m[m_off + i] + (1.0f - dampening) * d;
    m[m_off + i] = b;
    d = nesterov ? d + momentum * b : b;
  }
  p[p_off + i] = pv - lr * d;
}
