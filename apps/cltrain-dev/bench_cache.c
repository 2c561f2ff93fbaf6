/* bench_cache.c: the feature-cache steps of `cltrain bench --cache` (train/cache.h is internal):
 * the hooks that cmd_bench.c calls through cli_bench_cache when it runs inside cltrain-dev. */
#include <stdio.h>
#include <stdlib.h>

#include "train/cache.h"
#include "dev.h"
#include "model/model.h"
#include "core/rng.h"

struct cli_bench_cache_state {
  feature_cache *fc;
  int32_t *rows; /* (batch) cached row indices of one step */
  int nrows;     /* rows in the cache: 4 batches */
  cltrain_rng rng;
};

static void destroy(cli_bench_cache_state *c) {
  if (!c) return;
  feature_cache_destroy(c->fc);
  free(c->rows);
  free(c);
}

static cltrain_status fill(cltrain_context *cx, cltrain_model *m, const float *images, const int *labels,
                           int batch, cli_bench_cache_state **out) {
  const char *why = "";
  int node = feature_cache_node(m, &why);
  if (node < 0) return rt_fail(cx, CLTRAIN_ERR_ARG, "--cache: cannot cache features: %s", why);
  cli_bench_cache_state *c = calloc(1, sizeof *c);
  if (c) c->rows = malloc(sizeof *c->rows * (size_t)batch);
  if (!c || !c->rows) return destroy(c), rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  c->nrows = 4 * batch, c->rng = rng_make(7, 0);
  *out = c; /* the caller destroys it, also after a failure below */
  size_t budget = feature_cache_device_budget(cx);
  TRY(feature_cache_create(cx, m, node, c->nrows, budget, budget, &c->fc));
  cltrain_sgd_options so = cltrain_sgd_defaults();
  TRY(cltrain_model_set_train(m, 1));
  for (int k = 0; k < 4; k++) {
    float loss;
    for (int b = 0; b < batch; b++) c->rows[b] = k * batch + b;
    TRY(feature_cache_loss_grad(c->fc, m, images, c->rows, labels, batch, &loss, NULL));
    TRY(cltrain_model_sgd_step(m, &so));
  }
  printf("cache: %d rows of '%s' (%.1f MiB, %s), filled by 4 training steps\n", c->nrows, model_graph(m)->nodes[node].name,
         feature_cache_bytes(c->fc) / 1048576.0, feature_cache_on_device(c->fc) ? "on the device" : "in host memory");
  return cltrain_context_finish(cx);
}

/* a random batch of cached rows, as a shuffled epoch takes them */
static cltrain_status loss_grad(cli_bench_cache_state *c, cltrain_model *m, const int *labels, int batch,
                                float *loss) {
  for (int b = 0; b < batch; b++) c->rows[b] = (int32_t)rng_below(&c->rng, (uint32_t)c->nrows);
  return feature_cache_loss_grad(c->fc, m, NULL, c->rows, labels, batch, loss, NULL);
}

const cli_bench_cache_ops dev_bench_cache = {fill, loss_grad, destroy};
