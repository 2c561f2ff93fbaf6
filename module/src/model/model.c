/* model.c: the public cltrain_model: loading through the importer, device buffers, and the
 * forward and backward passes over the graph's nodes (in topological order and in reverse). */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/loss.h"
#include "model/model_impl.h"
#include "model/node_kinds.h"
#include "ops/sgd.h"

int model_is_view(const cltrain_model *m, int i) {
  node_op op = m->g.nodes[i].op;
  return graph_is_reshape(op) || (op == NODE_RELU && m->fused[i]);
}

/* The node whose buffers node i uses: itself, or the producer a chain of views leads to. */
static int root_of(const cltrain_model *m, int i) {
  while (model_is_view(m, i)) i = m->g.nodes[i].inputs[0];
  return i;
}

static size_t node_size(const graph_node *nd) { return (size_t)nd->c * nd->h * nd->w; }

static buf P(const cltrain_model *m, size_t off) { return (buf){m->params, off}; }
static buf G(const cltrain_model *m, size_t off) { return (buf){m->grads, off}; }
static buf Y(const cltrain_model *m, int i) { return (buf){m->pool[m->ybuf[i]], 0}; }
static buf DY(const cltrain_model *m, int i) { return (buf){m->pool[m->dybuf[i]], 0}; }

/* ---- what the op table's functions use (node_kinds.h) ---- */

buf model_node_param(const cltrain_model *m, const graph_node *nd, size_t k) { return P(m, nd->param_off + k); }
buf model_node_grad(const cltrain_model *m, int i, size_t k) {
  return m->frozen[i] ? buf_none() : G(m, m->g.nodes[i].param_off + k); /* frozen: no gradient */
}
buf model_node_dy(const cltrain_model *m, int i) { return DY(m, i); }
buf model_node_aux(const cltrain_model *m, int i) { return (buf){m->aux[i], 0}; }
buf model_workspace(const cltrain_model *m) { return (buf){m->work, 0}; }
size_t model_node_count(const cltrain_model *m, int i, int n) { return (size_t)n * node_size(&m->g.nodes[i]); }

/* ---- what the rest of the library reads (model.h) ---- */

cltrain_context *model_context(const cltrain_model *m) { return m->cx; }
const graph_desc *model_graph(const cltrain_model *m) { return &m->g; }
int model_tensor_count(const cltrain_model *m) { return m->ntensors; }
const model_tensor *model_tensor_at(const cltrain_model *m, int t) { return &m->tensors[t]; }
buf model_params(const cltrain_model *m) { return P(m, 0); }
buf model_grads(const cltrain_model *m) { return G(m, 0); }
buf model_momentum(const cltrain_model *m) { return (buf){m->momentum, 0}; }
const unsigned char *model_momentum_flags(const cltrain_model *m) { return m->has_momentum; }
void model_set_momentum_flags(cltrain_model *m, const unsigned char *flags) {
  memcpy(m->has_momentum, flags, (size_t)m->ntensors);
}
void model_set_dropout_seed(cltrain_model *m, uint64_t seed) { m->dropout_seed = seed; }
uint64_t model_dropout_step(const cltrain_model *m) { return m->dropout_step; }
void model_set_dropout_step(cltrain_model *m, uint64_t step) { m->dropout_step = step; }
int model_is_frozen(const cltrain_model *m, int node) { return m->frozen[node]; }
int model_is_fused(const cltrain_model *m, int node) { return m->fused[node]; }
int model_training(const cltrain_model *m) { return m->train; }
size_t model_activation_bytes(const cltrain_model *m) { return m->act_bytes; }
void model_set_grad_hook(cltrain_model *m, cltrain_status (*hook)(void *user, int node), void *user) {
  m->grad_hook = hook, m->grad_hook_user = user;
}
const char *model_source_path(const cltrain_model *m) { return m->source_path; }
cltrain_status model_set_source_path(cltrain_model *m, const char *path) {
  char *copy = strdup(path);
  if (!copy) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  free(m->source_path);
  m->source_path = copy;
  return CLTRAIN_OK;
}
const char *model_old_head(const cltrain_model *m) { return m->old_head_onnx; }
double model_export_error(const cltrain_model *m) { return m->last_export_error; }
void model_set_export_error(cltrain_model *m, double err) { m->last_export_error = err; }

/* ---- tensors ---- */

void model_add_tensor(cltrain_model *m, int node, const char *suffix, size_t off, size_t count, int learnable) {
  model_tensor *t = &m->tensors[m->ntensors++];
  snprintf(t->name, sizeof t->name, "%s.%s", m->g.nodes[node].name, suffix);
  t->node = node;
  t->off = off;
  t->count = count;
  t->learnable = learnable;
}

static cltrain_status build_tensors(cltrain_model *m) {
  m->tensors = calloc((size_t)m->g.n * 4 + 1, sizeof *m->tensors); /* BN's 4 are the most a node has */
  if (!m->tensors) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int i = 0; i < m->g.n; i++) {
    const node_kind *k = node_kind_of(m->g.nodes[i].op);
    if (k->tensors) k->tensors(m, i);
  }
  return CLTRAIN_OK;
}

const model_tensor *model_find_tensor(const cltrain_model *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
  return NULL;
}

/* ---- lifetime ---- */

static void free_batch_buffers(cltrain_model *m) {
  for (int i = 0; i < m->npool; i++) rt_free(m->pool[i]);
  rt_free(m->arena);
  m->arena = NULL;
  if (m->aux)
    for (int i = 0; i < m->g.n; i++) rt_free(m->aux[i]), m->aux[i] = NULL;
  m->npool = 0;
  rt_free(m->work);
  rt_free(m->labels);
  rt_free(m->loss);
  rt_free(m->argmax);
  m->work = m->labels = m->loss = m->argmax = NULL;
  m->cap = 0;
  m->act_bytes = 0;
}

void cltrain_model_destroy(cltrain_model *m) {
  if (!m) return;
  if (m->cx) clFinish(m->cx->queue);
  free_batch_buffers(m);
  free(m->pool), free(m->ybuf), free(m->dybuf), free(m->aux), free(m->fused);
  rt_free(m->params);
  rt_free(m->grads);
  rt_free(m->momentum);
  free(m->tensors);
  free(m->frozen);
  free(m->has_momentum);
  free(m->grad_live);
  free(m->source_path);
  graph_free(&m->g);
  free(m);
}

cltrain_status cltrain_model_load_onnx(cltrain_context *cx, const char *path, cltrain_model **out) {
  if (!out) return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_model_load_onnx: out is NULL");
  *out = NULL;
  if (!cx || !path) return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_model_load_onnx: NULL context or path");
  cltrain_model *m = calloc(1, sizeof *m);
  if (!m) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  m->cx = cx;
  cltrain_status st = graph_import_onnx(cx, path, &m->g);
  if (st == CLTRAIN_OK) {
    m->frozen = calloc((size_t)m->g.n, 1);
    if (!m->frozen) st = rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  if (st == CLTRAIN_OK) st = model_set_source_path(m, path);
  if (st == CLTRAIN_OK) st = model_rebuild(m);
  if (st != CLTRAIN_OK) {
    cltrain_model_destroy(m);
    return st;
  }
  *out = m;
  return CLTRAIN_OK;
}

/* The per-node arrays a memory plan fills in (model_drop_batch frees them). */
static cltrain_status alloc_plan_arrays(cltrain_model *m) {
  size_t nn = (size_t)m->g.n;
  m->pool = calloc(4 * nn, sizeof *m->pool);
  m->ybuf = calloc(nn, sizeof(int));
  m->dybuf = calloc(nn, sizeof(int));
  m->aux = calloc(nn, sizeof *m->aux);
  m->fused = calloc(nn, 1);
  if (!m->pool || !m->ybuf || !m->dybuf || !m->aux || !m->fused)
    return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  return CLTRAIN_OK;
}

void model_drop_batch(cltrain_model *m) {
  if (m->cx->queue) clFinish(m->cx->queue);
  free_batch_buffers(m);
  free(m->pool), free(m->ybuf), free(m->dybuf), free(m->aux), free(m->fused);
  m->pool = NULL, m->ybuf = m->dybuf = NULL, m->aux = NULL, m->fused = NULL;
}

cltrain_status model_rebuild(cltrain_model *m) {
  cltrain_context *cx = m->cx;
  model_drop_batch(m);
  free(m->tensors);
  free(m->has_momentum);
  rt_free(m->params);
  rt_free(m->grads);
  rt_free(m->momentum);
  m->tensors = NULL, m->has_momentum = NULL;
  m->params = m->grads = m->momentum = NULL;
  m->ntensors = 0;
  TRY(build_tensors(m));
  TRY(alloc_plan_arrays(m));
  free(m->grad_live);
  m->has_momentum = calloc((size_t)m->ntensors + 1, 1);
  m->grad_live = calloc((size_t)m->g.n + 1, 1); /* the fill below zeroes every gradient */
  if (!m->has_momentum || !m->grad_live) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  size_t bytes = m->g.nparams * sizeof(float);
  TRY(rt_alloc_named(cx, "the parameter block", bytes, &m->params));
  TRY(rt_alloc_named(cx, "the gradient block", bytes, &m->grads));
  TRY(rt_alloc_named(cx, "the momentum block", bytes, &m->momentum));
  TRY(rt_write(cx, P(m, 0), m->g.params, bytes));
  TRY(rt_fill(cx, G(m, 0), 0.0f, m->g.nparams));
  return rt_fill(cx, (buf){m->momentum, 0}, 0.0f, m->g.nparams);
}

cltrain_status cltrain_model_get_info(const cltrain_model *m, cltrain_model_info *out) {
  if (!m || !out) return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "cltrain_model_get_info: NULL argument");
  memset(out, 0, sizeof *out);
  out->num_nodes = m->g.n;
  for (int i = 0; i < m->g.n; i++) out->num_param_layers += model_has_params(&m->g.nodes[i]);
  out->num_stages = m->g.nstages;
  out->num_classes = m->g.nodes[m->g.output].c;
  out->in_c = m->g.in_c, out->in_h = m->g.in_h, out->in_w = m->g.in_w;
  out->num_params = graph_trainable_count(&m->g);
  out->device_bytes = 3 * m->g.nparams * sizeof(float) + m->act_bytes;
  return CLTRAIN_OK;
}

cltrain_status cltrain_model_set_input_size(cltrain_model *m, int height, int width) {
  if (!m) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_model_set_input_size: model is NULL");
  if (height == m->g.in_h && width == m->g.in_w) return CLTRAIN_OK;
  model_drop_batch(m); /* planned for the old shapes */
  cltrain_status st = graph_reshape(m->cx, &m->g, height, width);
  TRY(alloc_plan_arrays(m));
  return st;
}

cltrain_status cltrain_model_set_train(cltrain_model *m, int train) {
  if (!m) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_model_set_train: model is NULL");
  m->train = train != 0;
  return CLTRAIN_OK;
}

/* ---- buffers for a batch ---- */

static cltrain_status alloc_counted(cltrain_model *m, size_t bytes, cl_mem *out) {
  m->act_bytes += bytes;
  return rt_alloc(m->cx, bytes, out);
}

/* Marks each BN whose output only a ReLU reads, and that ReLU (see model.h). */
static void find_fusions(cltrain_model *m) {
  int nn = m->g.n, *readers = calloc((size_t)nn, sizeof(int));
  memset(m->fused, 0, (size_t)nn);
  if (!readers || m->no_fusion) { /* no fusion: the unfused path is always correct */
    free(readers);
    return;
  }
  for (int j = 0; j < nn; j++)
    for (int k = 0; k < m->g.nodes[j].ninputs; k++) readers[m->g.nodes[j].inputs[k]]++;
  for (int j = 0; j < nn; j++) {
    const graph_node *nd = &m->g.nodes[j];
    if (nd->op != NODE_RELU) continue;
    int i = nd->inputs[0];
    if (m->g.nodes[i].op == NODE_BN && readers[i] == 1 && i != m->g.output) m->fused[i] = m->fused[j] = 1;
  }
  free(readers);
}

void model_set_fusion(cltrain_model *m, int on) {
  if (m->no_fusion == !on) return;
  if (m->cx->queue) clFinish(m->cx->queue);
  free_batch_buffers(m); /* planned with the other setting */
  m->no_fusion = !on;
}

static void prebuild_programs(cltrain_model *m, int n, int backward);

cltrain_status model_reserve(cltrain_model *m, int n, int backward) {
  if (n <= m->cap && (m->planned_backward || !backward)) return CLTRAIN_OK;
  if (n < m->cap) n = m->cap;
  free_batch_buffers(m);
  find_fusions(m);
  /* Every buffer is sized first and checked by model_plan before the first is made: a batch
   * too large for the device fails with its sizes named, not in some clCreateBuffer. */
  batch_buf *extra = malloc(sizeof *extra * ((size_t)m->g.n + 4));
  if (!extra) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory planning buffers");
  int ne = 0;
  size_t work = 1;
  for (int i = 0; i < m->g.n; i++) {
    const node_kind *k = node_kind_of(m->g.nodes[i].op);
    if (k->aux_bytes) extra[ne++] = (batch_buf){k->aux_what, i, k->aux_bytes(&m->g.nodes[i], n), &m->aux[i]};
    size_t wf = k->workspace_floats ? k->workspace_floats(m, i, n) : 0;
    if (wf > work) work = wf;
  }
  extra[ne++] = (batch_buf){"the workspace", -1, work * sizeof(float), &m->work};
  extra[ne++] = (batch_buf){"the labels", -1, (size_t)n * sizeof(int), &m->labels};
  extra[ne++] = (batch_buf){"the predictions", -1, (size_t)n * sizeof(int), &m->argmax};
  extra[ne++] = (batch_buf){"the loss", -1, sizeof(float), &m->loss};
  cltrain_status st = model_plan(m, n, backward, extra, ne);
  for (int k = 0; k < ne && st == CLTRAIN_OK; k++) st = alloc_counted(m, extra[k].bytes, extra[k].dst);
  free(extra);
  TRY(st);
  m->cap = n;
  m->planned_backward = backward;
  prebuild_programs(m, n, backward);
  return CLTRAIN_OK;
}

/* ---- forward ---- */

static cltrain_status forward_node(cltrain_model *m, int i, int n) {
  const node_kind *k = node_kind_of(m->g.nodes[i].op);
  if (m->g.nodes[i].op == NODE_INPUT || k->is_view) return CLTRAIN_OK;
  if (!k->forward) return rt_fail(m->cx, CLTRAIN_ERR_INTERNAL, "node %s: no forward for op %s", m->g.nodes[i].name, k->name);
  return k->forward(m, i, n);
}

/* ---- profiling (CLTRAIN_OPT_PROFILE, see model.h) ---- */

_Static_assert((int)MODEL_PROFILE_OPS <= (int)RT_PROFILE_OPS, "the context's profile slots are too few");

static double prof_now(cltrain_context *cx) {
  clFinish(cx->queue);
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void prof_add(int op, int pass, double t0, cltrain_context *cx) {
  cx->profile_seconds[op][pass] += prof_now(cx) - t0;
  cx->profile_calls[op][pass]++;
}

void model_profile_totals(const cltrain_context *cx, double seconds[MODEL_PROFILE_OPS][2],
                          long calls[MODEL_PROFILE_OPS][2]) {
  memcpy(seconds, cx->profile_seconds, sizeof(double) * MODEL_PROFILE_OPS * 2);
  memcpy(calls, cx->profile_calls, sizeof(long) * MODEL_PROFILE_OPS * 2);
}

void model_profile_reset(cltrain_context *cx) {
  memset(cx->profile_seconds, 0, sizeof cx->profile_seconds);
  memset(cx->profile_calls, 0, sizeof cx->profile_calls);
}

cltrain_status model_forward_device(cltrain_model *m, int n) { return model_forward_range(m, 0, m->g.n, n); }

cltrain_status model_forward_range(cltrain_model *m, int first, int last, int n) {
  int prof = m->cx->profile;
  for (int i = first; i < last; i++) {
    double t0 = prof ? prof_now(m->cx) : 0;
    TRY(forward_node(m, i, n));
    if (prof) prof_add(m->g.nodes[i].op, 0, t0, m->cx);
  }
  return CLTRAIN_OK;
}

/* ---- backward ---- */

/* Gradient into node j's output: overwrite it the first time, accumulate after (fan-out). No
 * gradient flows into the input image. */
static buf grad_target(cltrain_model *m, int j, unsigned char *written, int *acc) {
  int r = root_of(m, j);
  if (r < m->lowest_trainable) return buf_none(); /* nothing below needs a gradient */
  *acc = written[r] ? OP_ACCUMULATE : OP_OVERWRITE;
  written[r] = 1;
  return DY(m, r);
}

static cltrain_status backward_node(cltrain_model *m, int i, int n, unsigned char *written) {
  const graph_node *nd = &m->g.nodes[i];
  if (model_is_view(m, i) || nd->op == NODE_INPUT || !written[root_of(m, i)]) return CLTRAIN_OK;
  const node_kind *k = node_kind_of(nd->op);
  node_grads g;
  memset(&g, 0, sizeof g); /* every dx absent (mem NULL), every acc OP_OVERWRITE */
  for (int j = 0; j < nd->ninputs; j++) g.dx[j] = grad_target(m, nd->inputs[j], written, &g.acc[j]);
  if (!k->backward) return rt_fail(m->cx, CLTRAIN_ERR_INTERNAL, "node %s: no backward for op %s", nd->name, k->name);
  return k->backward(m, i, n, &g);
}

cltrain_status model_backward_device(cltrain_model *m, int n) {
  unsigned char *written = calloc((size_t)m->g.n, 1);
  if (!written) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  written[root_of(m, m->g.output)] = 1; /* the caller put dlogits there */
  /* Backward stops at the lowest trainable layer: no gradient is computed below it. */
  m->lowest_trainable = model_lowest_trainable(m);
  cltrain_status st = CLTRAIN_OK;
  int prof = m->cx->profile;
  for (int i = m->g.n - 1; i > 0 && st == CLTRAIN_OK; i--) {
    double t0 = prof ? prof_now(m->cx) : 0;
    st = backward_node(m, i, n, written);
    if (prof) prof_add(m->g.nodes[i].op, 1, t0, m->cx);
    if (st == CLTRAIN_OK && m->grad_hook) st = m->grad_hook(m->grad_hook_user, i);
  }
  if (st == CLTRAIN_OK && m->grad_hook) st = m->grad_hook(m->grad_hook_user, 0);
  free(written);
  return st;
}

/* Whether node i's op calls the GEMM (CLBlast), which the walk below must not reach. */
static int walk_skips(const cltrain_model *m, int i) { return node_kind_of(m->g.nodes[i].op)->gemm_program != NULL; }

/* Starts compiling, on other cores, the OpenCL programs that a step at batch n will use
 * (runtime.h, rt_record_begin): the executor walks the pass with nothing enqueued, so every op
 * asks for the programs (and -D variants) it would ask for in the step. The GEMM ops are not
 * walked: their programs are named here, and whatever is missed is built when the step
 * reaches it. */
static void prebuild_programs(cltrain_model *m, int n, int backward) {
  cltrain_context *cx = m->cx;
  if (!rt_record_begin(cx)) return;
  for (int op = 0; op < NODE_OP_COUNT; op++)
    if (node_kind_of((node_op)op)->gemm_program) rt_prebuild_note(cx, node_kind_of((node_op)op)->gemm_program, "");
  for (int i = 0; i < m->g.n; i++)
    if (!walk_skips(m, i)) (void)forward_node(m, i, n);
  unsigned char *written = backward ? calloc((size_t)m->g.n, 1) : NULL;
  if (written) {
    int k = m->g.nodes[m->g.output].c;
    cross_entropy_shape cs = {n, k, 0.0f};
    buf lg = Y(m, m->g.output), labels = {m->labels, 0};
    sgd_params h = {0.001f, 0.9f, 0.0f, 0.0f, 0};
    (void)rt_fill(cx, G(m, 0), 0.0f, 1);
    (void)cross_entropy_forward(cx, (buf){m->loss, 0}, (buf){m->argmax, 0}, lg, labels, &cs);
    (void)cross_entropy_backward(cx, DY(m, m->g.output), lg, labels, 1.0f, &cs);
    written[root_of(m, m->g.output)] = 1;
    m->lowest_trainable = model_lowest_trainable(m);
    for (int i = m->g.n - 1; i > 0; i--) {
      int acc;
      if (!walk_skips(m, i)) (void)backward_node(m, i, n, written);
      else if (written[root_of(m, i)])
        for (int j = 0; j < m->g.nodes[i].ninputs; j++) (void)grad_target(m, m->g.nodes[i].inputs[j], written, &acc);
    }
    (void)sgd_update(cx, P(m, 0), (buf){m->momentum, 0}, G(m, 0), 1, &h, 1);
  }
  free(written);
  rt_record_end(cx);
}

/* ---- host entry points ---- */

static cltrain_status check_batch(cltrain_model *m, const float *images, int n, int backward,
                                  const char *fn) {
  if (!m) return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: model is NULL", fn);
  if (!images || n < 1) return rt_fail(m->cx, CLTRAIN_ERR_ARG, "%s: no images (n = %d)", fn, n);
  return model_reserve(m, n, backward);
}

/* The uploads do not wait: the host goes on enqueueing the passes while the device finishes
 * the previous step and copies the batch. The caller's arrays must stay valid until the queue
 * is done, so every path out of a step ends in a blocking read or in finish_step. */
static cltrain_status upload_images(cltrain_model *m, const float *images, int n) {
  size_t in = (size_t)n * m->g.in_c * m->g.in_h * m->g.in_w;
  return rt_write_async(m->cx, Y(m, 0), images, in * sizeof(float));
}

/* A failed step returns only once the device no longer reads the caller's arrays. */
static cltrain_status finish_step(cltrain_model *m, cltrain_status st) {
  if (st != CLTRAIN_OK) clFinish(m->cx->queue);
  return st;
}

cltrain_status cltrain_model_forward(cltrain_model *m, const float *images, int n, float *logits) {
  TRY(check_batch(m, images, n, 0, "cltrain_model_forward"));
  if (!logits) return rt_fail(m->cx, CLTRAIN_ERR_ARG, "cltrain_model_forward: logits is NULL");
  cltrain_status st = upload_images(m, images, n);
  if (st == CLTRAIN_OK) st = model_forward_device(m, n);
  int k = m->g.nodes[m->g.output].c;
  if (st == CLTRAIN_OK) st = rt_read(m->cx, logits, Y(m, m->g.output), (size_t)n * k * sizeof(float));
  return finish_step(m, st);
}

/* Zeroes the parameter gradients of nodes >= first that are not zero already: those that train
 * in this step and those a step wrote since (grad_live); a frozen layer's gradient is never
 * written, so rewriting its zeros (47 MB a step for ResNet-18 with only the head training) is
 * skipped. Adjacent ranges go in one fill. The buffer ends as it did when every gradient of
 * nodes >= first was zeroed. */
static cltrain_status zero_grads_from(cltrain_model *m, int first) {
  size_t start = 0, end = 0; /* the run of gradients to zero, not yet enqueued */
  for (int i = first; i < m->g.n; i++) {
    const graph_node *nd = &m->g.nodes[i];
    if (!nd->nparams || (m->frozen[i] && !m->grad_live[i])) continue;
    if (end > start && nd->param_off != end) { /* not adjacent: zero the run so far */
      TRY(rt_fill(m->cx, G(m, start), 0.0f, end - start));
      end = start;
    }
    if (end == start) start = nd->param_off;
    end = nd->param_off + nd->nparams;
    m->grad_live[i] = !m->frozen[i]; /* this step writes it */
  }
  return end > start ? rt_fill(m->cx, G(m, start), 0.0f, end - start) : CLTRAIN_OK;
}

/* Everything of a training step from node `first` up to the loss read-back, enqueued without
 * waiting (the input of `first` already in place). */
static cltrain_status enqueue_loss_grad(cltrain_model *m, int first, const int *labels, int n,
                                        const cross_entropy_shape *cs) {
  cltrain_context *cx = m->cx;
  TRY(rt_write_async(cx, (buf){m->labels, 0}, labels, (size_t)n * sizeof(int)));
  TRY(zero_grads_from(m, first));
  TRY(model_forward_range(m, first, m->g.n, n));
  buf lg = Y(m, m->g.output);
  TRY(cross_entropy_forward(cx, (buf){m->loss, 0}, (buf){m->argmax, 0}, lg, (buf){m->labels, 0}, cs));
  TRY(cross_entropy_backward(cx, DY(m, m->g.output), lg, (buf){m->labels, 0}, 1.0f, cs));
  return model_backward_device(m, n);
}

cltrain_status cltrain_model_loss_grad(cltrain_model *m, const float *images, const int *labels,
                                       int n, float *loss, float *logits) {
  TRY(check_batch(m, images, n, 1, "cltrain_model_loss_grad"));
  cltrain_status st = upload_images(m, images, n);
  if (st == CLTRAIN_OK) st = model_loss_grad_from(m, 0, labels, n, loss, logits);
  return finish_step(m, st);
}

buf model_node_output(const cltrain_model *m, int i) { return Y(m, i); }

cltrain_status model_loss_grad_from(cltrain_model *m, int first, const int *labels, int n, float *loss,
                                    float *logits) {
  if (!labels || !loss) return rt_fail(m->cx, CLTRAIN_ERR_ARG, "cltrain_model_loss_grad: NULL labels or loss");
  cltrain_context *cx = m->cx;
  int k = m->g.nodes[m->g.output].c;
  cross_entropy_shape cs = {n, k, 0.0f};
  TRY(cross_entropy_check_labels(cx, labels, &cs));
  cltrain_status st = enqueue_loss_grad(m, first, labels, n, &cs);
  m->dropout_step++;
  /* The one wait of a step: the loss, which the caller needs now (and checks for divergence). */
  if (st == CLTRAIN_OK) st = rt_read(cx, loss, (buf){m->loss, 0}, sizeof(float));
  TRY(finish_step(m, st));
  if (!isfinite(*loss))
    return rt_fail(cx, CLTRAIN_ERR_NUMERIC, "the loss is %f: training diverged (try a smaller learning rate)", *loss);
  if (logits) TRY(rt_read(cx, logits, Y(m, m->g.output), (size_t)n * k * sizeof(float)));
  return CLTRAIN_OK;
}

static cltrain_status read_tensor(cltrain_model *m, cl_mem block, const char *name, float *out,
                                  size_t cap, size_t *count, const char *fn) {
  if (!m || !name) return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "%s: NULL model or name", fn);
  const model_tensor *t = model_find_tensor(m, name);
  if (!t) return rt_fail(m->cx, CLTRAIN_ERR_ARG, "%s: the model has no tensor named '%s'", fn, name);
  if (count) *count = t->count;
  if (!out) return CLTRAIN_OK;
  if (cap < t->count)
    return rt_fail(m->cx, CLTRAIN_ERR_ARG, "%s: '%s' has %zu values, the buffer holds %zu", fn, name,
                   t->count, cap);
  if (block == m->grads && !t->learnable) {
    memset(out, 0, t->count * sizeof(float));
    return CLTRAIN_OK;
  }
  return rt_read(m->cx, out, (buf){block, t->off}, t->count * sizeof(float));
}

cltrain_status cltrain_model_get_param(cltrain_model *m, const char *name, float *out, size_t cap,
                                       size_t *count) {
  return read_tensor(m, m ? m->params : NULL, name, out, cap, count, "cltrain_model_get_param");
}

cltrain_status cltrain_model_get_grad(cltrain_model *m, const char *name, float *out, size_t cap,
                                      size_t *count) {
  return read_tensor(m, m ? m->grads : NULL, name, out, cap, count, "cltrain_model_get_grad");
}

const char *cltrain_model_tensor_name(const cltrain_model *m, int i) {
  return m && i >= 0 && i < m->ntensors ? m->tensors[i].name : NULL;
}
