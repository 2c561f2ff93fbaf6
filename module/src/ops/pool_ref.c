/* pool_ref.c: plain C references for pool.h, on host arrays; sums in double. */
#include <math.h>

#include "ops/pool.h"

void maxpool2d_forward_ref(float *y, int *idx, const float *x, const pool2d_shape *s) {
  for (int p = 0; p < s->n * s->c; p++) {
    const float *xp = x + (size_t)p * s->h * s->w;
    for (int oh = 0; oh < s->oh; oh++)
      for (int ow = 0; ow < s->ow; ow++) {
        int h0 = oh * s->sh - s->ph, w0 = ow * s->sw - s->pw;
        int best = (h0 < 0 ? 0 : h0) * s->w + (w0 < 0 ? 0 : w0);
        float m = -INFINITY;
        for (int ih = h0; ih < h0 + s->kh; ih++)
          for (int iw = w0; iw < w0 + s->kw; iw++) {
            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue; /* padding: -inf */
            float v = xp[ih * s->w + iw];
            if (v > m || isnan(v)) m = v, best = ih * s->w + iw;
          }
        size_t o = ((size_t)p * s->oh + oh) * s->ow + ow;
        y[o] = m;
        idx[o] = best;
      }
  }
}

/* Window membership by plain test over every output row/column (not the kernel's closed form),
 * summed in double in (oh, ow) order. */
static int covers(int o, int i, int k, int stride, int pad) {
  return o * stride - pad <= i && i < o * stride - pad + k;
}

void maxpool2d_backward_ref(float *dx, const float *dy, const int *idx, const pool2d_shape *s,
                            int accumulate) {
  for (int p = 0; p < s->n * s->c; p++)
    for (int ih = 0; ih < s->h; ih++)
      for (int iw = 0; iw < s->w; iw++) {
        double sum = 0;
        for (int oh = 0; oh < s->oh; oh++) {
          if (!covers(oh, ih, s->kh, s->sh, s->ph)) continue;
          for (int ow = 0; ow < s->ow; ow++) {
            size_t o = ((size_t)p * s->oh + oh) * s->ow + ow;
            if (covers(ow, iw, s->kw, s->sw, s->pw) && idx[o] == ih * s->w + iw) sum += dy[o];
          }
        }
        size_t e = ((size_t)p * s->h + ih) * s->w + iw;
        dx[e] = (float)(accumulate == OP_ACCUMULATE ? dx[e] + sum : sum);
      }
}

void avgpool2d_forward_ref(float *y, const float *x, const pool2d_shape *s) {
  for (int p = 0; p < s->n * s->c; p++)
    for (int oh = 0; oh < s->oh; oh++)
      for (int ow = 0; ow < s->ow; ow++) {
        double sum = 0;
        for (int ih = oh * s->sh - s->ph; ih < oh * s->sh - s->ph + s->kh; ih++)
          for (int iw = ow * s->sw - s->pw; iw < ow * s->sw - s->pw + s->kw; iw++)
            if (ih >= 0 && ih < s->h && iw >= 0 && iw < s->w)
              sum += x[((size_t)p * s->h + ih) * s->w + iw];
        y[((size_t)p * s->oh + oh) * s->ow + ow] = (float)(sum / (s->kh * s->kw));
      }
}

void avgpool2d_backward_ref(float *dx, const float *dy, const pool2d_shape *s, int accumulate) {
  for (int p = 0; p < s->n * s->c; p++)
    for (int ih = 0; ih < s->h; ih++)
      for (int iw = 0; iw < s->w; iw++) {
        double sum = 0;
        for (int oh = 0; oh < s->oh; oh++) {
          if (!covers(oh, ih, s->kh, s->sh, s->ph)) continue;
          for (int ow = 0; ow < s->ow; ow++)
            if (covers(ow, iw, s->kw, s->sw, s->pw)) sum += dy[((size_t)p * s->oh + oh) * s->ow + ow];
        }
        size_t e = ((size_t)p * s->h + ih) * s->w + iw;
        sum /= s->kh * s->kw;
        dx[e] = (float)(accumulate == OP_ACCUMULATE ? dx[e] + sum : sum);
      }
}

void global_avgpool_forward_ref(float *y, const float *x, const pool2d_shape *s) {
  size_t hw = (size_t)s->h * s->w;
  for (size_t p = 0; p < (size_t)s->n * s->c; p++) {
    double sum = 0;
    for (size_t i = 0; i < hw; i++) sum += x[p * hw + i];
    y[p] = (float)(sum / hw);
  }
}

void global_avgpool_backward_ref(float *dx, const float *dy, const pool2d_shape *s, int accumulate) {
  size_t hw = (size_t)s->h * s->w;
  for (size_t p = 0; p < (size_t)s->n * s->c; p++)
    for (size_t i = 0; i < hw; i++) {
      double g = (double)dy[p] / hw;
      dx[p * hw + i] = (float)(accumulate == OP_ACCUMULATE ? dx[p * hw + i] + g : g);
    }
}
