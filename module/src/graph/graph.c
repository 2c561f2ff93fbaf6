/* graph.c: graph_desc helpers: freeing, op names, lookup by name or structural alias, parameter
 * counts, and the two steps every importer shares: friendly names and stage assignment. */
#include "graph/graph.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph/graph_build.h"
#include "model/node_kinds.h" /* each op's name, shape rule and whether it is a view */
#include "runtime/runtime.h"

void graph_free(graph_desc *g) {
  if (!g) return;
  free(g->nodes);
  free(g->params);
  memset(g, 0, sizeof *g);
}

int graph_is_reshape(node_op op) { return node_kind_of(op)->is_view; }

int graph_data_root(const graph_desc *g, int i) {
  while (graph_is_reshape(g->nodes[i].op)) i = g->nodes[i].inputs[0];
  return i;
}

const char *graph_op_name(node_op op) { return node_kind_of(op)->name; }

int graph_find(const graph_desc *g, const char *name) {
  if (!g || !name) return -1;
  for (int i = 0; i < g->n; i++)
    if (!strcmp(g->nodes[i].name, name)) return i;
  return -1;
}

/* Whether sel is the whole of `name` or a dotted prefix of it ("layer1" matches
 * "layer1.0.conv1", not "layer10.x"). */
static int name_at(const char *name, const char *sel) {
  size_t n = strlen(sel);
  return !strncmp(name, sel, n) && (name[n] == 0 || name[n] == '.');
}

static int select_one(const graph_desc *g, const graph_node *nd, const char *sel) {
  if (nd->op == NODE_INPUT) return 0;
  if (!strcmp(sel, "stem")) return nd->stage == GRAPH_STAGE_STEM;
  if (!strcmp(sel, "head")) return nd->stage == g->nstages + 1;
  if (!strncmp(sel, "stage", 5) && sel[5]) {
    char *end;
    long k = strtol(sel + 5, &end, 10);
    if (!*end && k >= 1) return k <= g->nstages && nd->stage == (int)k;
  }
  return name_at(nd->name, sel);
}

int graph_select(const graph_desc *g, const char *sel, int *idx, int cap) {
  if (!g || !sel) return -1;
  int count = 0;
  for (int i = 0; i < g->n; i++) {
    if (!select_one(g, &g->nodes[i], sel)) continue;
    if (count < cap && idx) idx[count] = i;
    count++;
  }
  return count;
}

int graph_find_module(const graph_desc *g, const char *module) {
  if (!g || !module || !*module) return -1;
  for (int i = 1; i < g->n; i++)
    for (const char *p = strchr(g->nodes[i].name, '.'); p; p = strchr(p + 1, '.'))
      if (name_at(p + 1, module)) return i;
  return -1;
}

int graph_classifier(const graph_desc *g) {
  for (int i = g->output; i > 0; i--)
    if (g->nodes[i].nparams) return i;
  return -1;
}

size_t graph_trainable_count(const graph_desc *g) {
  size_t t = 0;
  if (g)
    for (int i = 0; i < g->n; i++) t += g->nodes[i].ntrainable;
  return t;
}

/* ---- shared by importers (graph_build.h) ---- */

/* torch's exporter names nodes "/<scope>/<scope>/<OpType>" where each scope is the module's
 * attribute name, and a Sequential child repeats its parent's: "/layer1/layer1.0/conv1/Conv",
 * "/layer2/layer2.0/downsample/downsample.0/Conv". A scope that extends the previous one by
 * ".<x>" replaces it, the rest append; that rebuilds the module path "layer1.0.conv1". */
void graph_friendly_name(const char *onnx_name, int functional, char *out, size_t cap) {
  const char *p = onnx_name;
  if (!strncmp(p, "onnx_node!", 10)) p += 10;
  if (*p != '/') { /* not a torch scope path: keep the name as it is */
    snprintf(out, cap, "%s", p);
    return;
  }
  char segs[16][96];
  int nseg = 0;
  char comps[24][96];
  int ncomp = 0;
  while (*p && ncomp < 24) {
    while (*p == '/') p++;
    if (!*p) break;
    size_t len = strcspn(p, "/");
    snprintf(comps[ncomp++], sizeof comps[0], "%.*s", (int)(len < 95 ? len : 95), p);
    p += len;
  }
  if (ncomp == 0) {
    snprintf(out, cap, "%s", onnx_name);
    return;
  }
  for (int i = 0; i < ncomp - 1; i++) { /* the last component is the op type */
    size_t l = nseg ? strlen(segs[nseg - 1]) : 0;
    if (nseg && !strncmp(comps[i], segs[nseg - 1], l) && comps[i][l] == '.')
      memcpy(segs[nseg - 1], comps[i], sizeof segs[0]);
    else if (nseg < 16)
      memcpy(segs[nseg++], comps[i], sizeof segs[0]);
  }
  char op[96];
  size_t j = 0;
  for (; comps[ncomp - 1][j] && j < sizeof op - 1; j++)
    op[j] = (char)tolower((unsigned char)comps[ncomp - 1][j]);
  op[j] = 0;
  /* OpenCV splits some nodes in two ("/Flatten" and "/Flatten/flatten"): one name for both */
  if (nseg == 1 && !strcasecmp(segs[0], op)) nseg = 0;
  size_t used = 0;
  out[0] = 0;
  for (int i = 0; i < nseg && used < cap; i++)
    used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "." : "", segs[i]);
  /* A functional op (x + y, torch.flatten) has no module of its own: the path names its parent. */
  if ((functional || nseg == 0) && used < cap)
    snprintf(out + used, cap - used, "%s%s", nseg ? "." : "", op);
}

void graph_unique_names(graph_desc *g) {
  for (int i = 1; i < g->n; i++) {
    char base[96];
    memcpy(base, g->nodes[i].name, sizeof base);
    for (int k = 2; graph_find(g, g->nodes[i].name) != i; k++)
      snprintf(g->nodes[i].name, sizeof g->nodes[i].name, "%.80s_%d", base, k);
  }
}

static int same_shape(const graph_node *a, const graph_node *b) {
  return a->c == b->c && a->h == b->h && a->w == b->w;
}

/* Marks cut[i] = 1 where no edge jumps over node i (every path from the input passes through
 * it): a DenseNet block's last Concat, but none of the joins inside the block. far[] is scratch. */
static void mark_cuts(const graph_desc *g, unsigned char *cut, int *far) {
  for (int i = 0; i < g->n; i++) far[i] = i; /* the furthest consumer of node i */
  for (int k = 0; k < g->n; k++)
    for (int j = 0; j < g->nodes[k].ninputs; j++)
      if (k > far[g->nodes[k].inputs[j]]) far[g->nodes[k].inputs[j]] = k;
  for (int i = 0, reach = 0; i < g->n; i++) {
    cut[i] = reach <= i;
    if (far[i] > reach) reach = far[i];
  }
}

/* Per node: how many nodes read it, and how many of those are convolutions and Muls. */
typedef struct node_uses {
  int all, convs, muls;
} node_uses;

static int is_conv(node_op op) { return op == NODE_CONV || op == NODE_DEPTHWISE; }
static int is_window_pool(node_op op) { return op == NODE_MAXPOOL || op == NODE_AVGPOOL; }

/* What ends a block at node i: a residual fork (the node feeds two or more nodes, none a Mul:
 * forks that a Mul joins, x * sigmoid(x), x * hardsigmoid(x) and squeeze-excitation's x * s, are
 * inside a block); a windowed pool no edge jumps over (VGG's pooling boundaries); a linear
 * bottleneck (a BN, sum or conv no edge jumps over that only convolutions read: no activation
 * follows, as at the end of EfficientNet's and MobileNetV3's inverted-residual blocks). */
enum { END_NONE, END_FORK, END_POOL, END_BOTTLENECK };
static int block_end(const graph_desc *g, const node_uses *u, const unsigned char *cut, int i) {
  node_op op = g->nodes[i].op;
  if (u[i].all >= 2 && u[i].muls == 0) return END_FORK;
  if (cut[i] && is_window_pool(op)) return END_POOL;
  if (cut[i] && u[i].all > 0 && u[i].convs == u[i].all && (op == NODE_BN || op == NODE_ADD || is_conv(op)))
    return END_BOTTLENECK;
  return END_NONE;
}

/* Stages from structure alone, so that stageN follows torchvision's grouping in every family
 * (README, "Stages"). The head starts at the first node after the last conv, add or concat (the
 * classifier excluded: SqueezeNet's is a conv) that is not the last conv's BN, activation or
 * max-pool (global pool, flatten, classifier; VGG's AveragePool). The stem ends at the first
 * block end (block_end), except that when that is a linear bottleneck the stem is only the first
 * conv and what follows it up to the next conv (its BN and activation: EfficientNet's and
 * MobileNetV3's features.0), the rest being the first inverted-residual block. After it, each
 * block end closes a block; in a graph that joins by concatenation (DenseNet, SqueezeNet) each
 * Concat no edge jumps over does instead (a dense block with the transition before it, a Fire
 * module). A block whose output shape differs from the previous block's opens a new stage (the
 * first block always opens stage 1): ResNet's layer1..4, EfficientNet's features.1..8,
 * MobileNetV3's runs of blocks with one output shape, VGG's pooling groups. A graph without block
 * ends is all stem plus head. */
cltrain_status graph_assign_stages(cltrain_context *cx, graph_desc *g) {
  int n = g->n;
  node_uses *u = calloc((size_t)n, sizeof *u);
  int *far = calloc((size_t)n, sizeof *far);
  unsigned char *cut = calloc((size_t)n, 1);
  if (!u || !far || !cut) {
    free(u), free(far), free(cut);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "graph: out of host memory");
  }
  mark_cuts(g, cut, far);
  int classifier = n, joins_by_concat = 0;
  for (int i = 0; i < n; i++)
    if (g->nodes[i].nparams) classifier = i;
  int last_body = 0, first_conv = -1, second_conv = -1;
  for (int i = 0; i < n; i++) {
    node_op op = g->nodes[i].op;
    for (int j = 0; j < g->nodes[i].ninputs; j++) {
      node_uses *in = &u[g->nodes[i].inputs[j]];
      in->all++, in->convs += is_conv(op), in->muls += op == NODE_MUL;
    }
    joins_by_concat |= op == NODE_CONCAT;
    if ((is_conv(op) || op == NODE_ADD || op == NODE_CONCAT) && i < classifier) last_body = i;
    if (is_conv(op)) {
      if (first_conv < 0) first_conv = i;
      else if (second_conv < 0) second_conv = i;
    }
  }
  int head = n;
  for (int i = last_body + 1; i < n; i++) {
    node_op op = g->nodes[i].op;
    /* the last conv's BN and activation (ReLU; hardswish or SiLU: x * hardsigmoid(x), x * sigmoid(x)),
     * and VGG's last max-pool */
    if (op != NODE_BN && op != NODE_RELU && op != NODE_IDENTITY && op != NODE_HARDSIGMOID && op != NODE_SIGMOID &&
        op != NODE_MUL && op != NODE_MAXPOOL) {
      head = i;
      break;
    }
  }
  int stem_end = head - 1;
  for (int i = 1; i < head; i++) {
    int why = block_end(g, u, cut, i);
    if (why == END_NONE) continue;
    stem_end = i;
    if (why == END_BOTTLENECK && first_conv >= 0 && second_conv > first_conv && second_conv <= i)
      stem_end = second_conv - 1;
    break;
  }
  int stage = 0, block_in = stem_end;
  g->nstages = 0;
  for (int i = 0; i <= stem_end && i < n; i++) g->nodes[i].stage = GRAPH_STAGE_STEM;
  for (int start = stem_end + 1; start < head;) {
    int end = start;
    while (end < head - 1 &&
           (joins_by_concat ? !(g->nodes[end].op == NODE_CONCAT && cut[end]) : block_end(g, u, cut, end) == END_NONE))
      end++;
    if (stage == 0 || !same_shape(&g->nodes[end], &g->nodes[block_in])) stage++;
    for (int i = start; i <= end; i++) g->nodes[i].stage = stage;
    block_in = end;
    start = end + 1;
  }
  g->nstages = stage;
  for (int i = head; i < n; i++) g->nodes[i].stage = stage + 1;
  free(u), free(far), free(cut);
  return CLTRAIN_OK;
}

int graph_node_infer(const graph_node *nodes, graph_node *nd, char *why, size_t cap) {
  if (nd->op == NODE_INPUT) return 0;
  const graph_node *x = &nodes[nd->inputs[0]];
  nd->c = x->c, nd->h = x->h, nd->w = x->w;
  const node_kind *k = node_kind_of(nd->op);
  if (k->infer && k->infer(nodes, nd, why, cap)) return -1;
  if (nd->h < 1 || nd->w < 1) {
    snprintf(why, cap, "gets a %dx%d input, too small for its %dx%d window", x->h, x->w, nd->r, nd->s);
    return -1;
  }
  return 0;
}

cltrain_status graph_reshape(cltrain_context *cx, graph_desc *g, int h, int w) {
  if (!g || !g->nodes || g->n < 1 || h < 1 || w < 1)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "graph_reshape: needs a graph and a positive size (got %dx%d)", h, w);
  graph_node *nodes = malloc((size_t)g->n * sizeof *nodes);
  if (!nodes) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "graph_reshape: out of host memory");
  memcpy(nodes, g->nodes, (size_t)g->n * sizeof *nodes);
  nodes[0].h = h, nodes[0].w = w;
  for (int i = 1; i < g->n; i++) {
    char why[160];
    if (graph_node_infer(nodes, &nodes[i], why, sizeof why)) {
      cltrain_status st = rt_fail(cx, CLTRAIN_ERR_ARG, "graph_reshape: at %dx%d input, node '%s' %s",
                                  h, w, nodes[i].name, why);
      free(nodes);
      return st;
    }
  }
  memcpy(g->nodes, nodes, (size_t)g->n * sizeof *nodes); /* all or nothing */
  free(nodes);
  g->in_h = h, g->in_w = w;
  return CLTRAIN_OK;
}
