/* batchnorm_ref.c: the C reference of batchnorm.h on host arrays, summing in double. */
#include <math.h>

#include "ops/batchnorm.h"

static cltrain_status forward_ref(float *y, float *saved, float *running_mean, float *running_var,
                                  const float *x, const float *gamma, const float *beta,
                                  int training, int relu, const batchnorm_shape *s) {
  TRY(batchnorm_check_shape(NULL, s, training));
  if (!y || !x || !gamma || !beta || !running_mean || !running_var || (training && !saved))
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "batchnorm_forward_ref: a required array is NULL");
  int N = s->n, C = s->c;
  size_t HW = (size_t)s->h * s->w, M = (size_t)N * HW;
  for (int c = 0; c < C; c++) {
    double mean, invstd;
    if (training) {
      double sum = 0, sq = 0;
      for (int n = 0; n < N; n++)
        for (size_t i = 0; i < HW; i++) sum += x[((size_t)n * C + c) * HW + i];
      mean = sum / M;
      for (int n = 0; n < N; n++)
        for (size_t i = 0; i < HW; i++) {
          double d = x[((size_t)n * C + c) * HW + i] - mean;
          sq += d * d;
        }
      invstd = 1 / sqrt(sq / M + s->eps);
      running_mean[c] = (float)((1 - (double)s->momentum) * running_mean[c] + s->momentum * mean);
      running_var[c] =
          (float)((1 - (double)s->momentum) * running_var[c] + s->momentum * sq / (M - 1));
    } else {
      mean = running_mean[c];
      invstd = 1 / sqrt((double)running_var[c] + s->eps);
    }
    if (saved) saved[c] = (float)mean, saved[C + c] = (float)invstd;
    for (int n = 0; n < N; n++)
      for (size_t i = 0; i < HW; i++) {
        size_t j = ((size_t)n * C + c) * HW + i;
        double v = (x[j] - mean) * invstd * gamma[c] + beta[c];
        y[j] = (float)(relu && v < 0 ? 0 : v);
      }
  }
  return CLTRAIN_OK;
}

static cltrain_status backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *y, const float *x, const float *gamma,
                                   const float *saved, int training, int accumulate_dx, int relu,
                                   const batchnorm_shape *s) {
  TRY(batchnorm_check_shape(NULL, s, training));
  if (!dy || !x || !gamma || !saved || (relu && !y))
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "batchnorm_backward_ref: a required array is NULL");
  int N = s->n, C = s->c;
  size_t HW = (size_t)s->h * s->w, M = (size_t)N * HW;
  for (int c = 0; c < C; c++) {
    double mean = saved[c], invstd = saved[C + c], sg = 0, sgx = 0;
    for (int n = 0; n < N; n++)
      for (size_t i = 0; i < HW; i++) {
        size_t j = ((size_t)n * C + c) * HW + i;
        double g = relu && !(y[j] > 0) ? 0 : dy[j];
        sg += g;
        sgx += g * (x[j] - mean) * invstd;
      }
    if (dgamma) dgamma[c] = (float)(dgamma[c] + sgx);
    if (dbeta) dbeta[c] = (float)(dbeta[c] + sg);
    if (!dx) continue;
    double k = (double)gamma[c] * invstd;
    for (int n = 0; n < N; n++)
      for (size_t i = 0; i < HW; i++) {
        size_t j = ((size_t)n * C + c) * HW + i;
        double g = relu && !(y[j] > 0) ? 0 : dy[j];
        double v = training ? k * (g - sg / M - (x[j] - mean) * invstd * sgx / M) : k * g;
        dx[j] = (float)(accumulate_dx == OP_ACCUMULATE ? dx[j] + v : v);
      }
  }
  return CLTRAIN_OK;
}

cltrain_status batchnorm_forward_ref(float *y, float *saved, float *running_mean,
                                     float *running_var, const float *x, const float *gamma,
                                     const float *beta, int training, const batchnorm_shape *s) {
  return forward_ref(y, saved, running_mean, running_var, x, gamma, beta, training, 0, s);
}

cltrain_status batchnorm_relu_forward_ref(float *y, float *saved, float *running_mean,
                                          float *running_var, const float *x, const float *gamma,
                                          const float *beta, int training,
                                          const batchnorm_shape *s) {
  return forward_ref(y, saved, running_mean, running_var, x, gamma, beta, training, 1, s);
}

cltrain_status batchnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                                      const float *x, const float *gamma, const float *saved,
                                      int training, int accumulate_dx, const batchnorm_shape *s) {
  return backward_ref(dx, dgamma, dbeta, dy, NULL, x, gamma, saved, training, accumulate_dx, 0, s);
}

cltrain_status batchnorm_relu_backward_ref(float *dx, float *dgamma, float *dbeta,
                                           const float *dy, const float *y, const float *x,
                                           const float *gamma, const float *saved, int training,
                                           int accumulate_dx, const batchnorm_shape *s) {
  return backward_ref(dx, dgamma, dbeta, dy, y, x, gamma, saved, training, accumulate_dx, 1, s);
}
