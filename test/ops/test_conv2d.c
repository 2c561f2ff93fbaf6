/* test_conv2d.c: conv2d forward and backward on the device against PyTorch float64 (every
 * ResNet-18 conv shape at batch 2, small odd shapes, and grouped convolutions as RegNet has
 * them, whose sums are shorter: the same tolerances hold), the C reference against PyTorch,
 * skipped and accumulated gradients, bitwise determinism, and shape errors.
 * CONV2D_BENCH=<batch> instead prints GFLOP/s of the ResNet-18 shapes (no checks; see bench()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ops/conv2d.h"
#include "ops/conv2d_native.h"
#include "reftensor.h"

/* Forward: each output is a float32 dot product of C*R*S <= 4608 terms, whose rounding error
 * grows like sqrt(terms) * 2^-24 relative (about 1e-6 at 4608 terms); measured 3e-8..2.9e-7
 * through im2col. Winograd F(2x2, 3x3) (3x3 stride 1) adds its transforms' rounding: measured
 * up to 4.97e-7 (layer3, against 2.8e-7 through im2col). 2e-6 leaves that growth room and
 * still catches any indexing error (error ~1) or a missing bias (error ~0.1). */
static const double TOL_FWD = 2e-6;
/* Gradients: dw sums N*OH*OW = 25088 terms per value (conv1 at batch 2), dx up to K*R*S = 4608;
 * plain float32 sums of that length reach a few 1e-6 relative (conv1's dw measured 2.9e-6 when
 * its 256-term slices were added one after another; with the compensated sum of the slices,
 * 2.9e-7). dx through Winograd measured up to 5.0e-7 (layer3), db below 4.1e-7. 1e-5 is the
 * bound the op must meet. */
static const double TOL_GRAD = 1e-5;
/* The C reference sums in double and rounds once: it should match float64 to float32 rounding
 * (about 6e-8 relative; measured <= 2.9e-8); 1e-6 leaves margin and fails any indexing error. */
static const double TOL_REF = 1e-6;

static double worst_fwd, worst_grad, worst_ref;
static const char *mode = ""; /* " (Winograd)" while it is forced on */
static int winograd = 0;        /* conv2d_shape.winograd of the cases: 2 while forced on */

static void check_rel64(const char *what, const char *case_name, const float *got,
                        const double *ref, size_t n, double tol, double *worst) {
  double e = rel_l2_f64(got, ref, n);
  if (e > *worst) *worst = e;
  CHECK(e <= tol, "%s%s %s: rel L2 %.2e (tolerance %.0e)", case_name, mode, what, e, tol);
  if (getenv("CLTRAIN_TEST_VERBOSE") || e > tol)
    printf("  %-16s %-3s rel L2 %.2e%s\n", case_name, what, e, mode);
}

static conv2d_shape shape_of(const ref_set *r) {
  size_t n;
  const int *v = ref_i32(r, "shape", &n);
  conv2d_shape s = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], winograd,
                    n > 13 ? v[13] : 0};
  return s;
}

static float *copy_of(const float *src, size_t n) {
  float *p = malloc(n * sizeof *p);
  memcpy(p, src, n * sizeof *p);
  return p;
}

typedef struct dev_grads {
  buf dx, dw, db;
} dev_grads;

/* Gradient buffers holding their starting values: dx0 (or garbage, to be overwritten), dw0, db0. */
static dev_grads start_grads(cltrain_context *cx, const ref_set *r, const conv2d_shape *s) {
  size_t nx = (size_t)s->n * s->c * s->h * s->w;
  dev_grads g;
  if (ref_has(r, "dx0")) {
    g.dx = test_upload(cx, ref_f32(r, "dx0", NULL), nx);
  } else {
    float *junk = malloc(nx * sizeof *junk);
    fill_uniform(junk, nx, 99, -100, 100);
    g.dx = test_upload(cx, junk, nx);
    free(junk);
  }
  size_t nw, nb;
  const float *dw0 = ref_f32(r, "dw0", &nw), *db0 = ref_f32(r, "db0", &nb);
  g.dw = test_upload(cx, dw0, nw);
  g.db = test_upload(cx, db0, nb);
  return g;
}

static void free_grads(dev_grads *g) { rt_free(g->dx.mem), rt_free(g->dw.mem), rt_free(g->db.mem); }

/* One reference case on the device: forward, backward, a second bitwise-equal backward; then,
 * when with_ref, the C reference on the same inputs. */
static void run_case(cltrain_context *cx, const char *name, int with_ref) {
  ref_set *r = ref_load(name);
  conv2d_shape s = shape_of(r);
  int acc = ref_has(r, "dx0") ? OP_ACCUMULATE : OP_OVERWRITE;
  size_t nx, nw, ny, nk = (size_t)s.k;
  const float *x = ref_f32(r, "x", &nx), *w = ref_f32(r, "w", &nw);
  const float *b = ref_has(r, "b") ? ref_f32(r, "b", NULL) : NULL;
  const float *dy = ref_f32(r, "dy", &ny);
  buf dx_ = test_upload(cx, x, nx), dw_ = test_upload(cx, w, nw), ddy = test_upload(cx, dy, ny);
  buf db_ = b ? test_upload(cx, b, nk) : buf_none();
  buf ws = test_upload(cx, NULL, conv2d_workspace_floats(&s));
  float *junk = malloc(ny * sizeof *junk);
  fill_uniform(junk, ny, 7, -100, 100); /* y must be overwritten, bias or not */
  buf dyo = test_upload(cx, junk, ny);
  free(junk);

  CHECK_OK(conv2d_forward(cx, dyo, dx_, dw_, db_, ws, &s));
  float *y = test_download(cx, dyo, ny);
  check_rel64("y", name, y, ref_f64(r, "y", NULL), ny, TOL_FWD, &worst_fwd);

  dev_grads g1 = start_grads(cx, r, &s), g2 = start_grads(cx, r, &s);
  CHECK_OK(conv2d_backward(cx, g1.dx, g1.dw, g1.db, ddy, dx_, dw_, ws, acc, &s));
  CHECK_OK(conv2d_backward(cx, g2.dx, g2.dw, g2.db, ddy, dx_, dw_, ws, acc, &s));
  float *gx = test_download(cx, g1.dx, nx), *gw = test_download(cx, g1.dw, nw),
        *gb = test_download(cx, g1.db, nk);
  check_rel64("dx", name, gx, ref_f64(r, "dx", NULL), nx, TOL_GRAD, &worst_grad);
  check_rel64("dw", name, gw, ref_f64(r, "dw", NULL), nw, TOL_GRAD, &worst_grad);
  check_rel64("db", name, gb, ref_f64(r, "db", NULL), nk, TOL_GRAD, &worst_grad);
  float *hx = test_download(cx, g2.dx, nx), *hw = test_download(cx, g2.dw, nw),
        *hb = test_download(cx, g2.db, nk);
  CHECK(!memcmp(gx, hx, nx * 4) && !memcmp(gw, hw, nw * 4) && !memcmp(gb, hb, nk * 4),
        "%s: two backward runs give bitwise equal dx, dw, db", name);

  if (with_ref) {
    float *ry = malloc(ny * sizeof *ry);
    CHECK_OK(conv2d_forward_ref(ry, x, w, b, &s));
    check_rel64("ref y", name, ry, ref_f64(r, "y", NULL), ny, TOL_REF, &worst_ref);
    float *rx = ref_has(r, "dx0") ? copy_of(ref_f32(r, "dx0", NULL), nx) : malloc(nx * 4);
    float *rw = copy_of(ref_f32(r, "dw0", NULL), nw), *rb = copy_of(ref_f32(r, "db0", NULL), nk);
    CHECK_OK(conv2d_backward_ref(rx, rw, rb, dy, x, w, acc, &s));
    check_rel64("ref dx", name, rx, ref_f64(r, "dx", NULL), nx, TOL_REF, &worst_ref);
    check_rel64("ref dw", name, rw, ref_f64(r, "dw", NULL), nw, TOL_REF, &worst_ref);
    check_rel64("ref db", name, rb, ref_f64(r, "db", NULL), nk, TOL_REF, &worst_ref);
    free(ry), free(rx), free(rw), free(rb);
  }
  free(y), free(gx), free(gw), free(gb), free(hx), free(hw), free(hb);
  free_grads(&g1), free_grads(&g2);
  rt_free(dx_.mem), rt_free(dw_.mem), rt_free(ddy.mem), rt_free(db_.mem), rt_free(ws.mem),
      rt_free(dyo.mem);
  ref_free(r);
}

/* Skipped gradients: with dw, db NULL (frozen layer) dx is still right; with dx NULL (first
 * layer) dw and db are, and w may be NULL too. */
static void run_skips(cltrain_context *cx, const char *name) {
  ref_set *r = ref_load(name);
  conv2d_shape s = shape_of(r);
  size_t nx, nw, ny, nk = (size_t)s.k;
  const float *hx = ref_f32(r, "x", &nx), *hw = ref_f32(r, "w", &nw), *hdy = ref_f32(r, "dy", &ny);
  buf x = test_upload(cx, hx, nx), w = test_upload(cx, hw, nw), dy = test_upload(cx, hdy, ny);
  buf ws = test_upload(cx, NULL, conv2d_workspace_floats(&s));
  dev_grads g = start_grads(cx, r, &s);

  CHECK_OK(conv2d_backward(cx, g.dx, buf_none(), buf_none(), dy, buf_none(), w, ws, OP_OVERWRITE, &s));
  float *gx = test_download(cx, g.dx, nx);
  check_rel64("dx (dw, db skipped)", name, gx, ref_f64(r, "dx", NULL), nx, TOL_GRAD, &worst_grad);
  float *gw = test_download(cx, g.dw, nw), *gb = test_download(cx, g.db, nk);
  CHECK(!memcmp(gw, ref_f32(r, "dw0", NULL), nw * 4) && !memcmp(gb, ref_f32(r, "db0", NULL), nk * 4),
        "%s: skipped dw, db buffers are untouched", name);
  free(gx), free(gw), free(gb);

  float *before = test_download(cx, g.dx, nx);
  CHECK_OK(conv2d_backward(cx, buf_none(), g.dw, g.db, dy, x, buf_none(), ws, OP_OVERWRITE, &s));
  gw = test_download(cx, g.dw, nw), gb = test_download(cx, g.db, nk);
  check_rel64("dw (dx skipped)", name, gw, ref_f64(r, "dw", NULL), nw, TOL_GRAD, &worst_grad);
  check_rel64("db (dx skipped)", name, gb, ref_f64(r, "db", NULL), nk, TOL_GRAD, &worst_grad);
  gx = test_download(cx, g.dx, nx);
  CHECK(!memcmp(gx, before, nx * 4), "%s: skipped dx buffer is untouched", name);
  free(gx), free(gw), free(gb), free(before);
  free_grads(&g);
  rt_free(x.mem), rt_free(w.mem), rt_free(dy.mem), rt_free(ws.mem);
  ref_free(r);
}

static void run_errors(cltrain_context *cx) {
  buf m = test_upload(cx, NULL, 64);
  /* A 5x5 kernel on a 3x3 input without padding has no output. */
  conv2d_shape s = {1, 1, 3, 3, 1, 5, 5, 1, 1, 0, 0, 1, 1, 0, 0};
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "output size") != NULL, "message names the output size: %s",
        cltrain_last_error(cx));
  CHECK_STATUS(conv2d_backward(cx, m, m, m, m, m, m, m, OP_OVERWRITE, &s), CLTRAIN_ERR_ARG);
  s.r = s.s = 3;
  s.stride_w = 0;
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "stride") != NULL, "message names the stride: %s",
        cltrain_last_error(cx));
  s.stride_w = 1;
  s.pad_h = -1;
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, &s), CLTRAIN_ERR_ARG);
  s.pad_h = 0;
  CHECK_STATUS(conv2d_forward(cx, buf_none(), m, m, buf_none(), m, &s), CLTRAIN_ERR_ARG);
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(conv2d_backward(cx, m, buf_none(), buf_none(), m, m, buf_none(), m, OP_OVERWRITE, &s),
               CLTRAIN_ERR_ARG); /* dx wanted without w */
  conv2d_shape huge = {1, 1, 50000, 50000, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0}; /* 2.5e9 floats */
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, &huge), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "int") != NULL, "message names the int range: %s",
        cltrain_last_error(cx));
  conv2d_shape g = {1, 6, 3, 3, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0, 4}; /* 4 groups of 6 channels */
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, &g), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "groups 4") != NULL, "message names the groups: %s",
        cltrain_last_error(cx));
  g.groups = 2, g.k = 5; /* divides c, not k */
  CHECK_STATUS(conv2d_backward(cx, m, m, m, m, m, m, m, OP_OVERWRITE, &g), CLTRAIN_ERR_ARG);
  g.groups = -2, g.k = 4;
  CHECK_STATUS(conv2d_forward(cx, m, m, m, buf_none(), m, &g), CLTRAIN_ERR_ARG);
  float h[1];
  CHECK_STATUS(conv2d_forward_ref(h, h, h, NULL, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(conv2d_forward_ref(h, h, h, NULL, &g), CLTRAIN_ERR_ARG);
  rt_free(m.mem);
}

/* ---- timing mode (CONV2D_BENCH=<batch>): prints GFLOP/s, asserts nothing about speed ---- */

/* Wall time, or with CONV2D_BENCH_CPU=1 the process's CPU time (every thread: PoCL's workers
 * and OpenBLAS's), which a loaded machine disturbs far less than wall time. */
static double now(void) {
  static int cpu = -1;
  if (cpu < 0) cpu = getenv("CONV2D_BENCH_CPU") && atoi(getenv("CONV2D_BENCH_CPU"));
  struct timespec t;
  clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median seconds of `reps` timed calls of one stage (0 forward, 1 data gradient, 2 weight and
 * bias gradients), after one untimed call (kernel builds, caches). With ab, the calls alternate
 * a variant off and on, so that load drift hits both alike: ab 1 Winograd (conv2d_shape.winograd),
 * ab 2 the native backend's im2col-free forward (conv2d_native_enable); t_off gets the median
 * with it off. */
static double time_stage(cltrain_context *cx, int stage, int reps, int ab, double *t_off, buf y,
                         buf x, buf w, buf b, buf dx, buf dw, buf db, buf dy, buf ws,
                         const conv2d_shape *s) {
  double on[16], off[16];
  int n_on = 0, n_off = 0;
  for (int rep = -1 - ab; rep < 2 * reps; rep++) {
    int wino = !ab || (rep & 1);
    conv2d_shape sw = *s;
    if (ab == 1) sw.winograd = wino ? 2 : 0;
    if (ab == 2) conv2d_native_enable(wino);
    double t0 = now();
    /* the im2col-free forward takes no bias: time both paths without one */
    if (stage == 0) CHECK_OK(conv2d_forward(cx, y, x, w, ab == 2 ? buf_none() : b, ws, &sw));
    if (stage == 1) CHECK_OK(conv2d_backward(cx, dx, buf_none(), buf_none(), dy, x, w, ws, OP_OVERWRITE, &sw));
    if (stage == 2) CHECK_OK(conv2d_backward(cx, buf_none(), dw, db, dy, x, w, ws, OP_OVERWRITE, &sw));
    clFinish(cx->queue);
    if (rep < 0 || (!ab && rep >= reps)) continue;
    if (wino) on[n_on++] = now() - t0;
    else off[n_off++] = now() - t0;
  }
  conv2d_native_enable(1);
  qsort(on, n_on, sizeof *on, cmp_double), qsort(off, n_off, sizeof *off, cmp_double);
  *t_off = n_off ? off[n_off / 2] : 0;
  return on[n_on / 2];
}

/* CONV2D_BENCH=<batch>: the ResNet-18 shapes (only the indices listed in $CONV2D_BENCH_SHAPES,
 * e.g. "1,4", when set), median of $CONV2D_BENCH_REPS (3) timed calls per stage; with
 * CONV2D_BENCH_AB=1, forward and data gradient alternate Winograd off and on (both printed),
 * with CONV2D_BENCH_AB=2 the im2col-free native forward off and on; CONV2D_BENCH_CPU=1 times
 * process CPU time instead of wall time. */
static void bench(cltrain_context *cx, int batch) {
  static const int shapes[][8] = {/* c h k r stride pad */
                                  {3, 224, 64, 7, 2, 3},   {64, 56, 64, 3, 1, 1},
                                  {64, 56, 128, 3, 2, 1},  {64, 56, 128, 1, 2, 0},
                                  {128, 28, 128, 3, 1, 1}, {128, 28, 256, 3, 2, 1},
                                  {128, 28, 256, 1, 2, 0}, {256, 14, 256, 3, 1, 1},
                                  {256, 14, 512, 3, 2, 1}, {256, 14, 512, 1, 2, 0},
                                  {512, 7, 512, 3, 1, 1}};
  const char *only = getenv("CONV2D_BENCH_SHAPES");
  int ab = getenv("CONV2D_BENCH_AB") ? atoi(getenv("CONV2D_BENCH_AB")) : 0;
  if (ab < 0 || ab > 2) ab = 0;
  int reps = getenv("CONV2D_BENCH_REPS") ? atoi(getenv("CONV2D_BENCH_REPS")) : 3;
  if (reps < 1 || reps > 16) reps = 3;
  printf("batch %d: GFLOP/s (ms), median of %d\n%-28s %16s %16s %16s %8s\n", batch, reps, "shape",
         "forward", "backward-data", "backward-weights", "ws MiB");
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    char idx[16], list[256];
    snprintf(idx, sizeof idx, ",%zu,", i);
    snprintf(list, sizeof list, ",%s,", only ? only : "");
    if (only && !strstr(list, idx)) continue;
    const int *v = shapes[i];
    conv2d_shape s = {batch, v[0], v[1], v[1], v[2], v[3], v[3], v[4], v[4], v[5], v[5], 1, 1, 0, 0};
    size_t nx = (size_t)batch * s.c * s.h * s.w, nw = (size_t)s.k * s.c * s.r * s.s;
    size_t ny = (size_t)batch * s.k * conv2d_out_h(&s) * conv2d_out_w(&s);
    float *hx = malloc(nx * 4), *hw = malloc(nw * 4), *hy = malloc(ny * 4);
    fill_uniform(hx, nx, 1, -1, 1), fill_uniform(hw, nw, 2, -1, 1), fill_uniform(hy, ny, 3, -1, 1);
    buf x = test_upload(cx, hx, nx), w = test_upload(cx, hw, nw), dy = test_upload(cx, hy, ny);
    buf y = test_upload(cx, NULL, ny), dx = test_upload(cx, NULL, nx), dw = test_upload(cx, NULL, nw);
    buf b = test_upload(cx, NULL, s.k), db = test_upload(cx, NULL, s.k);
    size_t nws = conv2d_workspace_floats(&s);
    if (ab == 1) { /* room for either path */
      conv2d_shape sw = s;
      sw.winograd = 2;
      if (conv2d_workspace_floats(&sw) > nws) nws = conv2d_workspace_floats(&sw);
    }
    buf ws = test_upload(cx, NULL, nws);
    double flop = 2.0 * ny * s.c * s.r * s.s, t[3], t_off[3];
    for (int stage = 0; stage < 3; stage++)
      t[stage] = time_stage(cx, stage, reps, stage < 2 ? ab : 0, &t_off[stage], y, x, w, b, dx, dw, db,
                            dy, ws, &s);
    char label[64];
    snprintf(label, sizeof label, "%dx%dx%d k%d %dx%d s%d", s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h);
    printf("%-28s %7.1f (%6.1f) %7.1f (%6.1f) %7.1f (%6.1f) %8.1f\n", label, flop / t[0] * 1e-9,
           t[0] * 1e3, flop / t[1] * 1e-9, t[1] * 1e3, flop / t[2] * 1e-9, t[2] * 1e3,
           nws * 4.0 / (1 << 20));
    if (ab)
      printf("%-28s %7.1f (%6.1f) %7.1f (%6.1f)   (%s off)\n", "", flop / t_off[0] * 1e-9,
             t_off[0] * 1e3, flop / t_off[1] * 1e-9, t_off[1] * 1e3,
             ab == 1 ? "Winograd" : "im2col-free");
    fflush(stdout);
    free(hx), free(hw), free(hy);
    buf all[] = {x, w, dy, y, dx, dw, b, db, ws};
    for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) rt_free(all[j].mem);
  }
}

int main(void) {
  cltrain_context *cx = test_context();
  const char *b = getenv("CONV2D_BENCH");
  if (b && atoi(b) > 0) {
    bench(cx, atoi(b));
  } else {
    static const char *const resnet[] = {"conv2d_stem",    "conv2d_l1",      "conv2d_l2_down",
                                         "conv2d_l2_skip", "conv2d_l2",      "conv2d_l3_down",
                                         "conv2d_l3_skip", "conv2d_l3",      "conv2d_l4_down",
                                         "conv2d_l4_skip", "conv2d_l4",      "conv2d_l1_n3",
                                         "conv2d_dw_groups"};
    /* Winograd is off by default; these run again with it on for every 3x3 stride-1 conv. */
    /* (A grouped 3x3 stride-1 conv is among them: it must keep to im2col.) */
    static const char *const wino[] = {"conv2d_nobias", "conv2d_accdx_s1", "conv2d_wino_pad2",
                                       "conv2d_l1_n3",  "conv2d_l2",       "conv2d_l3",
                                       "conv2d_l4",     "conv2d_g_s1"};
    static const char *const small[] = {"conv2d_odd",    "conv2d_dilated", "conv2d_rect",
                                        "conv2d_nobias", "conv2d_accdx",   "conv2d_accdx_s1",
                                        "conv2d_bigpad", "conv2d_wino_pad2", "conv2d_g_s1",
                                        "conv2d_g_s2",   "conv2d_g_odd"};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) run_case(cx, small[i], 1);
    for (size_t i = 0; i < sizeof resnet / sizeof resnet[0]; i++)
      /* The C reference is slow; check it on a few ResNet shapes only. */
      run_case(cx, resnet[i], !strcmp(resnet[i], "conv2d_l4") || !strcmp(resnet[i], "conv2d_l2_skip"));
    winograd = 2, mode = " (Winograd)";
    for (size_t i = 0; i < sizeof wino / sizeof wino[0]; i++) run_case(cx, wino[i], 0);
    winograd = 0, mode = "";
    run_skips(cx, "conv2d_odd");
    run_skips(cx, "conv2d_l3_down");
    run_skips(cx, "conv2d_g_s2");
    run_errors(cx);
    printf("worst rel L2 vs PyTorch float64: forward %.2e, gradients %.2e, C reference %.2e\n",
           worst_fwd, worst_grad, worst_ref);
  }
  cltrain_context_destroy(cx);
  return check_done();
}
