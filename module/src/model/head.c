/* head.c: replacing a model's classifier by a new, seeded Linear head (with optional hidden
 * Linear->ReLU->Dropout blocks), initialised as torch.nn.Linear's default. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_build.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "core/rng.h"

/* torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives the weight a bound of
 * gain*sqrt(3/fan_in) with gain = sqrt(2/(1+5)), i.e. 1/sqrt(fan_in); the bias uses the same
 * bound. Values are uniform(-bound, bound) = -bound + 2*bound*u. */
static void init_linear(float *w, float *b, int in, int out, cltrain_rng *rng) {
  double bound = 1.0 / sqrt((double)in);
  for (size_t i = 0; i < (size_t)in * out; i++) w[i] = (float)(-bound + 2 * bound * rng_uniform_f64(rng));
  for (int i = 0; i < out; i++) b[i] = (float)(-bound + 2 * bound * rng_uniform_f64(rng));
}

static graph_node simple_node(node_op op, const char *name, int input, int features, int stage) {
  graph_node nd;
  memset(&nd, 0, sizeof nd);
  nd.op = op;
  snprintf(nd.name, sizeof nd.name, "%s", name);
  nd.inputs[0] = input;
  nd.ninputs = 1;
  nd.c = features, nd.h = 1, nd.w = 1;
  nd.stage = stage;
  return nd;
}

static graph_node linear_node(const char *name, int input, int in, int out, int stage) {
  graph_node nd = simple_node(NODE_LINEAR, name, input, out, stage);
  nd.in_features = in, nd.out_features = out;
  nd.has_bias = 1;
  nd.nparams = nd.ntrainable = (size_t)in * out + (size_t)out;
  return nd;
}

cltrain_head_options cltrain_head_defaults(void) {
  cltrain_head_options o = {sizeof o, 2, NULL, 0, 0.0f, 0};
  return o;
}

/* The sizes cltrain_head_options has had (cltrain.h, "Stability"). */
static const size_t head_sizes[] = {sizeof(cltrain_head_options)};

cltrain_status cltrain_model_replace_head(cltrain_model *m, const cltrain_head_options *caller) {
  if (!m || !caller) return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "cltrain_model_replace_head: NULL argument");
  cltrain_head_options full = cltrain_head_defaults(), *o = &full;
  TRY(rt_options_in(m->cx, "cltrain_head_options", caller, &full, head_sizes, 1));
  if (o->num_classes < 1)
    return rt_fail(m->cx, CLTRAIN_ERR_ARG, "the new head needs at least 1 class, got %d", o->num_classes);
  if (o->num_hidden < 0 || (o->num_hidden > 0 && !o->hidden) || o->num_hidden > 16)
    return rt_fail(m->cx, CLTRAIN_ERR_ARG, "bad hidden layer list (%d layers)", o->num_hidden);
  for (int k = 0; k < o->num_hidden; k++)
    if (o->hidden[k] < 1) return rt_fail(m->cx, CLTRAIN_ERR_ARG, "hidden layer %d has size %d (must be >= 1)", k, o->hidden[k]);
  if (!(o->dropout >= 0 && o->dropout < 1))
    return rt_fail(m->cx, CLTRAIN_ERR_ARG, "dropout %g is outside [0, 1)", o->dropout);

  graph_desc *g = &m->g;
  int old = graph_classifier(g), stage = g->nstages + 1, input = g->nodes[old].inputs[0];
  /* A 1x1 conv classifier (SqueezeNet's) is replaced by one with num_classes filters, and its
   * ReLU and global pool follow as before; a linear one by the hidden blocks and a new linear. */
  int conv_head = g->nodes[old].op == NODE_CONV;
  if (conv_head && o->num_hidden)
    return rt_fail(m->cx, CLTRAIN_ERR_UNSUPPORTED,
                   "hidden head layers need a fully-connected classifier; '%s' is a 1x1 convolution",
                   g->nodes[old].name);
  int in = conv_head ? g->nodes[input].c : g->nodes[old].in_features, nkeep = old;
  int n = conv_head ? g->n : nkeep + 3 * o->num_hidden + 1;
  /* The host copy of the weights must hold what training did to them. */
  TRY(rt_read(m->cx, g->params, (buf){m->params, 0}, g->nparams * sizeof(float)));

  graph_node *nodes = calloc((size_t)n, sizeof *nodes);
  unsigned char *frozen = calloc((size_t)n, 1);
  if (!nodes || !frozen) {
    free(nodes), free(frozen);
    return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  model_drop_batch(m); /* its buffers are laid out for the old node list */
  memcpy(nodes, g->nodes, sizeof *nodes * (size_t)nkeep);
  memcpy(frozen, m->frozen, (size_t)nkeep);
  int prev = input, idx = nkeep, output = n - 1;
  char name[96];
  if (conv_head) {
    memcpy(nodes + old, g->nodes + old, sizeof *nodes * (size_t)(n - old)); /* new from here on */
    char why[160];
    for (int i = old; i < n; i++) {
      nodes[i].onnx_name[0] = 0, nodes[i].stage = stage;
      if (i == old) {
        nodes[i].k = o->num_classes, nodes[i].has_bias = 1;
        nodes[i].nparams = nodes[i].ntrainable = (size_t)in * o->num_classes + (size_t)o->num_classes;
      }
      if (graph_node_infer(nodes, &nodes[i], why, sizeof why)) {
        free(nodes), free(frozen);
        return rt_fail(m->cx, CLTRAIN_ERR_INTERNAL, "new head: node '%s' %s", nodes[i].name, why);
      }
    }
    output = g->output;
  }
  for (int k = 0; !conv_head && k < o->num_hidden; k++) {
    snprintf(name, sizeof name, "fc_hidden.%d", k);
    nodes[idx] = linear_node(name, prev, in, o->hidden[k], stage);
    snprintf(name, sizeof name, "fc_hidden.%d.relu", k);
    nodes[idx + 1] = simple_node(NODE_RELU, name, idx, o->hidden[k], stage);
    snprintf(name, sizeof name, "fc_hidden.%d.dropout", k);
    nodes[idx + 2] = simple_node(NODE_DROPOUT, name, idx + 1, o->hidden[k], stage);
    nodes[idx + 2].dropout = o->dropout;
    prev = idx + 2, in = o->hidden[k], idx += 3;
  }
  if (!conv_head) nodes[idx] = linear_node("fc", prev, in, o->num_classes, stage);

  /* A compact parameter block: the kept layers' values, then the new layers'. */
  size_t total = 0;
  for (int i = 0; i < n; i++) total += nodes[i].nparams;
  float *params = malloc(total * sizeof(float) + 1);
  if (!params) {
    free(nodes), free(frozen);
    return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  cltrain_rng rng = rng_make(o->seed, RNG_STREAM_HEAD_INIT);
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    graph_node *nd = &nodes[i];
    if (i < nkeep) {
      memcpy(params + off, g->params + nd->param_off, nd->nparams * sizeof(float));
    } else if (nd->op == NODE_LINEAR) {
      init_linear(params + off, params + off + (size_t)nd->in_features * nd->out_features,
                  nd->in_features, nd->out_features, &rng);
    } else if (i == old) { /* torch.nn.Conv2d's default is Linear's, fan_in = in channels x 1 x 1 */
      init_linear(params + off, params + off + (size_t)in * nd->k, in, nd->k, &rng);
    }
    nd->param_off = off;
    off += nd->nparams;
  }
  if (!m->old_head_onnx[0]) snprintf(m->old_head_onnx, sizeof m->old_head_onnx, "%s", g->nodes[old].onnx_name);
  free(g->nodes);
  free(g->params);
  free(m->frozen);
  g->nodes = nodes;
  g->n = n;
  g->params = params;
  g->nparams = total;
  g->output = output;
  m->frozen = frozen;
  return model_rebuild(m);
}
