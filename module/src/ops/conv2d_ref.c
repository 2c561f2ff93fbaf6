/* conv2d_ref.c: conv2d on host arrays by the definition, summing in double: the oracle the
 * device op is checked against, and the formula a reader can run in their head. */
#include <stdlib.h>
#include <string.h>

#include "ops/conv2d.h"

cltrain_status conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_shape *s) {
  TRY(conv2d_check_shape(NULL, s));
  int oh = conv2d_out_h(s), ow = conv2d_out_w(s), cg = s->c / conv2d_groups(s), kg = s->k / conv2d_groups(s);
  for (int n = 0; n < s->n; n++)
    for (int k = 0; k < s->k; k++)
      for (int yo = 0; yo < oh; yo++)
        for (int xo = 0; xo < ow; xo++) {
          double sum = b ? b[k] : 0.0;
          for (int c = k / kg * cg; c < (k / kg + 1) * cg; c++) /* the input channels of k's group */
            for (int r = 0; r < s->r; r++) {
              int iy = yo * s->stride_h - s->pad_h + r * s->dil_h;
              if (iy < 0 || iy >= s->h) continue;
              for (int q = 0; q < s->s; q++) {
                int ix = xo * s->stride_w - s->pad_w + q * s->dil_w;
                if (ix < 0 || ix >= s->w) continue;
                sum += (double)x[((size_t)(n * s->c + c) * s->h + iy) * s->w + ix] *
                       w[((size_t)(k * cg + c % cg) * s->r + r) * s->s + q];
              }
            }
          y[((size_t)(n * s->k + k) * oh + yo) * ow + xo] = (float)sum;
        }
  return CLTRAIN_OK;
}

cltrain_status conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, int accumulate_dx,
                                   const conv2d_shape *s) {
  TRY(conv2d_check_shape(NULL, s));
  int oh = conv2d_out_h(s), ow = conv2d_out_w(s), cg = s->c / conv2d_groups(s), kg = s->k / conv2d_groups(s);
  size_t nx = (size_t)s->n * s->c * s->h * s->w, nw = (size_t)s->k * cg * s->r * s->s;
  double *gx = calloc(nx, sizeof *gx), *gw = calloc(nw, sizeof *gw), *gb = calloc(s->k, sizeof *gb);
  if (!gx || !gw || !gb) {
    free(gx), free(gw), free(gb);
    return rt_fail(NULL, CLTRAIN_ERR_OUT_OF_MEMORY, "conv2d_backward_ref: out of host memory");
  }
  for (int n = 0; n < s->n; n++)
    for (int k = 0; k < s->k; k++)
      for (int yo = 0; yo < oh; yo++)
        for (int xo = 0; xo < ow; xo++) {
          double g = dy[((size_t)(n * s->k + k) * oh + yo) * ow + xo];
          gb[k] += g;
          for (int c = k / kg * cg; c < (k / kg + 1) * cg; c++)
            for (int r = 0; r < s->r; r++) {
              int iy = yo * s->stride_h - s->pad_h + r * s->dil_h;
              if (iy < 0 || iy >= s->h) continue;
              for (int q = 0; q < s->s; q++) {
                int ix = xo * s->stride_w - s->pad_w + q * s->dil_w;
                if (ix < 0 || ix >= s->w) continue;
                size_t xi = ((size_t)(n * s->c + c) * s->h + iy) * s->w + ix;
                size_t wi = ((size_t)(k * cg + c % cg) * s->r + r) * s->s + q;
                if (dx) gx[xi] += g * w[wi];
                if (dw) gw[wi] += g * x[xi];
              }
            }
        }
  if (dx)
    for (size_t i = 0; i < nx; i++) dx[i] = (float)(accumulate_dx == OP_ACCUMULATE ? dx[i] + gx[i] : gx[i]);
  if (dw)
    for (size_t i = 0; i < nw; i++) dw[i] = (float)(dw[i] + gw[i]);
  if (db)
    for (int k = 0; k < s->k; k++) db[k] = (float)(db[k] + gb[k]);
  free(gx), free(gw), free(gb);
  return CLTRAIN_OK;
}
