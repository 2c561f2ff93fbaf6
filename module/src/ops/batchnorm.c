/* batchnorm.c: batch normalisation on the device (kernels/batchnorm.cl). Statistics are reduced
 * in two passes (mean, then squared deviations) over contiguous pieces of each plane, and the
 * pieces' partial sums are added per channel in a fixed order: accurate and deterministic. */
#include "ops/batchnorm.h"

#include <limits.h>
#include <stdio.h>

/* Floats one work-item reduces or maps. Large enough that partial sums stay few (the per-channel
 * finish adds N*Q of them serially), small enough to give two cores many work-items. */
enum { BN_CHUNK = 1024 };

static int pieces(const batchnorm_shape *s) { return (s->h * s->w + BN_CHUNK - 1) / BN_CHUNK; }

/* The smallest power of 2 >= n, at most cap. */
static size_t fit(size_t n, size_t cap) {
  size_t w = 1;
  while (w < n && w < cap) w *= 2;
  return w;
}

/* Launches a kernel over pieces (Q, C, N) with an explicit local size: a plane's pieces (all of
 * them, so that no work-item idles: Q is 13 at 112x112) times channels, up to 64 work-items
 * within the kernel's and the device's limits. */
static cltrain_status run_pieces(rt_call *k, int Q, size_t C, int N) {
  size_t total = rt_local_size(k, 64), lq = (size_t)Q < total ? (size_t)Q : total;
  size_t l[3] = {lq, fit(C, total / lq), 1}, g[3] = {(size_t)Q, C, (size_t)N};
  return rt_run(k, 3, g, l);
}

/* GPU shapes: a work-item per element over (HW, C, N), in work-groups of up to 256 along HW
 * (not much wider than a plane, so 7x7 planes leave few items idle). */
static cltrain_status run_each(rt_call *k, const batchnorm_shape *s) {
  size_t hw = (size_t)s->h * s->w, l[3] = {rt_local_size(k, fit(hw, 256)), 1, 1};
  size_t g[3] = {hw, (size_t)s->c, (size_t)s->n};
  return rt_run(k, 3, g, l);
}

/* GPU shapes: the reduction tree's width for a plane, passed as -DWG: no wider than a piece
 * (or a plane smaller than one), within the device's limits. */
static size_t tree_width(cltrain_context *cx, const batchnorm_shape *s) {
  size_t hw = (size_t)s->h * s->w;
  return rt_reduce_width_for(cx, hw < BN_CHUNK ? hw : BN_CHUNK);
}

/* The program's options: `flags`, the tree width where gpu, and exact division and square
 * root where the device has them (why: kernels/batchnorm.cl's header). */
static void build_options(char *out, size_t cap, const cltrain_context *cx, const char *flags,
                          int gpu, size_t wg) {
  char tree[32] = "";
  if (gpu) snprintf(tree, sizeof tree, "-DWG=%zu ", wg);
  snprintf(out, cap, "%s%s%s", flags, tree, rt_exact_div_sqrt(cx));
}

cltrain_status batchnorm_check_shape(cltrain_context *cx, const batchnorm_shape *s, int training) {
  if (!s) return rt_fail(cx, CLTRAIN_ERR_ARG, "batchnorm: shape is NULL");
  if (s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "batchnorm: sizes must be positive, got (%d,%d,%d,%d)",
                   s->n, s->c, s->h, s->w);
  if ((double)s->n * s->c * s->h * s->w > INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "batchnorm: (%d,%d,%d,%d) has more than INT_MAX elements",
                   s->n, s->c, s->h, s->w);
  if (!(s->eps > 0))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "batchnorm: eps must be positive, got %g", s->eps);
  if (!(s->momentum >= 0 && s->momentum <= 1))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "batchnorm: momentum must be in [0,1], got %g",
                   s->momentum);
  if (s->n > 65535 || s->c > 65535)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "batchnorm: batch %d and channels %d must be at most 65535 (a GPU's launch limit)",
                   s->n, s->c);
  if (training && (long)s->n * s->h * s->w < 2)
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "batchnorm: training needs more than 1 value per channel, got (%d,%d,%d,%d)",
                   s->n, s->c, s->h, s->w);
  return CLTRAIN_OK;
}

size_t batchnorm_workspace_floats(const batchnorm_shape *s) {
  if (!s || s->n <= 0 || s->c <= 0 || s->h <= 0 || s->w <= 0) return 0;
  return 2 * (size_t)s->c * s->n * pieces(s) + 4 * (size_t)s->c;
}

/* A buffer argument that must be present and whose last element fits an int offset. */
static cltrain_status need(cltrain_context *cx, const char *op, const char *name, buf b,
                           size_t count) {
  if (!buf_present(b)) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %s is NULL", op, name);
  if (b.off + count > INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: %s offset %zu + %zu floats is beyond int range", op,
                   name, b.off, count);
  return CLTRAIN_OK;
}

/* The workspace's parts: stats (2C: eval-mode statistics when saved is absent), sums (2C: the
 * backward's per-channel sums), then the two partial-sum arrays of C*P floats each. */
typedef struct bn_work {
  buf stats, sums, part_a, part_b;
} bn_work;

static bn_work split(buf ws, const batchnorm_shape *s) {
  size_t c = (size_t)s->c, p = (size_t)s->n * pieces(s);
  bn_work w = {buf_at(ws, 0), buf_at(ws, 2 * c), buf_at(ws, 4 * c), buf_at(ws, 4 * c + c * p)};
  return w;
}

/* part (C, N, Q) = per-piece sums of x, or with `mean` present of (x - mean[c])^2: one work-item
 * per piece (CPU shapes, wg 0) or a work-group tree of wg items per piece (GPU shapes). */
static cltrain_status forward_partial(cltrain_context *cx, const char *options, buf part, buf x,
                                      buf mean, size_t wg, const batchnorm_shape *s) {
  int N = s->n, HW = s->h * s->w, Q = pieces(s), has_mean = buf_present(mean);
  rt_call k;
  if (wg) {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_forward_partial_tree", &k));
    arg_buf(&k, part), arg_buf(&k, x), arg_buf(&k, has_mean ? mean : x), arg_int(&k, has_mean);
    arg_int(&k, N), arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, BN_CHUNK);
    return rt_run_groups(&k, wg, (size_t)Q, (size_t)s->c, (size_t)N);
  }
  TRY(rt_kernel(cx, "batchnorm.cl", options,
                has_mean ? "batchnorm_forward_partial_sqdev" : "batchnorm_forward_partial_sum", &k));
  arg_buf(&k, part), arg_buf(&k, x);
  if (has_mean) arg_buf(&k, mean);
  arg_int(&k, N), arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, Q), arg_int(&k, BN_CHUNK);
  return run_pieces(&k, Q, (size_t)s->c, N);
}

static cltrain_status forward(cltrain_context *cx, const char *op, buf y, buf saved,
                              buf running_mean, buf running_var, buf x, buf gamma, buf beta,
                              buf workspace, int training, int relu, const batchnorm_shape *s) {
  TRY(batchnorm_check_shape(cx, s, training));
  size_t C = (size_t)s->c, total = C * s->n * s->h * s->w;
  TRY(need(cx, op, "y", y, total));
  TRY(need(cx, op, "x", x, total));
  TRY(need(cx, op, "gamma", gamma, C));
  TRY(need(cx, op, "beta", beta, C));
  TRY(need(cx, op, "running_mean", running_mean, C));
  TRY(need(cx, op, "running_var", running_var, C));
  if (training || buf_present(saved)) TRY(need(cx, op, "saved", saved, 2 * C));
  if (training || !buf_present(saved))
    TRY(need(cx, op, "workspace", workspace, batchnorm_workspace_floats(s)));

  int N = s->n, HW = s->h * s->w, Q = pieces(s), P = N * Q, M = N * HW, chunk = BN_CHUNK;
  int gpu = rt_gpu_shapes(cx);
  buf stats = buf_present(saved) ? saved : split(workspace, s).stats;
  size_t wg = tree_width(cx, s);
  char options[128];
  build_options(options, sizeof options, cx, "", gpu, wg);
  rt_call k;
  if (training) {
    bn_work w = split(workspace, s);
    TRY(forward_partial(cx, options, w.part_a, x, buf_none(), gpu ? wg : 0, s));
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_forward_mean", &k));
    arg_buf(&k, saved), arg_buf(&k, w.part_a);
    arg_int(&k, s->c), arg_int(&k, P), arg_int(&k, M);
    TRY(rt_run_items(&k, C));

    TRY(forward_partial(cx, options, w.part_b, x, saved, gpu ? wg : 0, s));
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_forward_finish", &k));
    arg_buf(&k, saved), arg_buf(&k, running_mean), arg_buf(&k, running_var), arg_buf(&k, w.part_b);
    arg_int(&k, s->c), arg_int(&k, P), arg_int(&k, M);
    arg_float(&k, s->eps), arg_float(&k, s->momentum);
    TRY(rt_run_items(&k, C));
  } else {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_forward_eval_stats", &k));
    arg_buf(&k, stats), arg_buf(&k, running_mean), arg_buf(&k, running_var);
    arg_int(&k, s->c), arg_float(&k, s->eps);
    TRY(rt_run_items(&k, C));
  }
  if (gpu) {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_forward_each", &k));
    arg_buf(&k, y), arg_buf(&k, x), arg_buf(&k, stats), arg_buf(&k, gamma), arg_buf(&k, beta);
    arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, relu);
    return run_each(&k, s);
  }
  TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_forward", &k));
  arg_buf(&k, y), arg_buf(&k, x), arg_buf(&k, stats), arg_buf(&k, gamma), arg_buf(&k, beta);
  arg_int(&k, N), arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, Q), arg_int(&k, chunk);
  arg_int(&k, relu);
  return run_pieces(&k, Q, C, N);
}

static cltrain_status backward(cltrain_context *cx, const char *op, buf dx, buf dgamma, buf dbeta,
                               buf dy, buf y, buf x, buf gamma, buf saved, buf workspace,
                               int training, int accumulate_dx, int relu,
                               const batchnorm_shape *s) {
  TRY(batchnorm_check_shape(cx, s, training));
  int want_dx = buf_present(dx), want_dg = buf_present(dgamma), want_db = buf_present(dbeta);
  if (!want_dx && !want_dg && !want_db) return CLTRAIN_OK; /* everything frozen */
  size_t C = (size_t)s->c, total = C * s->n * s->h * s->w;
  /* Train-mode dx needs the per-channel sums even when gamma and beta are frozen. */
  int sums = want_dg || want_db || (want_dx && training);
  if (want_dx) TRY(need(cx, op, "dx", dx, total));
  if (want_dg) TRY(need(cx, op, "dgamma", dgamma, C));
  if (want_db) TRY(need(cx, op, "dbeta", dbeta, C));
  TRY(need(cx, op, "dy", dy, total));
  if (relu) TRY(need(cx, op, "y", y, total));
  if (sums || training) TRY(need(cx, op, "x", x, total));
  if (want_dx) TRY(need(cx, op, "gamma", gamma, C));
  TRY(need(cx, op, "saved", saved, 2 * C));
  if (sums) TRY(need(cx, op, "workspace", workspace, batchnorm_workspace_floats(s)));
  if (accumulate_dx != OP_OVERWRITE && accumulate_dx != OP_ACCUMULATE)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: accumulate_dx must be OP_OVERWRITE or OP_ACCUMULATE, got %d",
                   op, accumulate_dx);

  int N = s->n, HW = s->h * s->w, Q = pieces(s), P = N * Q, M = N * HW, chunk = BN_CHUNK;
  /* Arguments a kernel does not read (absent or unused buffers) get a present stand-in. */
  buf any = saved;
  buf y_arg = relu ? y : any, x_arg = buf_present(x) ? x : any;
  bn_work w = sums ? split(workspace, s) : (bn_work){any, any, any, any};
  int gpu = rt_gpu_shapes(cx);
  size_t wg = tree_width(cx, s);
  char flags[48], options[160];
  snprintf(flags, sizeof flags, "-DTRAIN=%d -DACCUMULATE=%d ", training ? 1 : 0,
           accumulate_dx == OP_ACCUMULATE);
  build_options(options, sizeof options, cx, flags, gpu, wg);
  rt_call k;
  if (sums && gpu) {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_backward_partial_tree", &k));
    arg_buf(&k, w.part_a), arg_buf(&k, w.part_b), arg_buf(&k, dy), arg_buf(&k, y_arg);
    arg_buf(&k, x_arg), arg_buf(&k, saved);
    arg_int(&k, N), arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, chunk), arg_int(&k, relu != 0);
    TRY(rt_run_groups(&k, wg, (size_t)Q, C, (size_t)N));
  } else if (sums) {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_backward_partial", &k));
    arg_buf(&k, w.part_a), arg_buf(&k, w.part_b), arg_buf(&k, dy), arg_buf(&k, y_arg);
    arg_buf(&k, x_arg), arg_buf(&k, saved);
    arg_int(&k, N), arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, Q), arg_int(&k, chunk);
    arg_int(&k, relu != 0);
    TRY(run_pieces(&k, Q, C, N));
  }
  if (sums) {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_backward_params", &k));
    arg_buf(&k, w.sums), arg_buf(&k, want_dg ? dgamma : any), arg_buf(&k, want_db ? dbeta : any);
    arg_buf(&k, w.part_a), arg_buf(&k, w.part_b), arg_buf(&k, saved);
    arg_int(&k, s->c), arg_int(&k, P), arg_int(&k, want_dg), arg_int(&k, want_db);
    TRY(rt_run_items(&k, C));
  }
  if (!want_dx) return CLTRAIN_OK;
  if (gpu) {
    TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_backward_data_each", &k));
    arg_buf(&k, dx), arg_buf(&k, dy), arg_buf(&k, y_arg), arg_buf(&k, x_arg), arg_buf(&k, saved);
    arg_buf(&k, gamma), arg_buf(&k, w.sums);
    arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, M), arg_int(&k, relu != 0);
    return run_each(&k, s);
  }
  TRY(rt_kernel(cx, "batchnorm.cl", options, "batchnorm_backward_data", &k));
  arg_buf(&k, dx), arg_buf(&k, dy), arg_buf(&k, y_arg), arg_buf(&k, x_arg), arg_buf(&k, saved);
  arg_buf(&k, gamma), arg_buf(&k, w.sums);
  arg_int(&k, N), arg_int(&k, s->c), arg_int(&k, HW), arg_int(&k, Q), arg_int(&k, chunk);
  arg_int(&k, M), arg_int(&k, relu != 0);
  return run_pieces(&k, Q, C, N);
}

cltrain_status batchnorm_forward(cltrain_context *cx, buf y, buf saved, buf running_mean,
                                 buf running_var, buf x, buf gamma, buf beta, buf workspace,
                                 int training, const batchnorm_shape *s) {
  return forward(cx, "batchnorm_forward", y, saved, running_mean, running_var, x, gamma, beta,
                 workspace, training, 0, s);
}

cltrain_status batchnorm_relu_forward(cltrain_context *cx, buf y, buf saved, buf running_mean,
                                      buf running_var, buf x, buf gamma, buf beta, buf workspace,
                                      int training, const batchnorm_shape *s) {
  return forward(cx, "batchnorm_relu_forward", y, saved, running_mean, running_var, x, gamma,
                 beta, workspace, training, 1, s);
}

cltrain_status batchnorm_backward(cltrain_context *cx, buf dx, buf dgamma, buf dbeta, buf dy,
                                  buf x, buf gamma, buf saved, buf workspace, int training,
                                  int accumulate_dx, const batchnorm_shape *s) {
  return backward(cx, "batchnorm_backward", dx, dgamma, dbeta, dy, buf_none(), x, gamma, saved,
                  workspace, training, accumulate_dx, 0, s);
}

cltrain_status batchnorm_relu_backward(cltrain_context *cx, buf dx, buf dgamma, buf dbeta, buf dy,
                                       buf y, buf x, buf gamma, buf saved, buf workspace,
                                       int training, int accumulate_dx, const batchnorm_shape *s) {
  return backward(cx, "batchnorm_relu_backward", dx, dgamma, dbeta, dy, y, x, gamma, saved,
                  workspace, training, accumulate_dx, 1, s);
}
