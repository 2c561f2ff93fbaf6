/* test_batchnorm.c: batch normalisation (plain and fused with ReLU, train and eval mode) on the
 * device and in the C reference against PyTorch float64 (test/ref/ref_batchnorm.py), at every
 * ResNet-18 shape and small odd ones; bitwise determinism, frozen parameters, and errors. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "ops/batchnorm.h"
#include "check.h"
#include "reftensor.h"

/* Bounds, against float64 PyTorch (refs rounded to float32, which adds at most 6e-8):
 * - forward (y, mean, invstd, running stats): a few float roundings per element; measured
 *   <= 4.4e-7 (the 6-element case), bound 1e-6, which any wrong formula or index exceeds by far.
 * - dgamma, dbeta, eval-mode dx: sums of up to 25088 products, from 16-lane partial sums of
 *   1024 floats; measured <= 3.3e-7, bound 2e-6.
 * - train-mode dx: dy - mean(dy) - xhat*mean(dy*xhat) cancels, which amplifies the rounding of
 *   the two sums; measured <= 3.4e-7, bound 3e-6 (margin for other devices' rounding). */
#define TOL_FWD 1e-6
#define TOL_GRAD 2e-6
#define TOL_DX_TRAIN 3e-6

typedef struct bn_case {
  const char *name;
  ref_set *r;
  batchnorm_shape s;
  size_t total, C;
} bn_case;

static bn_case open_case(const char *name) {
  bn_case k = {name, ref_load(name), {0}, 0, 0};
  const ref_tensor *x = ref_get(k.r, "x");
  k.s.n = (int)x->dims[0], k.s.c = (int)x->dims[1], k.s.h = (int)x->dims[2], k.s.w = (int)x->dims[3];
  k.s.eps = 1e-5f, k.s.momentum = 0.1f;
  k.total = x->n, k.C = (size_t)k.s.c;
  return k;
}

static void check_buf(cltrain_context *cx, const bn_case *k, const char *what, buf b,
                      const char *ref_name, size_t n, double tol) {
  float *got = test_download(cx, b, n);
  char label[128];
  snprintf(label, sizeof label, "%s %s", k->name + 10, what);
  CHECK_REL(label, got, ref_f32(k->r, ref_name, NULL), n, tol);
  free(got);
}

/* Parameter-gradient buffers start from random values, so "+=" is checked, not "=". */
static void check_accumulated(cltrain_context *cx, const bn_case *k, const char *what, buf b,
                              const float *start, const char *ref_name, double tol) {
  const float *ref = ref_f32(k->r, ref_name, NULL);
  float *want = malloc(k->C * sizeof *want), *got = test_download(cx, b, k->C);
  for (size_t i = 0; i < k->C; i++) got[i] -= start[i], want[i] = ref[i];
  char label[128];
  snprintf(label, sizeof label, "%s %s", k->name + 10, what);
  CHECK_REL(label, got, want, k->C, tol);
  free(want), free(got);
}

/* The device op at one mode, plain or fused, against PyTorch. */
static void device_mode(cltrain_context *cx, const bn_case *k, int training, int relu) {
  const ref_set *r = k->r;
  size_t T = k->total, C = k->C, off = 3; /* a non-zero offset into every buffer */
  const char *mode = training ? "train" : "eval";
  char name[64], what[64];
  buf x = test_upload(cx, NULL, T + off), y = test_upload(cx, NULL, T + off),
      dy = test_upload(cx, NULL, T + off), dx = test_upload(cx, NULL, T + off),
      yref = test_upload(cx, ref_f32(r, relu ? (training ? "relu_y_train" : "relu_y_eval") : "x", NULL), T),
      saved = test_upload(cx, NULL, 2 * C + off), params = test_upload(cx, NULL, 6 * C + off),
      ws = test_upload(cx, NULL, batchnorm_workspace_floats(&k->s));
  x = buf_at(x, off), y = buf_at(y, off), dy = buf_at(dy, off), dx = buf_at(dx, off);
  saved = buf_at(saved, off);
  buf gamma = buf_at(params, off), beta = buf_at(gamma, C), rm = buf_at(gamma, 2 * C),
      rv = buf_at(gamma, 3 * C), dgamma = buf_at(gamma, 4 * C), dbeta = buf_at(gamma, 5 * C);
  rt_write(cx, x, ref_f32(r, "x", NULL), T * 4);
  rt_write(cx, dy, ref_f32(r, "dy", NULL), T * 4);
  rt_write(cx, gamma, ref_f32(r, "gamma", NULL), C * 4);
  rt_write(cx, beta, ref_f32(r, "beta", NULL), C * 4);
  rt_write(cx, rm, ref_f32(r, "running_mean", NULL), C * 4);
  rt_write(cx, rv, ref_f32(r, "running_var", NULL), C * 4);
  float *g0 = malloc(2 * C * sizeof *g0), *dx0 = malloc(T * sizeof *dx0);
  fill_uniform(g0, 2 * C, 7, -1, 1);
  fill_uniform(dx0, T, 8, -1, 1);
  rt_write(cx, dgamma, g0, 2 * C * 4);
  rt_write(cx, dx, dx0, T * 4); /* garbage that an overwrite must replace */

  const char *pre = relu ? "relu_" : "";
  if (relu)
    CHECK_OK(batchnorm_relu_forward(cx, y, saved, rm, rv, x, gamma, beta, ws, training, &k->s));
  else
    CHECK_OK(batchnorm_forward(cx, y, saved, rm, rv, x, gamma, beta, ws, training, &k->s));
  snprintf(name, sizeof name, "%sy_%s", pre, mode);
  snprintf(what, sizeof what, "%s y", relu ? "bn+relu" : "bn");
  check_buf(cx, k, what, y, name, T, TOL_FWD);
  if (training) {
    check_buf(cx, k, "train saved mean", saved, "mean", C, TOL_FWD);
    check_buf(cx, k, "train saved invstd", buf_at(saved, C), "invstd", C, TOL_FWD);
    check_buf(cx, k, "train running_mean", rm, "running_mean_train", C, TOL_FWD);
    check_buf(cx, k, "train running_var", rv, "running_var_train", C, TOL_FWD);
  } else {
    float *got = test_download(cx, gamma, 4 * C);
    CHECK(!memcmp(got + 2 * C, ref_f32(r, "running_mean", NULL), C * 4) &&
              !memcmp(got + 3 * C, ref_f32(r, "running_var", NULL), C * 4),
          "%s eval: running statistics are left bitwise unchanged", k->name);
    free(got);
  }

  /* The ReLU mask comes from PyTorch's y, so that an output within rounding of 0 cannot flip
   * the mask and make an unrelated gradient mismatch; the mask logic itself is what is tested. */
  if (relu)
    CHECK_OK(batchnorm_relu_backward(cx, dx, dgamma, dbeta, dy, yref, x, gamma, saved, ws,
                                     training, OP_OVERWRITE, &k->s));
  else
    CHECK_OK(batchnorm_backward(cx, dx, dgamma, dbeta, dy, x, gamma, saved, ws, training,
                                OP_OVERWRITE, &k->s));
  snprintf(name, sizeof name, "%sdx_%s", pre, mode);
  snprintf(what, sizeof what, "%s dx %s", relu ? "bn+relu" : "bn", mode);
  check_buf(cx, k, what, dx, name, T, training ? TOL_DX_TRAIN : TOL_GRAD);
  snprintf(name, sizeof name, "%sdgamma_%s", pre, mode);
  snprintf(what, sizeof what, "%s dgamma %s", relu ? "bn+relu" : "bn", mode);
  check_accumulated(cx, k, what, dgamma, g0, name, TOL_GRAD);
  snprintf(name, sizeof name, "%sdbeta_%s", pre, mode);
  snprintf(what, sizeof what, "%s dbeta %s", relu ? "bn+relu" : "bn", mode);
  check_accumulated(cx, k, what, dbeta, g0 + C, name, TOL_GRAD);

  /* OP_ACCUMULATE adds dx onto what is there (dx0), with gamma and beta frozen. */
  rt_write(cx, dx, dx0, T * 4);
  if (relu)
    CHECK_OK(batchnorm_relu_backward(cx, dx, buf_none(), buf_none(), dy, yref, x, gamma, saved,
                                     ws, training, OP_ACCUMULATE, &k->s));
  else
    CHECK_OK(batchnorm_backward(cx, dx, buf_none(), buf_none(), dy, x, gamma, saved, ws, training,
                                OP_ACCUMULATE, &k->s));
  {
    float *got = test_download(cx, dx, T);
    for (size_t i = 0; i < T; i++) got[i] -= dx0[i];
    snprintf(name, sizeof name, "%sdx_%s", pre, mode);
    snprintf(what, sizeof what, "%s dx %s accumulate", relu ? "bn+relu" : "bn", mode);
    char label[128];
    snprintf(label, sizeof label, "%s %s", k->name + 10, what);
    /* Subtracting dx0 back out loses up to |dx0|*2^-24 per element: a bound of 1e-5 still
     * catches an overwrite (error ~1) or a missing term. */
    CHECK_REL(label, got, ref_f32(r, name, NULL), T, 1e-5);
    free(got);
  }
  free(g0), free(dx0);
  rt_free(x.mem), rt_free(y.mem), rt_free(dy.mem), rt_free(dx.mem), rt_free(yref.mem);
  rt_free(saved.mem), rt_free(params.mem), rt_free(ws.mem);
}

/* The C reference against PyTorch: the oracle the device is also held to. */
static void reference_mode(const bn_case *k, int training, int relu) {
  const ref_set *r = k->r;
  size_t T = k->total, C = k->C;
  const char *mode = training ? "train" : "eval", *pre = relu ? "relu_" : "";
  float *y = malloc(T * 4), *dx = malloc(T * 4), *saved = malloc(2 * C * 4);
  float *rm = malloc(C * 4), *rv = malloc(C * 4), *dg = calloc(C, 4), *db = calloc(C, 4);
  memcpy(rm, ref_f32(r, "running_mean", NULL), C * 4);
  memcpy(rv, ref_f32(r, "running_var", NULL), C * 4);
  const float *x = ref_f32(r, "x", NULL), *gamma = ref_f32(r, "gamma", NULL),
              *beta = ref_f32(r, "beta", NULL), *dy = ref_f32(r, "dy", NULL);
  char name[64], label[128];
  if (relu)
    CHECK_OK(batchnorm_relu_forward_ref(y, saved, rm, rv, x, gamma, beta, training, &k->s));
  else
    CHECK_OK(batchnorm_forward_ref(y, saved, rm, rv, x, gamma, beta, training, &k->s));
  snprintf(name, sizeof name, "%sy_%s", pre, mode);
  snprintf(label, sizeof label, "%s ref %s", k->name + 10, name);
  CHECK_REL(label, y, ref_f32(r, name, NULL), T, TOL_FWD);
  if (training && !relu) {
    snprintf(label, sizeof label, "%s ref running_var", k->name + 10);
    CHECK_REL(label, rv, ref_f32(r, "running_var_train", NULL), C, TOL_FWD);
    snprintf(label, sizeof label, "%s ref running_mean", k->name + 10);
    CHECK_REL(label, rm, ref_f32(r, "running_mean_train", NULL), C, TOL_FWD);
  }
  const float *ymask = relu ? ref_f32(r, name, NULL) : NULL;
  if (relu)
    CHECK_OK(batchnorm_relu_backward_ref(dx, dg, db, dy, ymask, x, gamma, saved, training,
                                         OP_OVERWRITE, &k->s));
  else
    CHECK_OK(batchnorm_backward_ref(dx, dg, db, dy, x, gamma, saved, training, OP_OVERWRITE, &k->s));
  const char *grads[3] = {"dx", "dgamma", "dbeta"};
  float *got[3] = {dx, dg, db};
  size_t n[3] = {T, C, C};
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "%s%s_%s", pre, grads[i], mode);
    snprintf(label, sizeof label, "%s ref %s", k->name + 10, name);
    /* The reference sums in double but starts from float32 saved statistics, as the device. */
    CHECK_REL(label, got[i], ref_f32(r, name, NULL), n[i], i == 0 && training ? TOL_DX_TRAIN : TOL_GRAD);
  }
  free(y), free(dx), free(saved), free(rm), free(rv), free(dg), free(db);
}

/* Train-mode forward and backward twice from the same inputs: bitwise equal results. */
static void determinism(cltrain_context *cx, const bn_case *k, int relu) {
  const ref_set *r = k->r;
  size_t T = k->total, C = k->C;
  float *out[2][4];
  for (int run = 0; run < 2; run++) {
    buf x = test_upload(cx, ref_f32(r, "x", NULL), T), dy = test_upload(cx, ref_f32(r, "dy", NULL), T),
        y = test_upload(cx, NULL, T), dx = test_upload(cx, NULL, T),
        gamma = test_upload(cx, ref_f32(r, "gamma", NULL), C),
        beta = test_upload(cx, ref_f32(r, "beta", NULL), C),
        rm = test_upload(cx, ref_f32(r, "running_mean", NULL), C),
        rv = test_upload(cx, ref_f32(r, "running_var", NULL), C), saved = test_upload(cx, NULL, 2 * C),
        dgb = test_upload(cx, NULL, 2 * C), ws = test_upload(cx, NULL, batchnorm_workspace_floats(&k->s));
    float *zero = calloc(2 * C, 4);
    rt_write(cx, dgb, zero, 2 * C * 4);
    free(zero);
    if (relu) {
      CHECK_OK(batchnorm_relu_forward(cx, y, saved, rm, rv, x, gamma, beta, ws, 1, &k->s));
      CHECK_OK(batchnorm_relu_backward(cx, dx, dgb, buf_at(dgb, C), dy, y, x, gamma, saved, ws, 1,
                                       OP_OVERWRITE, &k->s));
    } else {
      CHECK_OK(batchnorm_forward(cx, y, saved, rm, rv, x, gamma, beta, ws, 1, &k->s));
      CHECK_OK(batchnorm_backward(cx, dx, dgb, buf_at(dgb, C), dy, x, gamma, saved, ws, 1,
                                  OP_OVERWRITE, &k->s));
    }
    out[run][0] = test_download(cx, y, T);
    out[run][1] = test_download(cx, dx, T);
    out[run][2] = test_download(cx, dgb, 2 * C);
    out[run][3] = test_download(cx, saved, 2 * C);
    buf all[] = {x, dy, y, dx, gamma, beta, rm, rv, saved, dgb, ws};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) rt_free(all[i].mem);
  }
  size_t n[4] = {T, T, 2 * C, 2 * C};
  const char *what[4] = {"y", "dx", "dgamma,dbeta", "saved"};
  for (int i = 0; i < 4; i++) {
    CHECK(!memcmp(out[0][i], out[1][i], n[i] * 4), "%s%s train %s: two runs are bitwise equal",
          k->name, relu ? " (relu)" : "", what[i]);
    free(out[0][i]), free(out[1][i]);
  }
}

/* Frozen pieces: no dx (first layer), dx only (frozen affine), nothing at all. */
static void frozen(cltrain_context *cx, const bn_case *k) {
  const ref_set *r = k->r;
  size_t T = k->total, C = k->C;
  buf x = test_upload(cx, ref_f32(r, "x", NULL), T), dy = test_upload(cx, ref_f32(r, "dy", NULL), T),
      gamma = test_upload(cx, ref_f32(r, "gamma", NULL), C),
      saved = test_upload(cx, NULL, 2 * C), dx = test_upload(cx, NULL, T),
      dg = test_upload(cx, NULL, C), ws = test_upload(cx, NULL, batchnorm_workspace_floats(&k->s));
  rt_write(cx, saved, ref_f32(r, "mean", NULL), C * 4);
  rt_write(cx, buf_at(saved, C), ref_f32(r, "invstd", NULL), C * 4);
  float *zero = calloc(C, 4);
  rt_write(cx, dg, zero, C * 4);
  CHECK_OK(batchnorm_backward(cx, buf_none(), dg, buf_none(), dy, x, gamma, saved, ws, 1,
                              OP_OVERWRITE, &k->s));
  check_buf(cx, k, "dgamma alone (no dx, dbeta)", dg, "dgamma_train", C, TOL_GRAD);
  CHECK_OK(batchnorm_backward(cx, dx, buf_none(), buf_none(), dy, x, gamma, saved, ws, 1,
                              OP_OVERWRITE, &k->s));
  check_buf(cx, k, "dx alone (gamma, beta frozen)", dx, "dx_train", T, TOL_DX_TRAIN);
  /* Everything frozen: no work and no complaint, even without a workspace. */
  CHECK_OK(batchnorm_backward(cx, buf_none(), buf_none(), buf_none(), dy, x, gamma, saved,
                              buf_none(), 1, OP_OVERWRITE, &k->s));
  /* Eval-mode dx alone needs neither x nor a workspace. */
  rt_write(cx, buf_at(saved, 0), ref_f32(r, "running_mean", NULL), C * 4);
  float *invstd = malloc(C * 4);
  const float *rv = ref_f32(r, "running_var", NULL);
  for (size_t i = 0; i < C; i++) invstd[i] = (float)(1 / sqrt((double)rv[i] + 1e-5));
  rt_write(cx, buf_at(saved, C), invstd, C * 4);
  CHECK_OK(batchnorm_backward(cx, dx, buf_none(), buf_none(), dy, buf_none(), gamma, saved,
                              buf_none(), 0, OP_OVERWRITE, &k->s));
  check_buf(cx, k, "eval dx without x or workspace", dx, "dx_eval", T, TOL_GRAD);
  /* Eval-mode inference in place (y = x), with no saved statistics kept. */
  buf beta = test_upload(cx, ref_f32(r, "beta", NULL), C),
      rm = test_upload(cx, ref_f32(r, "running_mean", NULL), C),
      rvb = test_upload(cx, rv, C);
  CHECK_OK(batchnorm_forward(cx, x, buf_none(), rm, rvb, x, gamma, beta, ws, 0, &k->s));
  check_buf(cx, k, "eval in place, no saved", x, "y_eval", T, TOL_FWD);
  free(zero), free(invstd);
  buf all[] = {x, dy, gamma, saved, dx, dg, ws, beta, rm, rvb};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rt_free(all[i].mem);
}

static void errors(cltrain_context *cx) {
  batchnorm_shape s = {2, 3, 4, 5, 1e-5f, 0.1f};
  size_t T = 2 * 3 * 4 * 5;
  buf x = test_upload(cx, NULL, T), y = test_upload(cx, NULL, T), p = test_upload(cx, NULL, 32),
      ws = test_upload(cx, NULL, batchnorm_workspace_floats(&s));
  buf g = buf_at(p, 0), b = buf_at(p, 3), rm = buf_at(p, 6), rv = buf_at(p, 9), sv = buf_at(p, 12);
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, NULL), CLTRAIN_ERR_ARG);
  batchnorm_shape bad = s;
  bad.c = 0;
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, &bad), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "positive") != NULL, "message names the sizes: %s", cltrain_last_error(cx));
  bad = s, bad.eps = 0;
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, &bad), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "eps") != NULL, "message names eps: %s", cltrain_last_error(cx));
  bad = s, bad.momentum = 1.5f;
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, &bad), CLTRAIN_ERR_ARG);
  bad = s, bad.n = 65536, bad.c = 65536;
  CHECK_STATUS(batchnorm_check_shape(cx, &bad, 1), CLTRAIN_ERR_ARG);
  /* One value per channel: PyTorch refuses training; eval mode is fine. */
  batchnorm_shape one = {1, 3, 1, 1, 1e-5f, 0.1f};
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, &one), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "more than 1 value") != NULL, "message says why: %s", cltrain_last_error(cx));
  CHECK_OK(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 0, &one));
  /* Missing buffers name themselves. */
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, buf_none(), g, b, ws, 1, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "x is NULL") != NULL, "message names x: %s", cltrain_last_error(cx));
  CHECK_STATUS(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, buf_none(), 1, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "workspace") != NULL, "message names the workspace: %s", cltrain_last_error(cx));
  CHECK_STATUS(batchnorm_forward(cx, y, buf_none(), rm, rv, x, g, b, ws, 1, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "saved") != NULL, "message names saved: %s", cltrain_last_error(cx));
  CHECK_STATUS(batchnorm_relu_forward(cx, y, sv, buf_none(), rv, x, g, b, ws, 0, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(batchnorm_backward(cx, y, g, b, buf_none(), x, g, sv, ws, 1, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "dy is NULL") != NULL, "message names dy: %s", cltrain_last_error(cx));
  CHECK_STATUS(batchnorm_backward(cx, y, g, b, x, x, g, sv, buf_none(), 1, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(batchnorm_backward(cx, y, g, b, x, x, g, sv, ws, 1, 7, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(batchnorm_relu_backward(cx, y, g, b, x, buf_none(), x, g, sv, ws, 1, OP_OVERWRITE, &s),
               CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "y is NULL") != NULL, "message names y: %s", cltrain_last_error(cx));
  CHECK_STATUS(batchnorm_forward(cx, buf_at(y, (size_t)1 << 31), sv, rm, rv, x, g, b, ws, 1, &s),
               CLTRAIN_ERR_ARG);
  CHECK(batchnorm_workspace_floats(NULL) == 0 && batchnorm_workspace_floats(&bad) > 0,
        "workspace size: 0 for no shape");
  /* The C reference refuses the same things. */
  float h[8];
  CHECK_STATUS(batchnorm_forward_ref(h, h, h, h, h, h, h, 1, &one), CLTRAIN_ERR_ARG);
  CHECK_STATUS(batchnorm_forward_ref(h, NULL, h, h, h, h, h, 1, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(batchnorm_backward_ref(h, h, h, NULL, h, h, h, 1, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  rt_free(x.mem), rt_free(y.mem), rt_free(p.mem), rt_free(ws.mem);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* With CLTRAIN_BENCH set: times train-mode forward and backward at (16,64,112,112), the largest
 * BN of a batch-16 ResNet-18 step, and prints GB/s of the tensors an op must touch (forward: x in,
 * y out; backward: dy and x in, dx out). Informative only; results are still checked above. */
static void bench(cltrain_context *cx, int relu) {
  batchnorm_shape s = {16, 64, 112, 112, 1e-5f, 0.1f};
  size_t T = (size_t)16 * 64 * 112 * 112, C = 64;
  float *h = malloc(T * 4);
  fill_uniform(h, T, 1, -2, 3);
  buf x = test_upload(cx, h, T), y = test_upload(cx, NULL, T), dy = test_upload(cx, h, T),
      dx = test_upload(cx, NULL, T), p = test_upload(cx, h, 8 * C),
      ws = test_upload(cx, NULL, batchnorm_workspace_floats(&s));
  buf g = buf_at(p, 0), b = buf_at(p, C), rm = buf_at(p, 2 * C), rv = buf_at(p, 3 * C);
  buf dg = buf_at(p, 4 * C), db = buf_at(p, 5 * C), sv = buf_at(p, 6 * C);
  float one[64];
  for (int i = 0; i < 64; i++) one[i] = 1;
  rt_write(cx, rv, one, sizeof one);
  int reps = 10;
  double t_fwd = 1e30, t_bwd = 1e30, t_eval = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    if (relu) CHECK_OK(batchnorm_relu_forward(cx, y, sv, rm, rv, x, g, b, ws, 0, &s));
    else CHECK_OK(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 0, &s));
    clFinish(cx->queue);
    if (now() - t0 < t_eval) t_eval = now() - t0;
    t0 = now();
    if (relu) CHECK_OK(batchnorm_relu_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, &s));
    else CHECK_OK(batchnorm_forward(cx, y, sv, rm, rv, x, g, b, ws, 1, &s));
    clFinish(cx->queue);
    double t1 = now();
    if (relu) CHECK_OK(batchnorm_relu_backward(cx, dx, dg, db, dy, y, x, g, sv, ws, 1, OP_OVERWRITE, &s));
    else CHECK_OK(batchnorm_backward(cx, dx, dg, db, dy, x, g, sv, ws, 1, OP_OVERWRITE, &s));
    clFinish(cx->queue);
    double t2 = now();
    if (t1 - t0 < t_fwd) t_fwd = t1 - t0;
    if (t2 - t1 < t_bwd) t_bwd = t2 - t1;
  }
  double mb = T * 4 / 1e6;
  printf("bench %s eval forward %.2f ms (%.1f GB/s of x+y)\n", relu ? "bn+relu" : "bn", t_eval * 1e3,
         2 * mb / t_eval / 1e3);
  printf("bench %s train (16,64,112,112), best of %d: forward %.2f ms (%.1f GB/s of x+y), "
         "backward %.2f ms (%.1f GB/s of dy+x+dx%s)\n", relu ? "bn+relu" : "bn", reps, t_fwd * 1e3,
         2 * mb / t_fwd / 1e3, t_bwd * 1e3, (relu ? 4 : 3) * mb / t_bwd / 1e3, relu ? "+y" : "");
  free(h);
  buf all[] = {x, y, dy, dx, p, ws};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) rt_free(all[i].mem);
}

int main(void) {
  cltrain_context *cx = test_context();
  static const char *cases[] = {"batchnorm_r18_64x112", "batchnorm_r18_64x56", "batchnorm_r18_128x28",
                                "batchnorm_r18_256x14", "batchnorm_r18_512x7", "batchnorm_odd_1x3x5x7",
                                "batchnorm_odd_3x5x1x1", "batchnorm_odd_2x3x33x35", "batchnorm_odd_1x2x1x3"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    bn_case k = open_case(cases[i]);
    printf("%s (%d,%d,%d,%d)\n", k.name, k.s.n, k.s.c, k.s.h, k.s.w);
    for (int training = 1; training >= 0; training--)
      for (int relu = 0; relu <= 1; relu++) {
        device_mode(cx, &k, training, relu);
        reference_mode(&k, training, relu);
      }
    if (i == 0 || i == 7) determinism(cx, &k, 0), determinism(cx, &k, 1);
    if (i == 5 || i == 7) frozen(cx, &k);
    ref_free(k.r);
  }
  errors(cx);
  if (getenv("CLTRAIN_BENCH")) bench(cx, 0), bench(cx, 1);
  cltrain_context_destroy(cx);
  return check_done();
}
