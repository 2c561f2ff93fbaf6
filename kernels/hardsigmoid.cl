/* hardsigmoid.cl: ONNX HardSigmoid, y = clamp(alpha * x + beta, 0, 1) (torch's Hardsigmoid is
 * alpha 1/6, beta 1/2; MobileNetV3's hardswish is x * hardsigmoid(x)), forward and backward.
 * One work-item per element. Computed as torch does, clamp(x + shift, 0, width) / width with
 * shift = beta / alpha and width = 1 / alpha (3 and 6 for torch's), and the ramp tested on x
 * itself (-3 < x < 3): alpha * x + beta in float32 rounds to 1 for x an ulp below 3, and the
 * gradient at that one element would differ from torch's. */

#ifndef ACCUMULATE
#define ACCUMULATE 0 /* backward: 1 adds to dx instead of overwriting it */
#endif

/* y may be x. */
__kernel void hardsigmoid_forward(__global float *y, int y_off, __global const float *x, int x_off, float shift,
                                  float width, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = x[x_off + i] + shift;
  y[y_off + i] = (v <= 0.0f ? 0.0f : v >= width ? width : v) / width; /* NaN passes */
}

/* dx = alpha * dy inside the ramp (lo < x < hi: -shift, width - shift), else 0; dx may be dy. */
__kernel void hardsigmoid_backward(__global float *dx, int dx_off, __global const float *dy, int dy_off,
                                   __global const float *x, int x_off, float alpha, float lo, float hi, int n) {
  int i = get_global_id(0);
  if (i >= n) return;
  float v = x[x_off + i];
  float g = v > lo && v < hi ? alpha * dy[dy_off + i] : 0.0f;
#if ACCUMULATE
  dx[dx_off + i] += g;
#else
  dx[dx_off + i] = g;
#endif
}
