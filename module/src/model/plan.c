/* plan.c: the model's activation memory, planned once per (batch capacity, training or
 * inference, frozen set). A node's output is kept past the forward only when backward reads it
 * (its readers' op-table entries say so, node_kinds.h: a trainable conv's or linear's input, a
 * BN input, a ReLU output below which something trains), and only until the last backward that
 * reads it has run, as PyTorch frees a saved tensor once its backward ran; every other buffer
 * returns to a pool once its last forward reader has run, and gradient buffers live only from
 * their first writer to their reader. So the gradients of the lower layers reuse the buffers of
 * the activations that the upper layers' backward no longer needs. The plan is made by
 * simulating the forward and backward timeline, which gives every buffer its lifetime; the
 * buffers are then placed as ranges of one arena (or, where the device allows less in one
 * buffer, reused best-fit as buffers of their own). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/model_impl.h"
#include "model/node_kinds.h"

typedef struct pool_sim {
  size_t *bytes, *off; /* per buffer id: its size, and (arena) its offset in the arena */
  unsigned char *busy;
  int n, cap;
  /* Arena: every take is a new range of one device buffer (a sub-buffer) that lives from its take
   * to its give (`from`, `to` on a clock of takes and gives), placed once the timeline is known
   * at multiples of `align` bytes; the arena is `end` bytes. align 0: every id is a buffer of its
   * own, reused best-fit (when the arena would be larger than the device allows in one buffer). */
  size_t align, end;
  int *from, *to, clock;
} pool_sim;

static int arena_take(pool_sim *p, size_t bytes) {
  if (p->n == p->cap) return -1;
  int id = p->n++;
  p->bytes[id] = ((bytes ? bytes : 1) + p->align - 1) / p->align * p->align;
  p->from[id] = p->clock++, p->to[id] = INT_MAX, p->busy[id] = 1;
  return id;
}

/* Offsets for the arena's ranges, largest first, each at the lowest offset where it overlaps no
 * placed range that is alive at the same time (TFLite's greedy-by-size): the arena comes within
 * a few percent of the most bytes alive at once, where placing ranges as they are taken left
 * gaps that a later, larger range could not use. */
static void arena_place(pool_sim *p) {
  int *order = p->from + p->cap; /* the second half of from: scratch */
  for (int i = 0; i < p->n; i++) order[i] = i;
  for (int i = 1; i < p->n; i++) /* by size, descending; ties in take order: deterministic */
    for (int j = i; j > 0 && p->bytes[order[j]] > p->bytes[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
  p->end = 0;
  for (int i = 0; i < p->n; i++) {
    int a = order[i];
    size_t at = 0;
    for (int moved = 1; moved;) { /* past every placed, overlapping range that `at` would hit */
      moved = 0;
      for (int k = 0; k < i; k++) {
        int b = order[k];
        if (p->from[a] < p->to[b] && p->from[b] < p->to[a] && at < p->off[b] + p->bytes[b] &&
            p->off[b] < at + p->bytes[a])
          at = p->off[b] + p->bytes[b], moved = 1;
      }
    }
    p->off[a] = at;
    if (at + p->bytes[a] > p->end) p->end = at + p->bytes[a];
  }
}

/* A free buffer of at least `bytes` (the smallest such), or a new one; in an arena, a new range. */
static int pool_take(pool_sim *p, size_t bytes) {
  if (p->align) return arena_take(p, bytes);
  int best = -1;
  for (int i = 0; i < p->n; i++)
    if (!p->busy[i] && p->bytes[i] >= bytes && (best < 0 || p->bytes[i] < p->bytes[best])) best = i;
  if (best < 0) {
    if (p->n == p->cap) return -1;
    best = p->n++;
    p->bytes[best] = bytes;
  }
  p->busy[best] = 1;
  return best;
}

static void pool_give(pool_sim *p, int id) {
  if (id < 0) return;
  p->busy[id] = 0;
  if (p->align) p->to[id] = p->clock++;
}

int model_has_params(const graph_node *nd) { return node_kind_of(nd->op)->tensors != NULL; }

int model_lowest_trainable(const cltrain_model *m) {
  for (int i = 1; i < m->g.n; i++)
    if (model_has_params(&m->g.nodes[i]) && !m->frozen[i]) return i;
  return m->g.n;
}

/* Whether backward reads node j's inputs (their producers' outputs). */
static int backward_reads_input(const cltrain_model *m, int j, int lowest) {
  unsigned reads = node_kind_of(m->g.nodes[j].op)->backward_reads;
  if (j < lowest) return 0;
  return (reads & READS_INPUTS) || ((reads & READS_INPUTS_IF_TRAINED) && !m->frozen[j]);
}

/* Whether a layer trains above the lowest trained one: freezing the lowest would shrink the plan
 * (when only the top layer, the head, trains, no freeze spec helps). */
static int freezing_helps(const cltrain_model *m, int lowest) {
  for (int i = lowest + 1; i < m->g.n; i++)
    if (model_has_params(&m->g.nodes[i]) && !m->frozen[i]) return 1;
  return 0;
}

/* CLTRAIN_ERR_OUT_OF_MEMORY, naming the device, the batch, what takes the memory and the
 * largest buffer, when the planned activations and the other batch buffers (with the parameter,
 * gradient and momentum blocks) exceed the device's global memory, or one buffer its largest
 * allocation. bytes[0..count) are the activation buffers, or with ranges > 0 bytes[0] is the one
 * arena holding `ranges` of them (sub-buffers). `freeze`: freezing more would shrink the plan (freezing_helps). */
static cltrain_status check_fits(cltrain_model *m, int n, const size_t *bytes, int count, int ranges, int freeze,
                                 const batch_buf *extra, int nextra) {
  const cltrain_device_info *d = &m->cx->info;
  const double gib = 1024.0 * 1024.0 * 1024.0, mib = 1024.0 * 1024.0;
  size_t params = 3 * m->g.nparams * sizeof(float), acts = 0, others = 0, largest = 0;
  char what[256] = "";
  for (int i = 0; i < count; i++) {
    acts += bytes[i];
    if (bytes[i] <= largest) continue;
    largest = bytes[i];
    if (ranges) snprintf(what, sizeof what, "the activation arena (%d activation buffers in one allocation)", ranges);
    else snprintf(what, sizeof what, "activation buffer %d of %d", i, count);
  }
  for (int k = 0; k < nextra; k++) {
    others += extra[k].bytes;
    if (extra[k].bytes > largest)
      largest = extra[k].bytes, snprintf(what, sizeof what, "%s%s%s", extra[k].what, extra[k].node >= 0 ? " " : "",
                                         extra[k].node >= 0 ? m->g.nodes[extra[k].node].name : "");
  }
  size_t total = params + acts + others;
  if (total <= d->global_mem_bytes && largest <= d->max_alloc_bytes) return CLTRAIN_OK;
  return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY,
                 "a batch of %d images of %dx%d needs %.2f GiB on device '%s', which has %.2f GiB (activation "
                 "buffers %.1f MiB%s, parameters with their gradients and momenta %.1f MiB, the batch's other buffers "
                 "%.1f MiB; largest buffer: %s, %.2f GiB; the device allows %.2f GiB per buffer): try a smaller "
                 "batch or input size%s", n, m->g.in_h, m->g.in_w, total / gib, d->name, d->global_mem_bytes / gib,
                 acts / mib, ranges ? " in one arena" : "", params / mib, others / mib, what, largest / gib,
                 d->max_alloc_bytes / gib, freeze ? ", or train fewer layers (freeze more)" : "");
}

/* The input (root) whose buffer node i's output may take (node_kinds.h, in_place): node i is the
 * input's last reader, nothing keeps it for backward and it is not the image (which a step
 * uploads before the forward, and the feature cache reads). -1: none. */
static int in_place_over(const cltrain_model *m, int i, const int *root, const int *last, const unsigned char *keep) {
  const graph_node *nd = &m->g.nodes[i];
  if (root[i] != i || !node_kind_of(nd->op)->in_place || nd->ninputs != 1) return -1;
  int r = root[nd->inputs[0]];
  const graph_node *in = &m->g.nodes[r];
  if (r == 0 || last[r] != i || keep[r] || in->c != nd->c || in->h != nd->h || in->w != nd->w) return -1;
  return r;
}

/* Simulates the forward (and backward) pass on pool p: ybuf and dybuf get each node's buffer id. */
static void timeline(const cltrain_model *m, int n, int backward, int lowest, const int *root, const int *last,
                     const int *bwd_last, const unsigned char *keep, pool_sim *p, int *ybuf, int *dybuf) {
  const graph_desc *g = &m->g;
  int nn = g->n;
  for (int i = 0; i < nn; i++) ybuf[i] = dybuf[i] = -1;
  /* Forward timeline. */
  size_t img = (size_t)g->in_c * g->in_h * g->in_w;
  ybuf[0] = pool_take(p, (size_t)n * img * sizeof(float));
  for (int i = 1; i < nn; i++) {
    const graph_node *nd = &g->nodes[i];
    int over = in_place_over(m, i, root, last, keep); /* the input whose buffer it takes, or -1 */
    if (over >= 0) ybuf[i] = ybuf[over];
    else if (root[i] == i) ybuf[i] = pool_take(p, (size_t)n * nd->c * nd->h * nd->w * sizeof(float));
    else ybuf[i] = ybuf[root[i]];
    for (int k = 0; k < nd->ninputs; k++) {
      int r = root[nd->inputs[k]];
      if (last[r] == i && !keep[r] && r != over) pool_give(p, ybuf[r]);
    }
    if (root[i] == i && last[i] == i && !keep[i]) pool_give(p, ybuf[i]); /* never read */
  }
  /* Backward timeline: a gradient buffer is taken by its first writer (the highest consumer)
   * and given back once its own node's backward has run; a kept output is given back once the
   * last backward reading it has run (after that node took its gradients' buffers, so none of
   * them is one it reads). */
  if (backward) {
    int out = root[g->output];
    const graph_node *o = &g->nodes[out];
    dybuf[out] = pool_take(p, (size_t)n * o->c * o->h * o->w * sizeof(float));
    for (int i = nn - 1; i > 0; i--) {
      const graph_node *nd = &g->nodes[i];
      if (i >= lowest && root[i] == i && dybuf[i] >= 0) {
        for (int k = 0; k < nd->ninputs; k++) {
          int r = root[nd->inputs[k]];
          if (r >= lowest && dybuf[r] < 0) {
            const graph_node *in = &g->nodes[r];
            dybuf[r] = pool_take(p, (size_t)n * in->c * in->h * in->w * sizeof(float));
          }
        }
        pool_give(p, dybuf[i]);
      }
      for (int r = 0; r < nn; r++)
        if (bwd_last[r] == i && keep[r]) pool_give(p, ybuf[r]);
    }
    for (int i = 0; i < nn; i++) dybuf[i] = dybuf[root[i]];
  }
  for (int i = 0; i < nn; i++) ybuf[i] = ybuf[root[i]];
}

cltrain_status model_plan(cltrain_model *m, int n, int backward, const batch_buf *extra, int nextra) {
  cltrain_context *cx = m->cx;
  const graph_desc *g = &m->g;
  int nn = g->n, lowest = backward ? model_lowest_trainable(m) : nn;
  int *root = malloc(sizeof(int) * nn), *last = malloc(sizeof(int) * nn), *bwd_last = malloc(sizeof(int) * nn);
  unsigned char *keep = calloc((size_t)nn, 1);
  pool_sim p = {calloc((size_t)4 * nn, sizeof(size_t)), calloc((size_t)4 * nn, sizeof(size_t)), calloc((size_t)4 * nn, 1),
                0, 4 * nn, 0, 0, calloc((size_t)8 * nn, sizeof(int)), calloc((size_t)4 * nn, sizeof(int)), 0};
  int *ybuf = malloc(sizeof(int) * nn), *dybuf = malloc(sizeof(int) * nn);
  if (!root || !last || !bwd_last || !keep || !p.bytes || !p.off || !p.busy || !p.from || !p.to || !ybuf || !dybuf) {
    free(root), free(last), free(bwd_last), free(keep), free(p.bytes), free(p.off), free(p.busy), free(p.from), free(p.to), free(ybuf), free(dybuf);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory planning buffers");
  }
  for (int i = 0; i < nn; i++) {
    const graph_node *nd = &g->nodes[i];
    root[i] = model_is_view(m, i) ? root[nd->inputs[0]] : i;
    last[i] = i, bwd_last[i] = nn;
  }
  /* Last forward reader of each buffer, what backward needs kept, and the last backward (the
   * lowest node) that reads it. A view's backward runs inside its root's (a fused ReLU's in its
   * BN's, which reads the output the ReLU shares), so its reads count at the root. */
  for (int j = 1; j < nn; j++) {
    const graph_node *nd = &g->nodes[j];
    for (int k = 0; k < nd->ninputs; k++) {
      int r = root[nd->inputs[k]];
      if (last[r] < j) last[r] = j;
      if (backward && backward_reads_input(m, j, lowest)) {
        keep[r] = 1;
        if (bwd_last[r] > root[j]) bwd_last[r] = root[j];
      }
    }
    if (backward && (node_kind_of(nd->op)->backward_reads & READS_OUTPUT) && j >= lowest) {
      keep[root[j]] = 1;
      if (bwd_last[root[j]] > root[j]) bwd_last[root[j]] = root[j];
    }
  }
  keep[root[g->output]] = 1, bwd_last[root[g->output]] = nn; /* the logits are read after the passes */

  /* The timeline in one arena (PoCL and drivers with a large enough largest allocation), else in
   * buffers of their own. */
  cl_uint align_bits = 0;
  if (clGetDeviceInfo(cx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL) != CL_SUCCESS)
    align_bits = 0;
  p.align = align_bits >= 8 * sizeof(float) ? align_bits / 8 : 0; /* 0 (unknown): no arena */
  for (;;) {
    timeline(m, n, backward, lowest, root, last, bwd_last, keep, &p, ybuf, dybuf);
    if (p.align) arena_place(&p);
    if (!p.align || p.end <= cx->info.max_alloc_bytes) break;
    p.align = 0, p.n = 0, p.end = 0, p.clock = 0;
  }

  /* Make it real, unless the device cannot hold it: PoCL and some drivers accept any
   * clCreateBuffer and fail (or the OS kills the process) only when the memory is touched. */
  cltrain_status st;
  if (p.align) {
    st = check_fits(m, n, &p.end, 1, p.n, freezing_helps(m, lowest), extra, nextra);
    if (st == CLTRAIN_OK) st = rt_alloc_named(cx, "the activation arena", p.end, &m->arena);
    if (st == CLTRAIN_OK) m->act_bytes += p.end;
    for (int i = 0; i < p.n && st == CLTRAIN_OK; i++, m->npool++)
      st = rt_sub_buffer(cx, m->arena, p.off[i], p.bytes[i], &m->pool[i]);
  } else {
    st = check_fits(m, n, p.bytes, p.n, 0, freezing_helps(m, lowest), extra, nextra);
    for (int i = 0; i < p.n && st == CLTRAIN_OK; i++, m->npool++) {
      st = rt_alloc_named(cx, "an activation buffer", p.bytes[i], &m->pool[i]);
      m->act_bytes += p.bytes[i];
    }
  }
  if (st == CLTRAIN_OK) {
    memcpy(m->ybuf, ybuf, sizeof(int) * nn);
    memcpy(m->dybuf, dybuf, sizeof(int) * nn);
  }
  free(root), free(last), free(bwd_last), free(keep), free(p.bytes), free(p.off), free(p.busy), free(p.from), free(p.to), free(ybuf), free(dybuf);
  return st;
}
