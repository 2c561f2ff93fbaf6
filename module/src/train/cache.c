/* cache.c: the feature cache (cache.h): rows of the frozen part's output per image, in one
 * device buffer (moved by kernels/cache.cl's gather and scatter) or in host memory (moved
 * through one staging batch), and the training and inference steps that start above them. */
#include "train/cache.h"
#include "train/dist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct feature_cache {
  cltrain_context *cx;
  int node;            /* the cached node */
  size_t row;          /* floats per image */
  int nimages;         /* the split's images: what idx[] counts */
  int nslots, nused;   /* rows held (this rank's share), rows stored so far */
  cl_mem dev;          /* nslots rows on the device, or NULL */
  float *host;         /* nslots rows in host memory, or NULL */
  int32_t *slot;       /* per image: its row here, or -1 */
  int32_t *slots;      /* a batch's rows: what the gather and scatter kernels take */
  int slots_cap;
  cl_mem idx;          /* device: the batch's row indices, idx_cap ints */
  int idx_cap;
  float *stage;        /* host: one batch of rows, stage_cap of them */
  int stage_cap;
  /* Data-parallel training (feature_cache_share): which rank holds each image's row, and, when
   * the shares change every epoch, the collective fetch of a step's rows */
  dist *d;
  int *owner;          /* per image: the lowest rank that stored it, or the rank count */
  int exchange, batch; /* fetch every cached batch from its owners; the per-rank batch size */
  int32_t *want;       /* ranks x batch: every rank's requests */
  float *wanted;       /* ranks x batch rows */
};

int feature_cache_node(const cltrain_model *m, const char **why) {
  const graph_desc *g = model_graph(m);
  int low = model_lowest_trainable(m);
  if (low >= g->n) {
    *why = "nothing trains";
    return -1;
  }
  int c = graph_data_root(g, g->nodes[low].inputs[0]);
  if (c == 0) {
    *why = "the first layer trains, so no frozen layer lies below the trainable ones";
    return -1;
  }
  for (int j = c + 1; j < g->n; j++)
    for (int k = 0; k < g->nodes[j].ninputs; k++)
      if (graph_data_root(g, g->nodes[j].inputs[k]) < c) {
        *why = "a layer above the frozen part also reads from inside it (a residual connection)";
        return -1;
      }
  for (int j = 1; j <= c; j++)
    if (g->nodes[j].op == NODE_DROPOUT) {
      *why = "the frozen part holds a dropout layer";
      return -1;
    }
  return c;
}

size_t feature_cache_device_budget(const cltrain_context *cx) {
  const cltrain_device_info *d = &cx->info;
  return (size_t)(d->global_mem_bytes / 4 < d->max_alloc_bytes ? d->global_mem_bytes / 4 : d->max_alloc_bytes);
}

void feature_cache_destroy(feature_cache *c) {
  if (!c) return;
  rt_free(c->dev);
  rt_free(c->idx);
  free(c->host), free(c->slot), free(c->slots), free(c->stage);
  free(c->owner), free(c->want), free(c->wanted);
  free(c);
}

cltrain_status feature_cache_create(cltrain_context *cx, const cltrain_model *m, int node, int nimages,
                                    size_t device_budget, size_t host_budget, feature_cache **out) {
  return feature_cache_create_shard(cx, m, node, nimages, nimages, device_budget, host_budget, out);
}

cltrain_status feature_cache_create_shard(cltrain_context *cx, const cltrain_model *m, int node, int nimages,
                                          int nslots, size_t device_budget, size_t host_budget,
                                          feature_cache **out) {
  *out = NULL;
  const graph_desc *g = model_graph(m);
  if (node <= 0 || node >= g->n || nimages < 1 || nslots < 1 || nslots > nimages)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "feature cache: node %d of %d, %d of %d images", node, g->n, nslots,
                   nimages);
  feature_cache *c = calloc(1, sizeof *c);
  if (!c) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  const graph_node *nd = &g->nodes[node];
  c->cx = cx, c->node = node, c->nimages = nimages, c->nslots = nslots;
  c->row = (size_t)nd->c * nd->h * nd->w;
  size_t bytes = c->row * (size_t)nslots * sizeof(float);
  cltrain_status st = CLTRAIN_OK;
  c->slot = malloc((size_t)nimages * sizeof(int32_t));
  if (!c->slot) st = rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  else if (bytes <= device_budget) st = rt_alloc_named(cx, "the feature cache", bytes, &c->dev);
  else if (bytes > host_budget || !(c->host = malloc(bytes)))
    st = rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY,
                 "feature cache: %d images of %zu floats at '%s' take %.1f MiB, more than the device "
                 "(%.1f MiB) or host memory (%.1f MiB) can spare", nslots, c->row, nd->name,
                 bytes / 1048576.0, device_budget / 1048576.0, host_budget / 1048576.0);
  if (st) {
    feature_cache_destroy(c);
    return st;
  }
  for (int i = 0; i < nimages; i++) c->slot[i] = -1;
  *out = c;
  return CLTRAIN_OK;
}

int feature_cache_on_device(const feature_cache *c) { return c->dev != NULL; }
int feature_cache_node_of(const feature_cache *c) { return c->node; }
size_t feature_cache_bytes(const feature_cache *c) { return c->row * (size_t)c->nslots * sizeof(float); }
int feature_cache_has(const feature_cache *c, int index) {
  if (index < 0 || index >= c->nimages) return 0;
  return c->owner ? c->owner[index] < dist_size(c->d) : c->slot[index] >= 0;
}

cltrain_status feature_rows_move(cltrain_context *cx, buf y, cl_mem cache, cl_mem idx_mem,
                                 const int32_t *idx, size_t row, int n, int store) {
  TRY(rt_write(cx, (buf){idx_mem, 0}, idx, (size_t)n * sizeof(int32_t)));
  rt_call k;
  TRY(rt_kernel(cx, "cache.cl", "", store ? "cache_scatter" : "cache_gather", &k));
  if (store) arg_mem(&k, cache), arg_mem(&k, idx_mem), arg_buf(&k, y);
  else arg_buf(&k, y), arg_mem(&k, cache), arg_mem(&k, idx_mem);
  arg_int(&k, (int)row), arg_int(&k, n);
  /* One work-item per float of the batch, in one dimension (a batch could pass 65535 rows). */
  return rt_run_items(&k, row * (size_t)n);
}

cltrain_status feature_cache_share(feature_cache *c, dist *d, int exchange, int batch) {
  if (!d) return CLTRAIN_OK;
  cltrain_context *cx = c->cx;
  int rank = dist_rank(d), size = dist_size(d);
  free(c->owner), free(c->want), free(c->wanted);
  c->want = NULL, c->wanted = NULL;
  c->owner = malloc((size_t)c->nimages * sizeof(int));
  if (!c->owner) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int i = 0; i < c->nimages; i++) c->owner[i] = c->slot[i] >= 0 ? rank : size;
  c->d = d;
  TRY(dist_min_int(d, cx, c->owner, (size_t)c->nimages));
  c->exchange = exchange, c->batch = batch;
  if (!exchange) return CLTRAIN_OK;
  size_t n = (size_t)size * (size_t)batch;
  c->want = malloc(n * sizeof(int32_t));
  c->wanted = malloc(n * c->row * sizeof(float));
  if (!c->want || !c->wanted) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  return CLTRAIN_OK;
}

/* The row numbers of images idx[0..n) in c->slots; store 1 gives new images the next free rows. */
static cltrain_status to_slots(feature_cache *c, const int32_t *idx, int n, int store) {
  if (n > c->slots_cap) {
    int32_t *s = realloc(c->slots, (size_t)n * sizeof(int32_t));
    if (!s) return rt_fail(c->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    c->slots = s, c->slots_cap = n;
  }
  for (int b = 0; b < n; b++) {
    int32_t *sl = &c->slot[idx[b]];
    if (*sl < 0 && store) {
      /* a rank stores only its share of one pass: more is a bug in the caller */
      if (c->nused == c->nslots)
        return rt_fail(c->cx, CLTRAIN_ERR_INTERNAL, "feature cache: image %d is past this rank's %d rows", idx[b],
                       c->nslots);
      *sl = c->nused++;
    }
    c->slots[b] = *sl;
  }
  return CLTRAIN_OK;
}

/* Moves rows idx[0..n) between the cache and the batch buffer y: store 1 into the cache, 0
 * out of it. */
static cltrain_status move_rows(feature_cache *c, buf y, const int32_t *idx, int n, int store) {
  cltrain_context *cx = c->cx;
  TRY(to_slots(c, idx, n, store));
  const int32_t *rows = c->slots;
  if (c->dev) {
    if (n > c->idx_cap) {
      rt_free(c->idx), c->idx = NULL, c->idx_cap = 0;
      TRY(rt_alloc(cx, (size_t)n * sizeof(int32_t), &c->idx));
      c->idx_cap = n;
    }
    return feature_rows_move(cx, y, c->dev, c->idx, rows, c->row, n, store);
  }
  if (n > c->stage_cap) {
    float *s = realloc(c->stage, (size_t)n * c->row * sizeof(float));
    if (!s) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    c->stage = s, c->stage_cap = n;
  }
  size_t rb = c->row * sizeof(float);
  if (store) TRY(rt_read(cx, c->stage, y, (size_t)n * rb));
  for (int b = 0; b < n; b++) {
    float *row = c->host + (size_t)rows[b] * c->row, *in_stage = c->stage + (size_t)b * c->row;
    if (store) memcpy(row, in_stage, rb);
    else memcpy(in_stage, row, rb);
  }
  return store ? CLTRAIN_OK : rt_write(cx, y, c->stage, (size_t)n * rb);
}

/* The exchange of one step of a cached pass whose shares change every epoch: every rank asks
 * for its batch's rows, each row's owner puts it in, and a sum over the ranks (one row and
 * zeros: exact) gives every rank every row; this rank's go to y. Traffic per step: ranks x
 * batch rows, small next to the gradients for the one-tensor cuts caching needs. */
static cltrain_status fetch_rows(feature_cache *c, buf y, const int32_t *idx, int n) {
  cltrain_context *cx = c->cx;
  int size = dist_size(c->d), rank = dist_rank(c->d), bs = c->batch;
  size_t total = (size_t)size * (size_t)bs, rb = c->row * sizeof(float);
  if (n > bs) return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "feature cache: a batch of %d, more than %d", n, bs);
  for (size_t j = 0; j < total; j++) c->want[j] = INT32_MAX;
  memcpy(c->want + (size_t)rank * bs, idx, (size_t)n * sizeof(int32_t));
  TRY(dist_min_int(c->d, cx, c->want, total));
  memset(c->wanted, 0, total * rb);
  for (size_t j = 0; j < total; j++) {
    int32_t i = c->want[j];
    if (i == INT32_MAX || c->owner[i] != rank) continue;
    size_t at = (size_t)c->slot[i] * c->row;
    if (c->dev) TRY(rt_read(cx, c->wanted + j * c->row, (buf){c->dev, at}, rb));
    else memcpy(c->wanted + j * c->row, c->host + at, rb);
  }
  TRY(dist_sum_float(c->d, cx, c->wanted, total * c->row));
  return rt_write(cx, y, c->wanted + (size_t)rank * bs * c->row, (size_t)n * rb);
}

/* Puts the batch's features in the cached node's buffer: from the images (storing them) or
 * from the cache (this rank's rows, or every rank's through fetch_rows). */
static cltrain_status features(feature_cache *c, cltrain_model *m, const float *images, const int32_t *idx,
                               int n, int backward) {
  if (!idx || n < 1) return rt_fail(c->cx, CLTRAIN_ERR_ARG, "feature cache: no images (n = %d)", n);
  int fetch = !images && c->exchange;
  for (int b = 0; b < n; b++)
    if (idx[b] < 0 || idx[b] >= c->nimages ||
        (!images && !(fetch ? feature_cache_has(c, idx[b]) : c->slot[idx[b]] >= 0)))
      return rt_fail(c->cx, CLTRAIN_ERR_INTERNAL, "feature cache: image %d of %d is not cached%s", idx[b],
                     c->nimages, fetch || !c->d ? "" : " on this rank");
  TRY(model_reserve(m, n, backward));
  buf y = model_node_output(m, c->node);
  if (fetch) return fetch_rows(c, y, idx, n);
  if (!images) return move_rows(c, y, idx, n, 0);
  const graph_desc *g = model_graph(m);
  size_t in = (size_t)n * g->in_c * g->in_h * g->in_w;
  TRY(rt_write(c->cx, model_node_output(m, 0), images, in * sizeof(float)));
  TRY(model_forward_range(m, 0, c->node + 1, n));
  return move_rows(c, y, idx, n, 1);
}

cltrain_status feature_cache_loss_grad(feature_cache *c, cltrain_model *m, const float *images,
                                       const int32_t *idx, const int *labels, int n, float *loss, float *logits) {
  TRY(features(c, m, images, idx, n, 1));
  return model_loss_grad_from(m, c->node + 1, labels, n, loss, logits);
}

cltrain_status feature_cache_forward(feature_cache *c, cltrain_model *m, const float *images,
                                     const int32_t *idx, int n, float *logits) {
  TRY(features(c, m, images, idx, n, 0));
  const graph_desc *g = model_graph(m);
  TRY(model_forward_range(m, c->node + 1, g->n, n));
  int k = g->nodes[g->output].c;
  return rt_read(c->cx, logits, model_node_output(m, g->output), (size_t)n * k * sizeof(float));
}
