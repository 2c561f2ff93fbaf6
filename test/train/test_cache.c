/* test_cache.c: feature caching for head-only training (train/cache.c). A cached run ends with
 * bitwise the weights, momentum and history of the same run without the cache: the cached
 * features are the frozen part's output of the same images under the same eval-mode arithmetic,
 * so epochs 2+ see the numbers epoch 1 computed, as long as the device computes an image's
 * output from that image alone whatever else shares its batch. CLBlast does (each output column
 * is its own dot product over the same K); OpenBLAS's AVX2 kernels (Haswell, Zen: an image's
 * columns round differently with the GEMM's width) do not. The test measures which holds for
 * the backend at hand (batch_invariant()) and then asks for bitwise equality, or else for the
 * same training to float32 rounding (check_same()). Also: a hidden head with dropout, a
 * cut inside the backbone (layer4 trains), the host-memory cache, a resumed cached run, the
 * refusals of a forced cache, and that a later call with another frozen set computes its own
 * features. Data: the refs' imagefolder/good (3 classes, 14 images of many formats) as train
 * and val, at 112x112 to keep the runs short. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/cache.h"
#include "check.h"
#include "train/train_internal.h"

static char tmpdir[256], model[1024];

static char *path_in(const char *name) { return test_path(tmpdir, name); }

static cltrain_train_options base(void) {
  cltrain_train_options o = cltrain_train_defaults();
  o.model_path = model;
  o.data_dir = tmpdir;
  o.out_path = path_in("out.onnx");
  o.checkpoint = path_in("run.ckpt");
  o.freeze = "all";
  o.augment = 0;
  o.image_size = 112;
  o.epochs = 3;
  o.batch_size = 4;
  o.sgd.lr = 0.01; /* large enough that the head moves visibly in 12 steps */
  o.seed = 5;
  o.workers = 1;
  o.keep_best = 0;
  return o;
}

/* Runs o with the given caching and returns its final state (from its checkpoint). */
static train_state run(cltrain_context *cx, cltrain_train_options o, cltrain_feature_cache mode,
                       cltrain_train_result *res) {
  train_state s;
  memset(&s, 0, sizeof s);
  o.cache_features = mode;
  if (CHECK_OK(cltrain_train_run(cx, &o, res))) CHECK_OK(checkpoint_read(cx, o.checkpoint, &s));
  unlink(o.checkpoint), unlink(o.out_path);
  return s;
}

/* 1 when the model's logits for an image are bitwise the same alone and in a batch of 3 (at the
 * test's 112x112), i.e. the backend's GEMMs give an image's columns the same rounding whatever
 * the batch; then cached and uncached runs must agree bitwise. */
static int batch_invariant(cltrain_context *cx) {
  enum { N = 3, PIX = 3 * 112 * 112 };
  cltrain_model *m = NULL;
  float *x = malloc(sizeof(float) * N * PIX), batch[N * 3], alone[N * 3];
  int same = 0;
  cltrain_head_options h = {sizeof h, 3, NULL, 0, 0.0f, 2};
  if (x && CHECK_OK(cltrain_model_load_onnx(cx, model, &m)) && CHECK_OK(cltrain_model_set_input_size(m, 112, 112)) &&
      CHECK_OK(cltrain_model_replace_head(m, &h))) {
    uint32_t r = 12345;
    for (int i = 0; i < N * PIX; i++) r = r * 1664525u + 1013904223u, x[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    CHECK_OK(cltrain_model_forward(m, x, N, batch));
    for (int i = 0; i < N; i++) CHECK_OK(cltrain_model_forward(m, x + (size_t)i * PIX, 1, alone + 3 * i));
    same = !memcmp(batch, alone, sizeof batch);
    printf("backend %s: an image's logits alone and in a batch of %d are %s\n", getenv("CLTRAIN_GEMM") ? getenv("CLTRAIN_GEMM") : "auto", N,
           same ? "bitwise equal: cached and uncached runs must be too" : "not bitwise equal: runs compared to float32 rounding");
  }
  cltrain_model_destroy(m);
  free(x);
  return same;
}
static int invariant; /* batch_invariant()'s answer */

/* The same weights, momentum and per-epoch loss and accuracy, after training that moved the
 * loss: bitwise on a batch-invariant backend. Otherwise the frozen part's features differ in
 * their last bits (rel ~1e-7) and the head trained on them by that much again: weights within
 * 1e-6 relative L2 (over all 11.2M values, of which the frozen ones are equal: a cache bug,
 * wrong or stale features, moves the head's weights by their whole update, 1e-4 of the total
 * and more); momentum, which only the head has (undiluted), within 1e-4 (seen: 1.5e-6; the
 * loss's gradient amplifies the features' rounding ~10x; a bug is an O(1) difference); each
 * history row's loss within 1e-5 relative and the accuracy equal. */
static void check_same(const char *what, const train_state *a, const train_state *b) {
  int ok = a->params && b->params && a->nparams == b->nparams && a->nparams > 11000000;
  if (invariant) {
    CHECK(ok && !memcmp(a->params, b->params, a->nparams * 4), "%s: weights bitwise equal", what);
    CHECK(ok && !memcmp(a->momentum, b->momentum, a->nparams * 4), "%s: momentum bitwise equal", what);
  } else if (ok) {
    double w = rel_l2(a->params, b->params, a->nparams), v = rel_l2(a->momentum, b->momentum, a->nparams);
    CHECK(w <= 1e-6, "%s: weights rel L2 %.2e <= 1e-6", what, w);
    CHECK(v <= 1e-4, "%s: momentum rel L2 %.2e <= 1e-4", what, v);
  } else
    CHECK(0, "%s: both runs have 11.2M+ parameters", what);
  CHECK(a->nrows == b->nrows && a->nrows > 0, "%s: %u and %u history rows", what, a->nrows, b->nrows);
  for (uint32_t r = 0; r < a->nrows && r < b->nrows; r++)
    CHECK(invariant ? a->rows[r].loss == b->rows[r].loss && a->rows[r].acc == b->rows[r].acc
                    : fabs(a->rows[r].loss - b->rows[r].loss) <= 1e-5 * fabs(b->rows[r].loss) && a->rows[r].acc == b->rows[r].acc,
          "%s: row %u loss %.9g vs %.9g, accuracy %g vs %g", what, r, a->rows[r].loss, b->rows[r].loss,
          a->rows[r].acc, b->rows[r].acc);
  CHECK(a->nrows >= 4 && a->rows[0].loss != a->rows[a->nrows - 2].loss, "%s: the train loss moved (%g to %g)",
        what, a->nrows ? a->rows[0].loss : 0, a->nrows >= 2 ? a->rows[a->nrows - 2].loss : 0);
}

/* The cache module alone, on the device and in host memory: filling and reading back give the
 * logits and gradients of the plain model calls, bitwise. */
static void check_module(cltrain_context *cx) {
  cltrain_model *m = NULL;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, model, &m))) return;
  cltrain_head_options h = {sizeof h, 3, NULL, 0, 0.0f, 2};
  CHECK_OK(cltrain_model_set_input_size(m, 64, 64));
  CHECK_OK(cltrain_model_replace_head(m, &h));
  CHECK_OK(cltrain_model_freeze(m, "all"));
  const char *why = "";
  int node = feature_cache_node(m, &why);
  const graph_node *nd = node > 0 ? &model_graph(m)->nodes[node] : NULL;
  CHECK(nd && nd->op == NODE_GLOBAL_AVGPOOL, "freeze all caches the global pool (node %d: %s)", node,
        nd ? nd->name : why);
  enum { N = 5, K = 3 };
  size_t per = 3 * 64 * 64;
  float *img = malloc(N * per * sizeof(float)), want[N * K], got[N * K], wg[3 * 512], gg[3 * 512], loss_w, loss_g;
  fill_uniform(img, N * per, 31, -2.0f, 2.0f);
  int labels[N] = {0, 2, 1, 1, 0};
  int32_t idx[N] = {3, 0, 6, 2, 5}, again[2] = {6, 3};
  CHECK_OK(cltrain_model_set_train(m, 1));
  CHECK_OK(cltrain_model_loss_grad(m, img, labels, N, &loss_w, want));
  CHECK_OK(cltrain_model_get_grad(m, "fc.weight", wg, 3 * 512, NULL));
  for (int host = 0; host < 2; host++) {
    feature_cache *c = NULL;
    if (!CHECK_OK(feature_cache_create(cx, m, node, 7, host ? 0 : 1 << 20, 1 << 20, &c))) continue;
    CHECK(feature_cache_on_device(c) == !host && !feature_cache_has(c, 3), "%s cache, empty",
          host ? "host" : "device");
    CHECK_OK(feature_cache_loss_grad(c, m, img, idx, labels, N, &loss_g, got)); /* fills */
    CHECK(feature_cache_has(c, 3) && !feature_cache_has(c, 1), "rows stored");
    CHECK(!memcmp(got, want, sizeof got) && loss_g == loss_w, "filling step: logits and loss bitwise");
    CHECK_OK(feature_cache_loss_grad(c, m, NULL, idx, labels, N, &loss_g, got)); /* reads */
    CHECK_OK(cltrain_model_get_grad(m, "fc.weight", gg, 3 * 512, NULL));
    CHECK(!memcmp(got, want, sizeof got) && loss_g == loss_w && !memcmp(gg, wg, sizeof gg),
          "cached step: logits, loss, fc.weight gradient bitwise");
    /* inference over a re-ordered subset: rows come back for their own images */
    CHECK_OK(feature_cache_forward(c, m, NULL, again, 2, got));
    CHECK(!memcmp(got, want + 2 * K, K * sizeof(float)) && !memcmp(got + K, want, K * sizeof(float)),
          "gathered rows belong to their images");
    CHECK_STATUS(feature_cache_forward(c, m, NULL, (int32_t[]){1}, 1, got), CLTRAIN_ERR_INTERNAL);
    feature_cache_destroy(c);
  }
  feature_cache *c = NULL;
  CHECK_STATUS(feature_cache_create(cx, m, node, 7, 100, 100, &c), CLTRAIN_ERR_OUT_OF_MEMORY);
  CHECK(c == NULL && strstr(cltrain_last_error(cx), "MiB"), "too big: %s", cltrain_last_error(cx));
  CHECK_OK(cltrain_model_freeze(m, "none"));
  CHECK(feature_cache_node(m, &why) < 0 && strstr(why, "first layer"), "nothing frozen: %s", why);
  CHECK_OK(cltrain_model_freeze(m, "upto:layer4.1.conv2"));
  CHECK(feature_cache_node(m, &why) < 0 && strstr(why, "residual"), "a cut through a residual block: %s", why);
  free(img);
  cltrain_model_destroy(m);
}

/* A fake small device (CLTRAIN_DEVICE_LIMITS mem=200M,alloc=48M): the device budget is the
 * smaller of a quarter of its memory and its largest allocation (48 MiB), so a cache of 30000 images of 512 floats (58.6 MiB) goes to host memory; a
 * caller that offers more than the device allows in one buffer is refused, naming the cache. */
static void check_limits(void) {
  setenv("CLTRAIN_DEVICE_LIMITS", "mem=200M,alloc=48M", 1);
  cltrain_context *cx = test_context();
  cltrain_model *m = NULL;
  cltrain_head_options h = cltrain_head_defaults();
  h.num_classes = 3, h.seed = 2;
  if (CHECK_OK(cltrain_model_load_onnx(cx, model, &m))) {
    CHECK_OK(cltrain_model_set_input_size(m, 64, 64));
    CHECK_OK(cltrain_model_replace_head(m, &h));
    CHECK_OK(cltrain_model_freeze(m, "all"));
    const char *why = "";
    int node = feature_cache_node(m, &why);
    feature_cache *c = NULL;
    size_t budget = feature_cache_device_budget(cx);
    CHECK(budget == 48u << 20, "device budget is the fake 48 MiB allocation: %zu", budget);
    if (CHECK_OK(feature_cache_create(cx, m, node, 30000, budget, (size_t)1 << 30, &c)))
      CHECK(!feature_cache_on_device(c), "58.6 MiB over the device budget: in host memory");
    feature_cache_destroy(c);
    c = NULL;
    long live = cltrain_debug_live_objects();
    CHECK_STATUS(feature_cache_create(cx, m, node, 30000, SIZE_MAX, 0, &c), CLTRAIN_ERR_OUT_OF_MEMORY);
    const char *msg = cltrain_last_error(cx);
    CHECK(c == NULL && strstr(msg, "the feature cache") && strstr(msg, "(48.0 MiB)") &&
              cltrain_debug_live_objects() == live,
          "over the fake 48 MiB allocation, refused by name before clCreateBuffer: %s", msg);
    cltrain_model_destroy(m);
  }
  cltrain_context_destroy(cx);
  unsetenv("CLTRAIN_DEVICE_LIMITS");
}

int main(void) {
  test_train_folder("cltrain_test_cache", tmpdir, sizeof tmpdir, model, sizeof model);
  cltrain_context *cx = test_context();
  check_module(cx);
  check_limits();
  invariant = batch_invariant(cx);

  cltrain_train_options o;
  cltrain_train_result res = cltrain_train_result_init();

  /* freeze all: cached (auto) vs not */
  o = base();
  train_state off = run(cx, o, CLTRAIN_CACHE_OFF, &res);
  CHECK(res.features_cached == 0, "off: no cache");
  train_state on = run(cx, o, CLTRAIN_CACHE_AUTO, &res);
  CHECK(res.features_cached == 1 && res.cache_mib > 0 && res.cache_node[0], "auto caches on the device (%d, %s)",
        res.features_cached, res.cache_node);
  check_same("freeze all", &on, &off);
  train_state_free(&on);

  /* resumed: 1 cached epoch, then 2 more in a second call (which fills its caches again) */
  o.epochs = 1;
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  o.epochs = 3, o.resume = path_in("run.ckpt"), o.checkpoint = path_in("resumed.ckpt");
  train_state resumed = run(cx, o, CLTRAIN_CACHE_AUTO, &res);
  check_same("resumed", &resumed, &off);
  train_state_free(&resumed);
  unlink(path_in("run.ckpt"));
  train_state_free(&off);

  /* a hidden head with dropout (the masks must follow the same steps) */
  int hidden[1] = {16};
  o = base();
  o.head_hidden = hidden, o.num_hidden = 1, o.dropout = 0.5f;
  off = run(cx, o, CLTRAIN_CACHE_OFF, &res);
  on = run(cx, o, CLTRAIN_CACHE_ON, &res);
  CHECK(res.features_cached == 1, "hidden head cached");
  check_same("hidden head", &on, &off);
  train_state_free(&on), train_state_free(&off);

  /* Another frozen set in a later call on the same context: layer4 trains, so the cache holds
   * layer3's output (256x7x7 per image), not the pooled features of the call before. */
  o = base();
  o.freeze = "stem,stage1,stage2,stage3";
  o.epochs = 2;
  on = run(cx, o, CLTRAIN_CACHE_ON, &res);
  CHECK(res.features_cached == 1 && !strncmp(res.cache_node, "layer3", 6), "cached at %s", res.cache_node);
  off = run(cx, o, CLTRAIN_CACHE_OFF, &res);
  check_same("layer4 trains", &on, &off);
  train_state_free(&on), train_state_free(&off);

  /* Refusals of a forced cache: CLTRAIN_ERR_ARG saying why, nothing written */
  struct {
    const char *freeze;
    int augment;
    cltrain_frozen_bn bn;
    const char *says;
  } refuse[] = {{"all", 1, CLTRAIN_FROZEN_BN_EVAL, "augment"},
                {"all", 0, CLTRAIN_FROZEN_BN_TRAIN, "FROZEN_BN_TRAIN"},
                {"none", 0, CLTRAIN_FROZEN_BN_EVAL, "first layer"},
                {"upto:layer4.1.conv2", 0, CLTRAIN_FROZEN_BN_EVAL, "residual"}};
  for (size_t k = 0; k < sizeof refuse / sizeof *refuse; k++) {
    o = base();
    o.freeze = refuse[k].freeze, o.augment = refuse[k].augment, o.frozen_bn = refuse[k].bn;
    o.cache_features = CLTRAIN_CACHE_ON;
    CHECK_STATUS(cltrain_train_run(cx, &o, &res), CLTRAIN_ERR_ARG);
    const char *msg = cltrain_last_error(cx);
    CHECK(strstr(msg, "cannot cache features") && strstr(msg, refuse[k].says), "refusal %zu: %s", k, msg);
    CHECK(access(o.out_path, F_OK) != 0 && access(o.checkpoint, F_OK) != 0, "refusal %zu: nothing written", k);
  }

  unlink(path_in("train")), unlink(path_in("val"));
  CHECK(rmdir(tmpdir) == 0, "no stray files left in %s", tmpdir);
  cltrain_context_destroy(cx);
  return check_done();
}
