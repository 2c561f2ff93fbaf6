/* bench_ops.c: `cltrain bench ops`, each op's forward and backward alone at ResNet-18's shapes
 * (batch B, 224x224 input), through the internal op APIs. Each op runs once untimed (kernel
 * builds), then R times back to back between two clFinish calls; the table gives the mean. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/batchnorm.h"
#include "dev.h"
#include "ops/conv2d.h"
#include "ops/eltwise.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/pool.h"
#include "ops/relu.h"
#include "core/rng.h"
#include "runtime/runtime.h"
#include "ops/sgd.h"

typedef struct bench_bufs {
  cltrain_context *cx;
  buf x, y, dy, dx, w, dw, ws, aux, idx;
  int repeats;
} bench_bufs;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One op call as a closure over its arguments: `pass` 0 forward, 1 backward. */
typedef cltrain_status (*op_fn)(bench_bufs *b, const void *shape, int pass);

/* Mean seconds per call of fn(pass), or a negative value on failure (reported). */
static double time_op(bench_bufs *b, op_fn fn, const void *shape, int pass) {
  if (fn(b, shape, pass) != CLTRAIN_OK || clFinish(b->cx->queue) != CL_SUCCESS) return -1;
  double t0 = now_s();
  for (int r = 0; r < b->repeats; r++)
    if (fn(b, shape, pass) != CLTRAIN_OK) return -1;
  if (clFinish(b->cx->queue) != CL_SUCCESS) return -1;
  return (now_s() - t0) / b->repeats;
}

static cltrain_status conv_op(bench_bufs *b, const void *sh, int pass) {
  const conv2d_shape *s = sh;
  buf none = {NULL, 0};
  if (!pass) return conv2d_forward(b->cx, b->y, b->x, b->w, none, b->ws, s);
  /* the stem's input is the image: no dx, as in a training step */
  return conv2d_backward(b->cx, s->c == 3 ? none : b->dx, b->dw, none, b->dy, b->x, b->w, b->ws,
                         OP_OVERWRITE, s);
}

static cltrain_status bn_op(bench_bufs *b, const void *sh, int pass) {
  const batchnorm_shape *s = sh;
  buf gamma = b->w, beta = buf_at(b->w, (size_t)s->c), rm = buf_at(b->w, 2 * (size_t)s->c),
      rv = buf_at(b->w, 3 * (size_t)s->c), saved = b->aux;
  if (!pass) return batchnorm_forward(b->cx, b->y, saved, rm, rv, b->x, gamma, beta, b->ws, 1, s);
  return batchnorm_backward(b->cx, b->dx, b->dw, buf_at(b->dw, (size_t)s->c), b->dy, b->x, gamma, saved,
                            b->ws, 1, OP_OVERWRITE, s);
}

static cltrain_status relu_op(bench_bufs *b, const void *sh, int pass) {
  size_t n = *(const size_t *)sh;
  return pass ? relu_backward(b->cx, b->dx, b->dy, b->y, OP_OVERWRITE, n) : relu_forward(b->cx, b->y, b->x, n);
}

static cltrain_status add_op(bench_bufs *b, const void *sh, int pass) {
  size_t n = *(const size_t *)sh;
  return pass ? add_backward(b->cx, b->dx, b->aux, b->dy, n, OP_OVERWRITE, OP_ACCUMULATE)
              : add_forward(b->cx, b->y, b->x, b->aux, n);
}

static cltrain_status maxpool_op(bench_bufs *b, const void *sh, int pass) {
  const pool2d_shape *s = sh;
  return pass ? maxpool2d_backward(b->cx, b->dx, b->dy, b->idx, s, OP_OVERWRITE)
              : maxpool2d_forward(b->cx, b->y, b->idx, b->x, s);
}

static cltrain_status gap_op(bench_bufs *b, const void *sh, int pass) {
  const pool2d_shape *s = sh;
  return pass ? global_avgpool_backward(b->cx, b->dx, b->dy, s, OP_OVERWRITE) : global_avgpool_forward(b->cx, b->y, b->x, s);
}

static cltrain_status linear_op(bench_bufs *b, const void *sh, int pass) {
  const linear_shape *s = sh;
  buf bias = buf_at(b->w, (size_t)s->in * s->out), dbias = buf_at(b->dw, (size_t)s->in * s->out);
  return pass ? linear_backward(b->cx, b->dx, b->dw, dbias, b->dy, b->x, b->w, OP_OVERWRITE, s)
              : linear_forward(b->cx, b->y, b->x, b->w, bias, s);
}

static cltrain_status ce_op(bench_bufs *b, const void *sh, int pass) {
  const cross_entropy_shape *s = sh;
  buf labels = b->idx; /* zeros: class 0 */
  return pass ? cross_entropy_backward(b->cx, b->dx, b->x, labels, 1.0f, s)
              : cross_entropy_forward(b->cx, b->y, (buf){NULL, 0}, b->x, labels, s);
}

static cltrain_status sgd_op(bench_bufs *b, const void *sh, int pass) {
  (void)pass;
  size_t n = *(const size_t *)sh;
  sgd_params h = {0.001f, 0.9f, 0.0f, 0.0f, 0};
  return sgd_update(b->cx, b->w, b->aux, b->dw, n, &h, 0);
}

/* One table row. unit 'F': GFLOP/s from flops per pass; 'B': GB/s from bytes per pass. */
static int row(bench_bufs *b, const char *name, const char *shape_txt, op_fn fn, const void *shape,
               char unit, double fwd_amount, double bwd_amount, int has_bwd) {
  double tf = time_op(b, fn, shape, 0), tb = has_bwd ? time_op(b, fn, shape, 1) : 0;
  if (tf < 0 || tb < 0) {
    fprintf(stderr, "cltrain bench ops: %s %s failed\n  %s\n", name, shape_txt, cltrain_last_error(b->cx));
    return 0;
  }
  const char *u = unit == 'F' ? "GFLOP/s" : "GB/s";
  printf("%-14s %-22s %9.3f %9.1f %-7s", name, shape_txt, tf * 1e3, fwd_amount / tf * 1e-9, u);
  if (has_bwd) printf(" %9.3f %9.1f %s\n", tb * 1e3, bwd_amount / tb * 1e-9, u);
  else printf(" %9s\n", "-");
  fflush(stdout);
  return 1;
}

int cmd_bench_ops(int argc, char **argv) {
  const char *s_batch = "16", *s_rep = "5", *device = NULL;
  int bad = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain bench ops [--batch B (16)] [--repeats R (5)] [--device SEL]\n\n"
             "Times each op's forward and backward (train mode) at ResNet-18's shapes for a\n"
             "batch of B 224x224 images: GFLOP/s for convolutions and linear layers, GB/s\n"
             "(the bytes each pass must read and write at least) for the rest. The sgd row\n"
             "is one step over all 11.7M parameters of ResNet-18.\n");
      return 0;
    }
    if (cli_flag(argc, argv, &i, "--batch", &s_batch, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--repeats", &s_rep, &bad)) continue;
    if (cli_flag(argc, argv, &i, "--device", &device, &bad)) continue;
    if (bad) break;
    fprintf(stderr, "cltrain bench ops: unknown option '%s'\n", argv[i]);
    return 2;
  }
  if (bad) return 2;
  long long n_ll, reps_ll;
  if (!cli_int("bench ops", "--batch", s_batch, 1, 4096, &n_ll) ||
      !cli_int("bench ops", "--repeats", s_rep, 1, 1000000, &reps_ll))
    return 2;
  int n = (int)n_ll, reps = (int)reps_ll;
  if (cli_parse_only) return 0;
  cltrain_context *cx = NULL;
  cltrain_status st = cli_context(device, &cx);
  if (st != CLTRAIN_OK) return cli_fail(NULL, st);

  static const struct { const char *name; int c, k, hw, r, stride, pad; } convs[] = {
      {"conv1", 3, 64, 224, 7, 2, 3},          {"layer1 3x3", 64, 64, 56, 3, 1, 1},
      {"layer2.0 3x3/2", 64, 128, 56, 3, 2, 1}, {"layer2.0 down", 64, 128, 56, 1, 2, 0},
      {"layer2 3x3", 128, 128, 28, 3, 1, 1},   {"layer3.0 3x3/2", 128, 256, 28, 3, 2, 1},
      {"layer3.0 down", 128, 256, 28, 1, 2, 0}, {"layer3 3x3", 256, 256, 14, 3, 1, 1},
      {"layer4.0 3x3/2", 256, 512, 14, 3, 2, 1}, {"layer4.0 down", 256, 512, 14, 1, 2, 0},
      {"layer4 3x3", 512, 512, 7, 3, 1, 1}};
  enum { NCONV = sizeof convs / sizeof convs[0] };
  /* the largest activation (64x112x112 per image), weight (512x512x3x3) and workspace */
  size_t act = (size_t)n * 64 * 112 * 112, wmax = 512 * 512 * 9 + 4096, ws = 0;
  for (int i = 0; i < NCONV; i++) {
    conv2d_shape s = {n, convs[i].c, convs[i].hw, convs[i].hw, convs[i].k, convs[i].r, convs[i].r,
                      convs[i].stride, convs[i].stride, convs[i].pad, convs[i].pad, 1, 1, conv2d_winograd_mode(cx), 0};
    size_t f = conv2d_workspace_floats(&s);
    if (f > ws) ws = f;
  }
  batchnorm_shape bs0 = {n, 64, 112, 112, 1e-5f, 0.1f};
  if (batchnorm_workspace_floats(&bs0) > ws) ws = batchnorm_workspace_floats(&bs0);
  size_t sgd_n = 11689512, aux_n = act > sgd_n ? act : sgd_n;
  if (wmax < sgd_n) wmax = sgd_n;
  bench_bufs b = {cx, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, reps};
  int rc = 1;
  buf *all[] = {&b.x, &b.y, &b.dy, &b.dx, &b.w, &b.dw, &b.ws, &b.aux, &b.idx};
  size_t sizes[] = {act, act, act, act, wmax, wmax, ws, aux_n, act};
  for (int i = 0; i < 9; i++) {
    if ((st = rt_alloc(cx, sizes[i] * sizeof(float), &all[i]->mem)) != CLTRAIN_OK) goto fail;
    /* data: small values (no denormals, no overflow); idx/labels: zeros */
    if ((st = rt_fill(cx, *all[i], i == 8 ? 0.0f : 0.01f * (float)(i + 1), sizes[i])) != CLTRAIN_OK) goto fail;
  }
  {
    /* x: random signs, so ReLU and max-pooling take both branches */
    float *h = malloc(act * sizeof *h);
    if (!h) goto done;
    cltrain_rng r = rng_make(3, 0);
    for (size_t i = 0; i < act; i++) h[i] = rng_uniform(&r) - 0.5f;
    st = rt_write(cx, b.x, h, act * sizeof *h);
    free(h);
    if (st != CLTRAIN_OK) goto fail;
  }
  cltrain_device_info d;
  if ((st = cltrain_context_device(cx, &d)) != CLTRAIN_OK) goto fail;
  printf("device: %s; batch %d, mean of %d runs\n\n", d.name, n, reps);
  printf("%-14s %-22s %9s %17s %9s %9s\n", "op", "input (C x H x W)", "fwd ms", "fwd rate", "bwd ms", "bwd rate");
  char txt[64];
  for (int i = 0; i < NCONV; i++) {
    conv2d_shape s = {n, convs[i].c, convs[i].hw, convs[i].hw, convs[i].k, convs[i].r, convs[i].r,
                      convs[i].stride, convs[i].stride, convs[i].pad, convs[i].pad, 1, 1, conv2d_winograd_mode(cx), 0};
    double f = 2.0 * n * s.k * conv2d_out_h(&s) * conv2d_out_w(&s) * s.c * s.r * s.s;
    snprintf(txt, sizeof txt, "%dx%dx%d k%d %dx%d/%d", s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h);
    if (!row(&b, convs[i].name, txt, conv_op, &s, 'F', f, s.c == 3 ? f : 2 * f, 1)) goto done;
  }
  static const int bn_c[] = {64, 64, 128, 256, 512}, bn_hw[] = {112, 56, 28, 14, 7};
  for (int i = 0; i < 5; i++) {
    batchnorm_shape s = {n, bn_c[i], bn_hw[i], bn_hw[i], 1e-5f, 0.1f};
    double bytes = 4.0 * n * s.c * s.h * s.w;
    snprintf(txt, sizeof txt, "%dx%dx%d", s.c, s.h, s.w);
    if (!row(&b, "batchnorm", txt, bn_op, &s, 'B', 2 * bytes, 3 * bytes, 1)) goto done;
  }
  size_t relu_n = (size_t)n * 64 * 112 * 112, add_n = (size_t)n * 64 * 56 * 56;
  double rb = 4.0 * relu_n, ab = 4.0 * add_n;
  if (!row(&b, "relu", "64x112x112", relu_op, &relu_n, 'B', 2 * rb, 3 * rb, 1)) goto done;
  pool2d_shape mp = pool2d_make(n, 64, 112, 112, 3, 2, 1);
  double mpb = 4.0 * n * 64 * 112 * 112, mpo = 4.0 * n * 64 * 56 * 56;
  if (!row(&b, "maxpool 3x3/2", "64x112x112", maxpool_op, &mp, 'B', mpb + 2 * mpo, mpb + 2 * mpo, 1)) goto done;
  if (!row(&b, "add", "64x56x56", add_op, &add_n, 'B', 3 * ab, 3 * ab, 1)) goto done;
  pool2d_shape gp = pool2d_make(n, 512, 7, 7, 7, 1, 0);
  double gpb = 4.0 * n * 512 * 49;
  if (!row(&b, "global avgpool", "512x7x7", gap_op, &gp, 'B', gpb, gpb, 1)) goto done;
  linear_shape ls2 = {n, 512, 2}, ls1000 = {n, 512, 1000};
  if (!row(&b, "linear", "512 -> 2", linear_op, &ls2, 'F', 2.0 * n * 512 * 2, 4.0 * n * 512 * 2, 1)) goto done;
  if (!row(&b, "linear", "512 -> 1000", linear_op, &ls1000, 'F', 2.0 * n * 512 * 1000, 4.0 * n * 512 * 1000, 1))
    goto done;
  cross_entropy_shape ce = {n, 2, 0.0f};
  if (!row(&b, "cross-entropy", "2 classes", ce_op, &ce, 'B', 4.0 * n * 2, 8.0 * n * 2, 1)) goto done;
  /* reads p, m, g and writes p, m */
  if (!row(&b, "sgd (momentum)", "11,689,512 params", sgd_op, &sgd_n, 'B', 20.0 * sgd_n, 0, 0)) goto done;
  rc = 0;
  goto done;
fail:
  rc = cli_fail(cx, st);
done:
  for (int i = 0; i < 9; i++)
    rt_free(all[i]->mem);
  cltrain_context_destroy(cx);
  return rc;
}
