/* depthwise_ref.c: the C reference for depthwise.h on host arrays, sums in double. */
#include <stdlib.h>

#include "ops/depthwise.h"

/* Calls f(img, ch, oy, ox, iy, ix, tap) for every in-range (output, tap) pair, in order. */
#define FOR_TAPS(s, body)                                                                     \
  for (int img = 0; img < (s)->n; img++)                                                      \
    for (int ch = 0; ch < (s)->c; ch++)                                                       \
      for (int oy = 0; oy < conv2d_out_h(s); oy++)                                            \
        for (int ox = 0; ox < conv2d_out_w(s); ox++)                                          \
          for (int kr = 0; kr < (s)->r; kr++)                                                 \
            for (int ks = 0; ks < (s)->s; ks++) {                                             \
              int iy = oy * (s)->stride_h - (s)->pad_h + kr * (s)->dil_h;                     \
              int ix = ox * (s)->stride_w - (s)->pad_w + ks * (s)->dil_w;                     \
              if (iy < 0 || iy >= (s)->h || ix < 0 || ix >= (s)->w) continue;                 \
              size_t xi = (((size_t)img * (s)->c + ch) * (s)->h + iy) * (s)->w + ix;          \
              size_t yi = (((size_t)img * (s)->c + ch) * conv2d_out_h(s) + oy) * conv2d_out_w(s) + ox; \
              size_t wi = ((size_t)ch * (s)->r + kr) * (s)->s + ks;                           \
              body                                                                            \
            }

void depthwise_forward_ref(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s) {
  size_t ny = (size_t)s->n * s->c * conv2d_out_h(s) * conv2d_out_w(s), p = ny / ((size_t)s->n * s->c);
  double *acc = calloc(ny, sizeof *acc);
  FOR_TAPS(s, { acc[yi] += (double)x[xi] * w[wi]; })
  for (size_t i = 0; i < ny; i++) y[i] = (float)(acc[i] + (b ? b[(i / p) % s->c] : 0.0));
  free(acc);
}

void depthwise_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            int accumulate_dx, const conv2d_shape *s) {
  size_t nx = (size_t)s->n * s->c * s->h * s->w, nw = (size_t)s->c * s->r * s->s;
  size_t p = (size_t)conv2d_out_h(s) * conv2d_out_w(s);
  double *gx = calloc(nx, sizeof *gx), *gw = calloc(nw, sizeof *gw);
  FOR_TAPS(s, {
    gx[xi] += (double)dy[yi] * w[wi];
    gw[wi] += (double)dy[yi] * x[xi];
  })
  if (dx)
    for (size_t i = 0; i < nx; i++) dx[i] = (float)(accumulate_dx == OP_ACCUMULATE ? dx[i] + gx[i] : gx[i]);
  if (dw)
    for (size_t i = 0; i < nw; i++) dw[i] = (float)(dw[i] + gw[i]);
  if (db)
    for (int ch = 0; ch < s->c; ch++) {
      double t = 0;
      for (int img = 0; img < s->n; img++)
        for (size_t q = 0; q < p; q++) t += dy[((size_t)img * s->c + ch) * p + q];
      db[ch] = (float)(db[ch] + t);
    }
  free(gx), free(gw);
}
