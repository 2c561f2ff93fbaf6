/* test_kernels.c: every kernel in kernels/, driven through the ops' C entry points at small
 * odd shapes (batch 1-2, channels that are no tile multiple, stride 2 with padding, ranges that
 * leave part of the last work-group idle) with every buffer at an odd offset, against the C
 * references (module/src/ops/<op>_ref.c); it fails if a kernel in kernels/ never ran. run.sh
 * runs it under `oclgrind --check-api --data-races` and fails on any report; it also runs on PoCL. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/batchnorm.h"
#include "check.h"
#include "train/cache.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/depthwise.h"
#include "ops/dropout.h"
#include "ops/eltwise.h"
#include "ops/hardsigmoid.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/mul.h"
#include "ops/pool.h"
#include "ops/relu.h"
#include "ops/sgd.h"
#include "ops/sigmoid.h"
#include "runtime/blas.h"

/* The device and C reference sum the same terms in different orders and precisions (float with
 * trees and GEMM tiles against double): at these sizes (at most a few hundred terms per sum;
 * 2112 for BN's 2x33x32 case, seen at 1.8e-7) float32 rounding stays near 1e-6 relative; 1e-5
 * leaves room without hiding a wrong index, which errs by O(1). Exact ops (ReLU, max-pool, copies, dropout masks) are compared bitwise. */
static const double TOL = 1e-5;

static cltrain_context *cx;
static unsigned next_off = 3; /* offsets 3, 5, 7, 3, ...: every buffer starts at an odd float */

/* A fresh device buffer of n floats (never reused, for oclgrind's --uninitialized mode) at an
 * odd offset, holding host (or uninitialised when host is NULL). host goes in with one write
 * from the buffer's start, zeros before it: Oclgrind 21.10's --uninitialized mode takes what a
 * write at an offset stored as still uninitialised. */
static buf up(const float *host, size_t n) {
  size_t off = next_off;
  next_off = next_off == 7 ? 3 : next_off + 2;
  if (!host) return buf_at(test_upload(cx, NULL, n + off), off);
  float *whole = calloc(n + off, sizeof(float));
  if (!whole) abort();
  memcpy(whole + off, host, n * sizeof(float));
  buf b = buf_at(test_upload(cx, whole, n + off), off);
  free(whole);
  return b;
}

static float *rnd(size_t n, uint64_t seed, float lo, float hi) {
  float *x = malloc(n * sizeof(float));
  fill_uniform(x, n, seed, lo, hi);
  return x;
}

static void same(const char *what, buf b, const float *ref, size_t n, double tol) {
  float *got = test_download(cx, b, n);
  if (tol == 0) CHECK(!memcmp(got, ref, n * sizeof(float)), "%s: bitwise equal to the reference", what);
  else CHECK_REL(what, got, ref, n, tol);
  free(got);
}

/* Under --uninitialized buffers live to the end: Oclgrind 21.10 keeps a freed buffer's marks
 * for the next one in its place, so stores beyond the old size read back as uninitialised. */
static int keep_buffers;
static void release(buf b) {
  if (!keep_buffers) rt_free(b.mem);
}

/* A convolution, or with depthwise set a depthwise one (k == c, w (C,1,R,S), no workspace). */
static void conv(const char *name, conv2d_shape s, int accumulate, int depthwise) {
  int oh = conv2d_out_h(&s), ow = conv2d_out_w(&s);
  size_t nx = (size_t)s.n * s.c * s.h * s.w,
         nw = (size_t)s.k * (depthwise ? 1 : s.c / conv2d_groups(&s)) * s.r * s.s,
         ny = (size_t)s.n * s.k * oh * ow;
  float *x = rnd(nx, 1, -1, 1), *w = rnd(nw, 2, -1, 1), *b = rnd(s.k, 3, -1, 1),
        *dy = rnd(ny, 4, -1, 1), *dx = rnd(nx, 5, -1, 1), *dw = rnd(nw, 6, -1, 1),
        *db = rnd(s.k, 7, -1, 1), *y = malloc(ny * sizeof(float));
  buf bx = up(x, nx), bw = up(w, nw), bb = up(b, s.k), by = up(NULL, ny), bdy = up(dy, ny),
      bdx = up(dx, nx), bdw = up(dw, nw), bdb = up(db, s.k),
      ws = depthwise ? buf_none() : up(NULL, conv2d_workspace_floats(&s));
  if (depthwise) {
    CHECK_OK(depthwise_forward(cx, by, bx, bw, bb, &s));
    CHECK_OK(depthwise_backward(cx, bdx, bdw, bdb, bdy, bx, bw, accumulate, &s));
    depthwise_forward_ref(y, x, w, b, &s);
    depthwise_backward_ref(dx, dw, db, dy, x, w, accumulate, &s);
  } else {
    CHECK_OK(conv2d_forward(cx, by, bx, bw, bb, ws, &s));
    CHECK_OK(conv2d_backward(cx, bdx, bdw, bdb, bdy, bx, bw, ws, accumulate, &s));
    CHECK_OK(conv2d_forward_ref(y, x, w, b, &s));
    CHECK_OK(conv2d_backward_ref(dx, dw, db, dy, x, w, accumulate, &s));
  }
  char what[96];
  snprintf(what, sizeof what, "%s y", name), same(what, by, y, ny, TOL);
  snprintf(what, sizeof what, "%s dx", name), same(what, bdx, dx, nx, TOL);
  snprintf(what, sizeof what, "%s dw", name), same(what, bdw, dw, nw, TOL);
  snprintf(what, sizeof what, "%s db", name), same(what, bdb, db, s.k, TOL);
  free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(y);
  release(bx), release(bw), release(bb), release(by), release(bdy), release(bdx), release(bdw);
  release(bdb);
  if (!depthwise) release(ws);
}

static void convs(void) {
  /* stride 2 with padding, channels no tile multiple: im2col/col2im and the GEMM routings */
  conv("conv 3x3/2 p1", (conv2d_shape){2, 3, 7, 9, 5, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0}, OP_OVERWRITE, 0);
  /* stride 1 (the data gradient as a forward convolution), accumulating dx */
  conv("conv 3x3/1 p1 acc", (conv2d_shape){1, 5, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, OP_ACCUMULATE, 0);
  /* 1x1 stride 2 (the downsample), a rectangular 7x7/2 stem-like kernel, a dilated one */
  conv("conv 1x1/2", (conv2d_shape){2, 5, 7, 6, 3, 1, 1, 2, 2, 0, 0, 1, 1, 0, 0}, OP_OVERWRITE, 0);
  conv("conv 7x5/2 p3,2", (conv2d_shape){1, 3, 11, 10, 4, 7, 5, 2, 2, 3, 2, 1, 1, 0, 0}, OP_OVERWRITE, 0);
  conv("conv 3x3 dil2", (conv2d_shape){1, 2, 8, 7, 3, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0}, OP_OVERWRITE, 0);
  /* Winograd, on every 3x3 stride-1 convolution */
  conv("winograd 3x3/1 p1", (conv2d_shape){2, 3, 7, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0}, OP_OVERWRITE, 0);
  conv("winograd 3x3/1 p0 acc", (conv2d_shape){1, 5, 6, 6, 3, 3, 3, 1, 1, 0, 0, 1, 1, 2, 0}, OP_ACCUMULATE, 0);
  /* grouped (3 groups: 2 channels in, 3 out each), Winograd asked for but not taken */
  conv("grouped 3x3/1 g3 acc", (conv2d_shape){2, 6, 7, 6, 9, 3, 3, 1, 1, 1, 1, 1, 1, 2, 3}, OP_ACCUMULATE, 0);
}

/* 576 pixels: dw in 256-pixel slices summed by conv2d_backward_sum_parts, the last one short
 * (in one kernel shape only: the slices do not depend on it). */
static void conv_slices(void) {
  conv("conv 3x3/1 p1 24x24", (conv2d_shape){1, 2, 24, 24, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, OP_OVERWRITE, 0);
}

/* Depthwise: rows of 4 outputs and 7 inputs (the last work-group of dx part idle), 5x5 with
 * rows of 11, a dilated rectangular stride, and 259 rows for dw's tree of 256 (3 items take two
 * rows). dw's groups are n * oh wide rounded up to a power of 2: 10 of 16, 5 of 8. */
static void depthwises(void) {
  conv("depthwise 3x3/2 p1", (conv2d_shape){2, 5, 9, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0}, OP_OVERWRITE, 1);
  conv("depthwise 5x5/1 p2 acc", (conv2d_shape){1, 3, 6, 11, 3, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0}, OP_ACCUMULATE, 1);
  conv("depthwise 3x3 dil2 s2x1", (conv2d_shape){1, 2, 10, 9, 2, 3, 3, 2, 1, 2, 2, 2, 2, 0, 0}, OP_OVERWRITE, 1);
  conv("depthwise 3x3 tall", (conv2d_shape){1, 2, 259, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, OP_ACCUMULATE, 1);
}

static void linears(void) {
  linear_shape s = {2, 7, 5};
  size_t nx = 14, nw = 35, ny = 10;
  float *x = rnd(nx, 11, -1, 1), *w = rnd(nw, 12, -1, 1), *b = rnd(5, 13, -1, 1),
        *dy = rnd(ny, 14, -1, 1), *dx = rnd(nx, 15, -1, 1), *dw = rnd(nw, 16, -1, 1),
        *db = rnd(5, 17, -1, 1), y[10];
  buf bx = up(x, nx), bw = up(w, nw), bb = up(b, 5), by = up(NULL, ny), bdy = up(dy, ny),
      bdx = up(dx, nx), bdw = up(dw, nw), bdb = up(db, 5);
  /* forward: x·Wᵀ (NT); dx = dy·W (NN), accumulated; dw += dyᵀ·x (TN) */
  CHECK_OK(linear_forward(cx, by, bx, bw, bb, &s));
  CHECK_OK(linear_backward(cx, bdx, bdw, bdb, bdy, bx, bw, OP_ACCUMULATE, &s));
  CHECK_OK(linear_forward_ref(y, x, w, b, &s));
  CHECK_OK(linear_backward_ref(dx, dw, db, dy, x, w, OP_ACCUMULATE, &s));
  same("linear y", by, y, ny, TOL), same("linear dx", bdx, dx, nx, TOL);
  same("linear dw", bdw, dw, nw, TOL), same("linear db", bdb, db, 5, TOL);
  free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db);
  release(bx), release(bw), release(bb), release(by), release(bdy), release(bdx), release(bdw), release(bdb);
}

/* BN on (2, 3, h, w): planes over 1024 floats take more than one piece (batchnorm.c). */
static void batchnorms(int training, int relu, int accumulate, int h, int w) {
  batchnorm_shape s = {2, 3, h, w, 1e-5f, 0.1f};
  size_t n = 2 * 3 * (size_t)h * w, C = 3;
  float *x = rnd(n, 21, -2, 3), *gamma = rnd(C, 22, 0.5f, 1.5f), *beta = rnd(C, 23, -1, 1),
        *rm = rnd(C, 24, -1, 1), *rv = rnd(C, 25, 0.5f, 2), *dy = rnd(n, 26, -1, 1),
        *dx = rnd(n, 27, -1, 1), *dg = rnd(C, 28, -1, 1), *db = rnd(C, 29, -1, 1);
  float *y = malloc(n * sizeof(float)), saved[6];
  buf bx = up(x, n), bg = up(gamma, C), bb = up(beta, C), brm = up(rm, C), brv = up(rv, C),
      bdy = up(dy, n), bdx = up(dx, n), bdg = up(dg, C), bdb = up(db, C), by = up(NULL, n),
      bsaved = up(NULL, 2 * C), ws = up(NULL, batchnorm_workspace_floats(&s));
  if (relu) {
    CHECK_OK(batchnorm_relu_forward(cx, by, bsaved, brm, brv, bx, bg, bb, ws, training, &s));
    CHECK_OK(batchnorm_relu_backward(cx, bdx, bdg, bdb, bdy, by, bx, bg, bsaved, ws, training, accumulate, &s));
    CHECK_OK(batchnorm_relu_forward_ref(y, saved, rm, rv, x, gamma, beta, training, &s));
    CHECK_OK(batchnorm_relu_backward_ref(dx, dg, db, dy, y, x, gamma, saved, training, accumulate, &s));
  } else {
    CHECK_OK(batchnorm_forward(cx, by, bsaved, brm, brv, bx, bg, bb, ws, training, &s));
    CHECK_OK(batchnorm_backward(cx, bdx, bdg, bdb, bdy, bx, bg, bsaved, ws, training, accumulate, &s));
    CHECK_OK(batchnorm_forward_ref(y, saved, rm, rv, x, gamma, beta, training, &s));
    CHECK_OK(batchnorm_backward_ref(dx, dg, db, dy, x, gamma, saved, training, accumulate, &s));
  }
  char what[96];
  const char *tag = training ? (relu ? "bn+relu train" : "bn train") : (relu ? "bn+relu eval" : "bn eval");
  snprintf(what, sizeof what, "%s y", tag), same(what, by, y, n, TOL);
  snprintf(what, sizeof what, "%s saved", tag), same(what, bsaved, saved, 2 * C, TOL);
  snprintf(what, sizeof what, "%s running_mean", tag), same(what, brm, rm, C, TOL);
  snprintf(what, sizeof what, "%s running_var", tag), same(what, brv, rv, C, TOL);
  snprintf(what, sizeof what, "%s dx", tag), same(what, bdx, dx, n, TOL);
  snprintf(what, sizeof what, "%s dgamma", tag), same(what, bdg, dg, C, TOL);
  snprintf(what, sizeof what, "%s dbeta", tag), same(what, bdb, db, C, TOL);
  free(x), free(gamma), free(beta), free(rm), free(rv), free(dy), free(dx), free(dg), free(db), free(y);
  release(bx), release(bg), release(bb), release(brm), release(brv), release(bdy), release(bdx);
  release(bdg), release(bdb), release(by), release(bsaved), release(ws);
}

/* Elementwise activations on 37 values: kind 0 ReLU (exact: compared bitwise), 1 sigmoid (its
 * exp within OpenCL's 3 ulp: ~5e-8 relative seen, under TOL), 2 torch's HardSigmoid (x over
 * [-4, 4]: both clamps and the ramp between -3 and 3). */
static void activations(int kind, int accumulate) {
  size_t n = 37;
  const char *name[] = {"relu", "sigmoid", "hardsigmoid"};
  const float a = HARDSIGMOID_TORCH_ALPHA, b = HARDSIGMOID_TORCH_BETA;
  float *x = rnd(n, 31 + 10 * kind, kind == 2 ? -4 : -1, kind == 2 ? 4 : 1), *dy = rnd(n, 32 + 10 * kind, -1, 1),
        *dx = rnd(n, 33 + 10 * kind, -1, 1), y[37];
  buf bx = up(x, n), by = up(NULL, n), bdy = up(dy, n), bdx = up(dx, n);
  if (kind == 0) {
    CHECK_OK(relu_forward(cx, by, bx, n));
    CHECK_OK(relu_backward(cx, bdx, bdy, by, accumulate, n));
    CHECK_OK(relu_forward_ref(y, x, n));
    CHECK_OK(relu_backward_ref(dx, dy, y, accumulate, n));
  } else if (kind == 1) {
    CHECK_OK(sigmoid_forward(cx, by, bx, n));
    CHECK_OK(sigmoid_backward(cx, bdx, bdy, by, accumulate, n));
    sigmoid_forward_ref(y, x, n);
    sigmoid_backward_ref(dx, dy, y, accumulate, n);
  } else {
    CHECK_OK(hardsigmoid_forward(cx, by, bx, a, b, n));
    CHECK_OK(hardsigmoid_backward(cx, bdx, bdy, bx, a, b, accumulate, n));
    hardsigmoid_forward_ref(y, x, a, b, n);
    hardsigmoid_backward_ref(dx, dy, x, a, b, accumulate, n);
  }
  char what[96];
  snprintf(what, sizeof what, "%s y", name[kind]), same(what, by, y, n, kind == 0 ? 0 : TOL);
  snprintf(what, sizeof what, "%s dx", name[kind]), same(what, bdx, dx, n, kind == 0 ? 0 : TOL);
  free(x), free(dy), free(dx);
  release(bx), release(by), release(bdy), release(bdx);
}

/* y = a * b with b of a's shape (plane 1) or one value per plane (squeeze-excitation's scale):
 * planes of 35 (one tree of 64, 29 items idle) and 300 (over a tree of 256: some items take two
 * terms). Each gradient overwritten or accumulated as its flag says. */
static void muls(int plane, int planes, int acc_a, int acc_b) {
  mul_shape s = {(size_t)plane * planes, plane};
  size_t n = s.n, nb = plane == 1 ? n : (size_t)planes;
  float *a = rnd(n, 101, -1, 1), *b = rnd(nb, 102, -1, 1), *dy = rnd(n, 103, -1, 1), *da = rnd(n, 104, -1, 1),
        *db = rnd(nb, 105, -1, 1), *y = malloc(n * sizeof(float));
  buf ba = up(a, n), bb = up(b, nb), by = up(NULL, n), bdy = up(dy, n), bda = up(da, n), bdb = up(db, nb);
  CHECK_OK(mul_forward(cx, by, ba, bb, &s));
  CHECK_OK(mul_backward(cx, bda, bdb, bdy, ba, bb, acc_a, acc_b, &s));
  mul_forward_ref(y, a, b, &s);
  mul_backward_ref(da, db, dy, a, b, acc_a, acc_b, &s);
  char what[96];
  snprintf(what, sizeof what, "mul plane %d y", plane), same(what, by, y, n, TOL);
  snprintf(what, sizeof what, "mul plane %d da", plane), same(what, bda, da, n, TOL);
  snprintf(what, sizeof what, "mul plane %d db", plane), same(what, bdb, db, nb, TOL);
  free(a), free(b), free(dy), free(da), free(db), free(y);
  release(ba), release(bb), release(by), release(bdy), release(bda), release(bdb);
}

/* kind 0 max, 1 average, 2 global average, on (2, 3, 9, 7) */
static void pools(int kind, int accumulate, pool2d_shape s) {
  size_t nx = 2 * 3 * 9 * 7, ny = kind == 2 ? 6 : (size_t)2 * 3 * s.oh * s.ow;
  float *x = rnd(nx, 41, -1, 1), *dy = rnd(ny, 42, -1, 1), *dx = rnd(nx, 43, -1, 1);
  float *y = malloc(ny * sizeof(float));
  int *idx = malloc(ny * sizeof(int));
  buf bx = up(x, nx), by = up(NULL, ny), bdy = up(dy, ny), bdx = up(dx, nx), bidx = up(NULL, ny);
  const char *name = kind == 0 ? "maxpool" : kind == 1 ? "avgpool" : "global avgpool";
  char what[96];
  if (kind == 0) {
    CHECK_OK(maxpool2d_forward(cx, by, bidx, bx, &s));
    CHECK_OK(maxpool2d_backward(cx, bdx, bdy, bidx, &s, accumulate));
    maxpool2d_forward_ref(y, idx, x, &s);
    maxpool2d_backward_ref(dx, dy, idx, &s, accumulate);
    snprintf(what, sizeof what, "%s idx", name), same(what, bidx, (const float *)idx, ny, 0);
  } else if (kind == 1) {
    CHECK_OK(avgpool2d_forward(cx, by, bx, &s));
    CHECK_OK(avgpool2d_backward(cx, bdx, bdy, &s, accumulate));
    avgpool2d_forward_ref(y, x, &s);
    avgpool2d_backward_ref(dx, dy, &s, accumulate);
  } else {
    CHECK_OK(global_avgpool_forward(cx, by, bx, &s));
    CHECK_OK(global_avgpool_backward(cx, bdx, bdy, &s, accumulate));
    global_avgpool_forward_ref(y, x, &s);
    global_avgpool_backward_ref(dx, dy, &s, accumulate);
  }
  snprintf(what, sizeof what, "%s y", name), same(what, by, y, ny, kind == 0 ? 0 : TOL);
  snprintf(what, sizeof what, "%s dx", name), same(what, bdx, dx, nx, TOL);
  free(x), free(dy), free(dx), free(y), free(idx);
  release(bx), release(by), release(bdy), release(bdx), release(bidx);
}

static void adds(int acc_a, int acc_b) {
  size_t n = 29;
  float *a = rnd(n, 51, -1, 1), *b = rnd(n, 52, -1, 1), *dy = rnd(n, 53, -1, 1),
        *da = rnd(n, 54, -1, 1), *db = rnd(n, 55, -1, 1), y[29];
  buf ba = up(a, n), bb = up(b, n), by = up(NULL, n), bdy = up(dy, n), bda = up(da, n), bdb = up(db, n);
  CHECK_OK(add_forward(cx, by, ba, bb, n));
  CHECK_OK(add_backward(cx, bda, bdb, bdy, n, acc_a, acc_b));
  add_forward_ref(y, a, b, n);
  add_backward_ref(da, db, dy, n, acc_a, acc_b);
  same("add y", by, y, n, 0), same("add da", bda, da, n, 0), same("add db", bdb, db, n, 0);
  /* one branch only */
  CHECK_OK(add_backward(cx, bda, buf_none(), bdy, n, acc_a, acc_b));
  add_backward_ref(da, NULL, dy, n, acc_a, acc_b);
  same("add da alone", bda, da, n, 0);
  free(a), free(b), free(dy), free(da), free(db);
  release(ba), release(bb), release(by), release(bdy), release(bda), release(bdb);
}

static void losses(float smoothing) {
  cross_entropy_shape s = {3, 5, smoothing};
  float *logits = rnd(15, 61, -3, 3), dl[15], loss[1];
  int labels[3] = {4, 0, 2}, argmax[3];
  float labels_bits[3];
  memcpy(labels_bits, labels, sizeof labels);
  buf bl = up(logits, 15), bloss = up(NULL, 1), bdl = up(NULL, 15), bam = up(NULL, 3),
      blab = up(labels_bits, 3);
  CHECK_OK(cross_entropy_forward(cx, bloss, bam, bl, blab, &s));
  CHECK_OK(cross_entropy_backward(cx, bdl, bl, blab, 0.75f, &s));
  CHECK_OK(cross_entropy_forward_ref(loss, argmax, logits, labels, &s));
  CHECK_OK(cross_entropy_backward_ref(dl, logits, labels, 0.75f, &s));
  same("cross-entropy loss", bloss, loss, 1, TOL), same("cross-entropy dlogits", bdl, dl, 15, TOL);
  same("cross-entropy argmax", bam, (const float *)argmax, 3, 0);
  free(logits);
  release(bl), release(bloss), release(bdl), release(bam), release(blab);
}

static void sgds(int first, int nesterov) {
  size_t n = 41;
  sgd_params h = {0.05f, 0.9f, nesterov ? 0.0f : 0.1f, 1e-3f, nesterov};
  float *p = rnd(n, 71, -1, 1), *m = rnd(n, 72, -1, 1), *g = rnd(n, 73, -1, 1);
  buf bp = up(p, n), bm = up(first ? NULL : m, n), bg = up(g, n);
  CHECK_OK(sgd_update(cx, bp, bm, bg, n, &h, first));
  CHECK_OK(sgd_update_ref(p, m, g, n, &h, first));
  same("sgd p", bp, p, n, TOL), same("sgd momentum", bm, m, n, TOL);
  free(p), free(m), free(g);
  release(bp), release(bm), release(bg);
}

static void dropouts(int accumulate) {
  dropout_args a = {53, 0.3f, 12345, 77};
  float *x = rnd(53, 81, -1, 1), *dy = rnd(53, 82, -1, 1), *dx = rnd(53, 83, -1, 1), y[53];
  buf bx = up(x, 53), by = up(NULL, 53), bdy = up(dy, 53), bdx = up(dx, 53);
  CHECK_OK(dropout_forward(cx, by, bx, &a));
  CHECK_OK(dropout_backward(cx, bdx, bdy, &a, accumulate));
  dropout_forward_ref(y, x, &a);
  dropout_backward_ref(dx, dy, &a, accumulate);
  same("dropout y", by, y, 53, 0), same("dropout dx", bdx, dx, 53, 0);
  free(x), free(dy), free(dx);
  release(bx), release(by), release(bdy), release(bdx);
}

static void utils(void) {
  float *x = rnd(19, 91, -1, 1), ones[19];
  for (int i = 0; i < 19; i++) ones[i] = 0.5f;
  buf bx = up(x, 19), by = up(NULL, 19), bf = up(NULL, 19);
  CHECK_OK(rt_copy(cx, by, bx, 19));
  CHECK_OK(rt_fill(cx, bf, 0.5f, 19));
  same("copy", by, x, 19, 0), same("fill", bf, ones, 19, 0);
  /* axpy has no op of its own (test_program uses it): launched as rt_fill launches */
  rt_call c;
  CHECK_OK(rt_kernel(cx, "util.cl", "", "axpy", &c));
  arg_buf(&c, by), arg_buf(&c, bx), arg_float(&c, 2.0f), arg_int(&c, 19);
  CHECK_OK(rt_run_items(&c, 19));
  for (int i = 0; i < 19; i++) ones[i] = x[i] + 2.0f * x[i];
  same("axpy", by, ones, 19, TOL);
  free(x);
  release(bx), release(by), release(bf);
}

/* Channel concatenation: inputs of 2 and 3 channels (odd planes) into one of 5, and back. */
static void concats(int accumulate) {
  enum { N = 2, P = 7, C = 5 };
  float *dy = rnd(N * C * P, 97, -1, 1), y[N * C * P];
  buf by = up(NULL, N * C * P), bdy = up(dy, N * C * P);
  concat_shape s = {N, C, 0, 2, P};
  for (int k = 0; k < 2; k++, s.c_off += s.c_in, s.c_in = 3) {
    size_t nx = (size_t)N * s.c_in * P;
    float *x = rnd(nx, 98 + k, -1, 1), *dx = rnd(nx, 100 + k, -1, 1);
    buf bx = up(x, nx), bdx = up(dx, nx);
    CHECK_OK(concat_forward(cx, by, bx, &s));
    CHECK_OK(concat_backward(cx, bdx, bdy, accumulate, &s));
    concat_forward_ref(y, x, &s);
    concat_backward_ref(dx, dy, accumulate, &s);
    same("concat dx", bdx, dx, nx, 0);
    free(x), free(dx);
    release(bx), release(bdx);
  }
  same("concat y", by, y, N * C * P, 0);
  free(dy);
  release(by), release(bdy);
}

/* The feature cache's row moves: 3 rows of 11 floats scattered into a 5-row cache, then
 * gathered back in another order. */
static void cache_rows(void) {
  enum { ROW = 11, ROWS = 5, N = 3 };
  float *batch = rnd(N * ROW, 95, -1, 1), *cache = rnd(ROWS * ROW, 96, -1, 1), want[N * ROW];
  int32_t store_idx[N] = {4, 0, 2}, load_idx[N] = {2, 4, 0};
  buf bbatch = up(batch, N * ROW), bout = up(NULL, N * ROW);
  cl_mem bcache, bidx;
  CHECK_OK(rt_alloc(cx, ROWS * ROW * sizeof(float), &bcache));
  CHECK_OK(rt_alloc(cx, N * sizeof(int32_t), &bidx));
  CHECK_OK(rt_write(cx, (buf){bcache, 0}, cache, ROWS * ROW * sizeof(float)));
  CHECK_OK(feature_rows_move(cx, bbatch, bcache, bidx, store_idx, ROW, N, 1));
  CHECK_OK(feature_rows_move(cx, bout, bcache, bidx, load_idx, ROW, N, 0));
  /* store put batch row b at cache row store_idx[b]; load reads cache rows 2, 4, 0 = batch 2, 0, 1 */
  int from[N] = {2, 0, 1};
  for (int b = 0; b < N; b++) memcpy(want + b * ROW, batch + from[b] * ROW, ROW * sizeof(float));
  same("feature cache scatter+gather", bout, want, N * ROW, 0);
  free(batch), free(cache);
  release(bbatch), release(bout), release((buf){bcache, 0}), release((buf){bidx, 0});
}

/* Every __kernel of the .cl files in kernels/ must have run above, so that a new kernel cannot
 * go untested under Oclgrind: the names come from the embedded sources (a line that starts
 * "__kernel", the name after "void"), the launches from the runtime's count per kernel, summed
 * over the contexts. */
static void every_kernel_ran(cltrain_context **cxs, int ncx) {
  int kernels = 0, ran = 0;
  for (int f = 0; rt_kernel_file(f); f++) {
    const char *file = rt_kernel_file(f), *src = rt_kernel_source(file);
    for (const char *p = strstr(src, "__kernel"); p; p = strstr(p + 1, "__kernel")) {
      if (p != src && p[-1] != '\n') continue; /* a mention, not a declaration */
      const char *v = strstr(p, " void ");
      char name[64];
      if (!CHECK(v && sscanf(v, " void %63[A-Za-z0-9_]", name) == 1, "kernels/%s: a __kernel without a name", file))
        break;
      unsigned long runs = 0;
      for (int i = 0; i < ncx; i++) runs += rt_kernel_runs(cxs[i], name);
      kernels++;
      ran += runs > 0;
      CHECK(runs > 0, "kernel %s of kernels/%s never ran: test_kernels.c must launch it", name, file);
    }
  }
  CHECK(kernels > 0, "kernels found in the embedded sources");
  printf("%d of the %d kernels in kernels/ launched\n", ran, kernels);
}

/* --uninitialized: the ops Oclgrind's --uninitialized mode can judge (run.sh with it), and no
 * coverage check. Left out: the convolutions and the linear layer (CLBlast's GEMM kernels store
 * tiles that mode takes for uninitialised, and the mark spreads to what reads their results)
 * and BN (it takes the float16 lane sums of initialised data for uninitialised: a one-line
 * kernel of vload16 and .lo/.hi sums over filled memory reproduces it). */
int main(int argc, char **argv) {
  int all = !(argc > 1 && !strcmp(argv[1], "--uninitialized"));
  keep_buffers = !all;
  cltrain_context *cxs[2];
  int ncx = 0;
  cx = cxs[ncx++] = test_context();
  const pool2d_shape p3 = pool2d_make(2, 3, 9, 7, 3, 2, 1);
  printf("device: %s, GEMM: %s\n", cx->info.name, blas_backend_name(cx));
  /* The ops with two launch shapes (CLTRAIN_OPT_KERNEL_SHAPE) run in both, whatever the device. */
  for (int shape = CLTRAIN_KERNEL_SHAPE_CPU; shape <= CLTRAIN_KERNEL_SHAPE_GPU; shape++) {
    CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, shape));
    printf("kernel shapes: %s\n", shape == CLTRAIN_KERNEL_SHAPE_GPU ? "gpu" : "cpu");
    if (all) convs();
    for (int t = 0; t < 2 && all; t++)
      for (int r = 0; r < 2; r++) batchnorms(t, r, t == r ? OP_OVERWRITE : OP_ACCUMULATE, 5, 7);
    if (all) batchnorms(1, 1, OP_ACCUMULATE, 33, 32); /* two pieces per plane, the second short */
    pools(0, OP_OVERWRITE, p3), pools(0, OP_ACCUMULATE, p3);
  }
  if (all) conv_slices(), linears();
  depthwises();
  for (int k = 0; k < 3; k++) activations(k, OP_ACCUMULATE), activations(k, OP_OVERWRITE);
  muls(1, 37, OP_OVERWRITE, OP_ACCUMULATE), muls(35, 6, OP_ACCUMULATE, OP_OVERWRITE);
  muls(300, 2, OP_OVERWRITE, OP_ACCUMULATE);
  /* average pooling also 2x2/2 (floor mode drops the last row and column) and 3x2 over strides 2x1 */
  pools(1, OP_ACCUMULATE, p3), pools(1, OP_OVERWRITE, pool2d_make(2, 3, 9, 7, 2, 2, 0));
  pools(1, OP_OVERWRITE, (pool2d_shape){2, 3, 9, 7, 3, 2, 2, 1, 1, 0, 5, 6});
  pools(2, OP_OVERWRITE, p3), pools(2, OP_ACCUMULATE, p3);
  adds(0, 1), adds(1, 0);
  losses(0.0f), losses(0.1f);
  sgds(1, 0), sgds(0, 0), sgds(0, 1);
  dropouts(OP_OVERWRITE), dropouts(OP_ACCUMULATE);
  utils();
  concats(OP_OVERWRITE), concats(OP_ACCUMULATE);
  cache_rows();
  /* Native GEMMs (PoCL with OpenBLAS) read the im2col layout as it is; CLBlast (Oclgrind, GPUs)
   * needs the transposed layouts, whose kernels run only then: the convolutions again on a
   * CLBlast context. */
  if (all && blas_layout_free(cx)) {
    setenv("CLTRAIN_GEMM", "clblast", 1);
    cx = cxs[ncx++] = test_context();
    unsetenv("CLTRAIN_GEMM");
    printf("GEMM: %s\n", blas_backend_name(cx));
    for (int shape = CLTRAIN_KERNEL_SHAPE_CPU; shape <= CLTRAIN_KERNEL_SHAPE_GPU; shape++) {
      CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, shape));
      convs();
    }
    conv_slices();
  }
  if (all) every_kernel_ran(cxs, ncx);
  for (int i = 0; i < ncx; i++) {
    CHECK(clFinish(cxs[i]->queue) == CL_SUCCESS, "the queue finishes");
    cltrain_context_destroy(cxs[i]);
  }
  return check_done();
}
