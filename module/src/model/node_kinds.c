/* node_kinds.c: the op table (node_kinds.h): per op, its shape rule, its tensors, and the glue
 * from a graph node to the op's forward and backward in ops/. Read the table at the end first. */
#include "model/node_kinds.h"

#include <stdio.h>

#include "ops/batchnorm.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/depthwise.h"
#include "ops/dropout.h"
#include "ops/eltwise.h"
#include "ops/hardsigmoid.h"
#include "ops/linear.h"
#include "model/model_impl.h"
#include "ops/mul.h"
#include "ops/pool.h"
#include "ops/relu.h"
#include "ops/sigmoid.h"

static buf X(const cltrain_model *m, const graph_node *nd, int k) { return model_node_output(m, nd->inputs[k]); }

/* Output size of a window sweep, as PyTorch computes it (ceil mode: the last window must start
 * inside the input or the left padding). */
static int window_out(int in, int k, int stride, int pad, int dil, int ceil_mode) {
  int span = in + 2 * pad - dil * (k - 1) - 1;
  if (span < 0 || stride < 1) return 0;
  int o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (o - 1) * stride >= in + pad) o--;
  return o;
}

/* ---- conv: y = conv(x, W) (+ b); W (k, c, r, s), then b (k) ---- */

static int conv_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]];
  (void)why, (void)cap;
  nd->c = nd->k;
  nd->h = window_out(x->h, nd->r, nd->stride_h, nd->pad_h, nd->dil_h, 0);
  nd->w = window_out(x->w, nd->s, nd->stride_w, nd->pad_w, nd->dil_w, 0);
  return 0;
}

/* Floats of W: (k, c / groups, r, s), or (c, 1, r, s) for a depthwise conv. */
static size_t conv_weights(const cltrain_model *m, const graph_node *nd) {
  int groups = nd->groups > 1 ? nd->groups : 1;
  int c_per_filter = nd->op == NODE_DEPTHWISE ? 1 : m->g.nodes[nd->inputs[0]].c / groups;
  return (size_t)nd->k * c_per_filter * nd->r * nd->s;
}

static void conv_tensors(cltrain_model *m, int i) {
  const graph_node *nd = &m->g.nodes[i];
  size_t wc = conv_weights(m, nd);
  model_add_tensor(m, i, "weight", nd->param_off, wc, 1);
  if (nd->has_bias) model_add_tensor(m, i, "bias", nd->param_off + wc, (size_t)nd->k, 1);
}

static conv2d_shape conv_shape(const cltrain_model *m, const graph_node *nd, int n) {
  const graph_node *in = &m->g.nodes[nd->inputs[0]];
  conv2d_shape s = {n, in->c, in->h, in->w, nd->k, nd->r, nd->s, nd->stride_h, nd->stride_w,
                    nd->pad_h, nd->pad_w, nd->dil_h, nd->dil_w, conv2d_winograd_mode(m->cx), nd->groups};
  return s;
}

static size_t conv_workspace(const cltrain_model *m, int i, int n) {
  conv2d_shape s = conv_shape(m, &m->g.nodes[i], n);
  return conv2d_workspace_floats(&s);
}

static cltrain_status conv_forward(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  conv2d_shape s = conv_shape(m, nd, n);
  size_t wc = conv_weights(m, nd);
  return conv2d_forward(m->cx, model_node_output(m, i), X(m, nd, 0), model_node_param(m, nd, 0),
                        nd->has_bias ? model_node_param(m, nd, wc) : buf_none(), model_workspace(m), &s);
}

static cltrain_status conv_backward(cltrain_model *m, int i, int n, const node_grads *g) {
  const graph_node *nd = &m->g.nodes[i];
  conv2d_shape s = conv_shape(m, nd, n);
  size_t wc = conv_weights(m, nd);
  buf dw = model_node_grad(m, i, 0);
  if (!buf_present(g->dx[0]) && !buf_present(dw)) return CLTRAIN_OK;
  return conv2d_backward(m->cx, g->dx[0], dw, nd->has_bias ? model_node_grad(m, i, wc) : buf_none(),
                         model_node_dy(m, i), X(m, nd, 0), model_node_param(m, nd, 0), model_workspace(m),
                         g->acc[0], &s);
}

/* ---- bn: gamma (c), beta (c), running_mean (c), running_var (c); saved (mean, invstd) in aux.
 * Runs fused with the ReLU that is its only reader where the plan says so (model.h, `fused`). */

static void bn_tensors(cltrain_model *m, int i) {
  const graph_node *nd = &m->g.nodes[i];
  size_t o = nd->param_off, c = (size_t)nd->c;
  model_add_tensor(m, i, "weight", o, c, 1);
  model_add_tensor(m, i, "bias", o + c, c, 1);
  model_add_tensor(m, i, "running_mean", o + 2 * c, c, 0);
  model_add_tensor(m, i, "running_var", o + 3 * c, c, 0);
}

static batchnorm_shape bn_shape(const graph_node *nd, int n) {
  batchnorm_shape s = {n, nd->c, nd->h, nd->w, nd->eps, nd->momentum};
  return s;
}

static size_t bn_workspace(const cltrain_model *m, int i, int n) {
  batchnorm_shape s = bn_shape(&m->g.nodes[i], n);
  return batchnorm_workspace_floats(&s);
}

static size_t bn_aux(const graph_node *nd, int n) {
  (void)n;
  return 2 * (size_t)nd->c * sizeof(float);
}

/* Whether BN node i normalises with batch statistics: in train mode, unless it is frozen and
 * frozen BN layers run in eval mode (the default). */
static int bn_training(const cltrain_model *m, int i) {
  return m->train && !(m->frozen[i] && m->frozen_bn == CLTRAIN_FROZEN_BN_EVAL);
}

static cltrain_status bn_forward(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  batchnorm_shape s = bn_shape(nd, n);
  size_t c = (size_t)nd->c;
  buf y = model_node_output(m, i), x = X(m, nd, 0), work = model_workspace(m);
  buf gamma = model_node_param(m, nd, 0), beta = model_node_param(m, nd, c);
  buf mean = model_node_param(m, nd, 2 * c), var = model_node_param(m, nd, 3 * c);
  if (m->fused[i])
    return batchnorm_relu_forward(m->cx, y, model_node_aux(m, i), mean, var, x, gamma, beta, work,
                                  bn_training(m, i), &s);
  return batchnorm_forward(m->cx, y, model_node_aux(m, i), mean, var, x, gamma, beta, work,
                           bn_training(m, i), &s);
}

static cltrain_status bn_backward(cltrain_model *m, int i, int n, const node_grads *g) {
  const graph_node *nd = &m->g.nodes[i];
  batchnorm_shape s = bn_shape(nd, n);
  size_t c = (size_t)nd->c;
  buf dw = model_node_grad(m, i, 0), db = model_node_grad(m, i, c), dy = model_node_dy(m, i);
  if (m->fused[i]) /* dy is the ReLU's (a view of this node), y its output */
    return batchnorm_relu_backward(m->cx, g->dx[0], dw, db, dy, model_node_output(m, i), X(m, nd, 0),
                                   model_node_param(m, nd, 0), model_node_aux(m, i), model_workspace(m),
                                   bn_training(m, i), g->acc[0], &s);
  return batchnorm_backward(m->cx, g->dx[0], dw, db, dy, X(m, nd, 0), model_node_param(m, nd, 0),
                            model_node_aux(m, i), model_workspace(m), bn_training(m, i), g->acc[0], &s);
}

/* ---- relu: max(x, 0) (a view of the BN before it when fused) ---- */

static cltrain_status relu_fwd(cltrain_model *m, int i, int n) {
  if (m->fused[i]) return CLTRAIN_OK;
  return relu_forward(m->cx, model_node_output(m, i), X(m, &m->g.nodes[i], 0), model_node_count(m, i, n));
}

static cltrain_status relu_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  return relu_backward(m->cx, g->dx[0], model_node_dy(m, i), model_node_output(m, i), g->acc[0],
                       model_node_count(m, i, n));
}

/* ---- dropout: y = x * mask / (1 - p) in train mode, y = x in eval mode ---- */

static dropout_args dropout_of(const cltrain_model *m, int i, int n) {
  /* Each step and node draws its own mask: the step goes in the high word of the stream
   * position, the node above the (at most 2^24) elements. */
  dropout_args a = {model_node_count(m, i, n), m->g.nodes[i].dropout, m->dropout_seed,
                    (m->dropout_step << 32) + ((uint64_t)i << 24)};
  return a;
}

static cltrain_status dropout_fwd(cltrain_model *m, int i, int n) {
  buf y = model_node_output(m, i), x = X(m, &m->g.nodes[i], 0);
  if (!m->train) return rt_copy(m->cx, y, x, model_node_count(m, i, n));
  dropout_args a = dropout_of(m, i, n);
  return dropout_forward(m->cx, y, x, &a);
}

static cltrain_status dropout_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  dropout_args a = dropout_of(m, i, n);
  return dropout_backward(m->cx, g->dx[0], model_node_dy(m, i), &a, g->acc[0]);
}

/* ---- pools: max (argmax indices in aux), average over a window, global average ---- */

static int pool_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]];
  (void)why, (void)cap;
  nd->h = window_out(x->h, nd->r, nd->stride_h, nd->pad_h, 1, nd->ceil_mode);
  nd->w = window_out(x->w, nd->s, nd->stride_w, nd->pad_w, 1, nd->ceil_mode);
  return 0;
}

static int global_pool_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]];
  (void)why, (void)cap;
  nd->r = x->h, nd->s = x->w, nd->h = nd->w = 1;
  return 0;
}

static pool2d_shape pool_shape(const cltrain_model *m, const graph_node *nd, int n) {
  const graph_node *in = &m->g.nodes[nd->inputs[0]];
  pool2d_shape s = {n, in->c, in->h, in->w, nd->r, nd->s, nd->stride_h, nd->stride_w,
                    nd->pad_h, nd->pad_w, nd->h, nd->w};
  return s;
}

static size_t maxpool_aux(const graph_node *nd, int n) {
  return (size_t)n * nd->c * nd->h * nd->w * sizeof(int);
}

static cltrain_status maxpool_fwd(cltrain_model *m, int i, int n) {
  pool2d_shape s = pool_shape(m, &m->g.nodes[i], n);
  return maxpool2d_forward(m->cx, model_node_output(m, i), model_node_aux(m, i), X(m, &m->g.nodes[i], 0), &s);
}

static cltrain_status maxpool_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  pool2d_shape s = pool_shape(m, &m->g.nodes[i], n);
  return maxpool2d_backward(m->cx, g->dx[0], model_node_dy(m, i), model_node_aux(m, i), &s, g->acc[0]);
}

static cltrain_status avgpool_fwd(cltrain_model *m, int i, int n) {
  pool2d_shape s = pool_shape(m, &m->g.nodes[i], n);
  return avgpool2d_forward(m->cx, model_node_output(m, i), X(m, &m->g.nodes[i], 0), &s);
}

static cltrain_status avgpool_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  pool2d_shape s = pool_shape(m, &m->g.nodes[i], n);
  return avgpool2d_backward(m->cx, g->dx[0], model_node_dy(m, i), &s, g->acc[0]);
}

static cltrain_status global_avgpool_fwd(cltrain_model *m, int i, int n) {
  pool2d_shape s = pool_shape(m, &m->g.nodes[i], n);
  return global_avgpool_forward(m->cx, model_node_output(m, i), X(m, &m->g.nodes[i], 0), &s);
}

static cltrain_status global_avgpool_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  pool2d_shape s = pool_shape(m, &m->g.nodes[i], n);
  return global_avgpool_backward(m->cx, g->dx[0], model_node_dy(m, i), &s, g->acc[0]);
}

/* ---- add: inputs[0] + inputs[1], same shape (the residual join) ---- */

static int add_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]], *y = &nodes[nd->inputs[1]];
  if (x->c != y->c || x->h != y->h || x->w != y->w) {
    snprintf(why, cap, "adds %dx%dx%d to %dx%dx%d", x->c, x->h, x->w, y->c, y->h, y->w);
    return -1;
  }
  return 0;
}

static cltrain_status add_fwd(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  return add_forward(m->cx, model_node_output(m, i), X(m, nd, 0), X(m, nd, 1), model_node_count(m, i, n));
}

static cltrain_status add_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  return add_backward(m->cx, g->dx[0], g->dx[1], model_node_dy(m, i), model_node_count(m, i, n), g->acc[0],
                      g->acc[1]);
}

/* ---- flatten: (c, h, w) -> (c*h*w, 1, 1), a view ---- */

static int flatten_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]];
  (void)why, (void)cap;
  nd->c = x->c * x->h * x->w, nd->h = nd->w = 1;
  return 0;
}

/* ---- linear: y = W x + b; W (out_features, in_features), then b (out_features) ---- */

static int linear_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]];
  if (nd->in_features != x->c * x->h * x->w) {
    snprintf(why, cap, "takes %d features, but its input holds %dx%dx%d", nd->in_features, x->c, x->h, x->w);
    return -1;
  }
  nd->c = nd->out_features, nd->h = nd->w = 1;
  return 0;
}

static void linear_tensors(cltrain_model *m, int i) {
  const graph_node *nd = &m->g.nodes[i];
  size_t wc = (size_t)nd->out_features * nd->in_features;
  model_add_tensor(m, i, "weight", nd->param_off, wc, 1);
  if (nd->has_bias) model_add_tensor(m, i, "bias", nd->param_off + wc, (size_t)nd->out_features, 1);
}

static cltrain_status linear_fwd(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  linear_shape s = {n, nd->in_features, nd->out_features};
  size_t wc = (size_t)s.in * s.out;
  return linear_forward(m->cx, model_node_output(m, i), X(m, nd, 0), model_node_param(m, nd, 0),
                        nd->has_bias ? model_node_param(m, nd, wc) : buf_none(), &s);
}

static cltrain_status linear_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  const graph_node *nd = &m->g.nodes[i];
  linear_shape s = {n, nd->in_features, nd->out_features};
  size_t wc = (size_t)s.in * s.out;
  return linear_backward(m->cx, g->dx[0], model_node_grad(m, i, 0),
                         nd->has_bias ? model_node_grad(m, i, wc) : buf_none(), model_node_dy(m, i),
                         X(m, nd, 0), model_node_param(m, nd, 0), g->acc[0], &s);
}

/* ---- depthwise: a conv (the same fields, shape rule and tensors) with one filter per channel ---- */

static cltrain_status depthwise_fwd(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  conv2d_shape s = conv_shape(m, nd, n);
  size_t wc = conv_weights(m, nd);
  return depthwise_forward(m->cx, model_node_output(m, i), X(m, nd, 0), model_node_param(m, nd, 0),
                           nd->has_bias ? model_node_param(m, nd, wc) : buf_none(), &s);
}

static cltrain_status depthwise_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  const graph_node *nd = &m->g.nodes[i];
  conv2d_shape s = conv_shape(m, nd, n);
  size_t wc = conv_weights(m, nd);
  return depthwise_backward(m->cx, g->dx[0], model_node_grad(m, i, 0),
                            nd->has_bias ? model_node_grad(m, i, wc) : buf_none(), model_node_dy(m, i),
                            X(m, nd, 0), model_node_param(m, nd, 0), g->acc[0], &s);
}

/* ---- hardsigmoid: clamp(alpha x + beta, 0, 1), elementwise ---- */

static cltrain_status hardsigmoid_fwd(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  return hardsigmoid_forward(m->cx, model_node_output(m, i), X(m, nd, 0), nd->alpha, nd->beta,
                             model_node_count(m, i, n));
}

static cltrain_status hardsigmoid_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  const graph_node *nd = &m->g.nodes[i];
  return hardsigmoid_backward(m->cx, g->dx[0], model_node_dy(m, i), X(m, nd, 0), nd->alpha, nd->beta, g->acc[0],
                              model_node_count(m, i, n));
}

/* ---- mul: inputs[0] * inputs[1], the second of the same shape or one value per channel ---- */

static int mul_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  const graph_node *x = &nodes[nd->inputs[0]], *y = &nodes[nd->inputs[1]];
  if (x->c != y->c || !((y->h == x->h && y->w == x->w) || (y->h == 1 && y->w == 1))) {
    snprintf(why, cap, "multiplies %dx%dx%d by %dx%dx%d (only the same shape or %dx1x1)", x->c, x->h, x->w, y->c,
             y->h, y->w, x->c);
    return -1;
  }
  return 0;
}

static mul_shape mul_shape_of(const cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i], *b = &m->g.nodes[nd->inputs[1]];
  mul_shape s = {model_node_count(m, i, n), b->h * b->w == 1 ? nd->h * nd->w : 1};
  return s;
}

static cltrain_status mul_fwd(cltrain_model *m, int i, int n) {
  const graph_node *nd = &m->g.nodes[i];
  mul_shape s = mul_shape_of(m, i, n);
  return mul_forward(m->cx, model_node_output(m, i), X(m, nd, 0), X(m, nd, 1), &s);
}

static cltrain_status mul_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  const graph_node *nd = &m->g.nodes[i];
  mul_shape s = mul_shape_of(m, i, n);
  return mul_backward(m->cx, g->dx[0], g->dx[1], model_node_dy(m, i), X(m, nd, 0), X(m, nd, 1), g->acc[0],
                      g->acc[1], &s);
}

/* ---- sigmoid: 1 / (1 + exp(-x)), elementwise; backward from its output ---- */

static cltrain_status sigmoid_fwd(cltrain_model *m, int i, int n) {
  return sigmoid_forward(m->cx, model_node_output(m, i), X(m, &m->g.nodes[i], 0), model_node_count(m, i, n));
}

static cltrain_status sigmoid_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  return sigmoid_backward(m->cx, g->dx[0], model_node_dy(m, i), model_node_output(m, i), g->acc[0],
                          model_node_count(m, i, n));
}

/* ---- concat: the inputs joined over channels, each copied into its slice of the output ---- */

static int concat_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  nd->c = 0;
  for (int k = 0; k < nd->ninputs; k++) {
    const graph_node *x = &nodes[nd->inputs[k]];
    if (x->h != nd->h || x->w != nd->w) {
      snprintf(why, cap, "joins a %dx%d input to a %dx%d one", x->h, x->w, nd->h, nd->w);
      return -1;
    }
    nd->c += x->c;
  }
  return 0;
}

/* Input k's slice of node i's output, for a batch of n. */
static concat_shape concat_slice(const cltrain_model *m, int i, int k, int n) {
  const graph_node *nd = &m->g.nodes[i];
  concat_shape s = {n, nd->c, 0, m->g.nodes[nd->inputs[k]].c, nd->h * nd->w};
  for (int j = 0; j < k; j++) s.c_off += m->g.nodes[nd->inputs[j]].c;
  return s;
}

static cltrain_status concat_fwd(cltrain_model *m, int i, int n) {
  for (int k = 0; k < m->g.nodes[i].ninputs; k++) {
    concat_shape s = concat_slice(m, i, k, n);
    TRY(concat_forward(m->cx, model_node_output(m, i), X(m, &m->g.nodes[i], k), &s));
  }
  return CLTRAIN_OK;
}

static cltrain_status concat_bwd(cltrain_model *m, int i, int n, const node_grads *g) {
  for (int k = 0; k < m->g.nodes[i].ninputs; k++) {
    concat_shape s = concat_slice(m, i, k, n);
    TRY(concat_backward(m->cx, g->dx[k], model_node_dy(m, i), g->acc[k], &s));
  }
  return CLTRAIN_OK;
}

/* ---- the table ---- */

/* One row per op; a field left out is 0 or NULL (node_kinds.h says what each field means). */
static const node_kind kinds[NODE_OP_COUNT] = {
  [NODE_INPUT] = {.name = "input"},
  [NODE_CONV] = {.name = "conv", .infer = conv_infer, .tensors = conv_tensors, .onnx_operands = 1,
                 .forward = conv_forward, .backward = conv_backward, .backward_reads = READS_INPUTS_IF_TRAINED,
                 .workspace_floats = conv_workspace, .gemm_program = "conv2d.cl"},
  [NODE_BN] = {.name = "bn", .tensors = bn_tensors, .onnx_operands = 1, .forward = bn_forward,
               .backward = bn_backward, .backward_reads = READS_INPUTS, .in_place = 1,
               .workspace_floats = bn_workspace, .aux_bytes = bn_aux, .aux_what = "the BN statistics of"},
  [NODE_RELU] = {.name = "relu", .forward = relu_fwd, .backward = relu_bwd, .backward_reads = READS_OUTPUT},
  [NODE_MAXPOOL] = {.name = "maxpool", .infer = pool_infer, .forward = maxpool_fwd, .backward = maxpool_bwd,
                    .aux_bytes = maxpool_aux, .aux_what = "the max-pool indices of"},
  [NODE_AVGPOOL] = {.name = "avgpool", .infer = pool_infer, .forward = avgpool_fwd, .backward = avgpool_bwd},
  [NODE_GLOBAL_AVGPOOL] = {.name = "global_avgpool", .infer = global_pool_infer, .forward = global_avgpool_fwd,
                           .backward = global_avgpool_bwd},
  [NODE_ADD] = {.name = "add", .functional = 1, .infer = add_infer, .forward = add_fwd, .backward = add_bwd},
  [NODE_FLATTEN] = {.name = "flatten", .is_view = 1, .functional = 1, .infer = flatten_infer},
  [NODE_LINEAR] = {.name = "linear", .infer = linear_infer, .tensors = linear_tensors, .forward = linear_fwd,
                   .backward = linear_bwd, .backward_reads = READS_INPUTS_IF_TRAINED,
                   .gemm_program = "linear.cl"},
  [NODE_IDENTITY] = {.name = "identity", .is_view = 1},
  [NODE_DROPOUT] = {.name = "dropout", .forward = dropout_fwd, .backward = dropout_bwd},
  [NODE_DEPTHWISE] = {.name = "dwconv", .infer = conv_infer, .tensors = conv_tensors, .onnx_operands = 1,
                      .forward = depthwise_fwd, .backward = depthwise_bwd,
                      .backward_reads = READS_INPUTS_IF_TRAINED},
  [NODE_HARDSIGMOID] = {.name = "hardsigmoid", .forward = hardsigmoid_fwd, .backward = hardsigmoid_bwd,
                        .backward_reads = READS_INPUTS},
  [NODE_MUL] = {.name = "mul", .functional = 1, .infer = mul_infer, .forward = mul_fwd, .backward = mul_bwd,
                .backward_reads = READS_INPUTS},
  [NODE_SIGMOID] = {.name = "sigmoid", .forward = sigmoid_fwd, .backward = sigmoid_bwd,
                    .backward_reads = READS_OUTPUT},
  [NODE_CONCAT] = {.name = "concat", .functional = 1, .infer = concat_infer, .forward = concat_fwd,
                   .backward = concat_bwd},
};

const node_kind *node_kind_of(node_op op) {
  static const node_kind unknown = {.name = "?"};
  return (int)op >= 0 && op < NODE_OP_COUNT && kinds[op].name ? &kinds[op] : &unknown;
}
