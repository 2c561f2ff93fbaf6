/* cache.h: feature caching for head-only training. When nothing below the lowest trainable
 * layer trains and the images come from a deterministic transform, the output of the frozen
 * part (for ResNet-18 with `--freeze all`, the 512 global-average-pooled features) is the same
 * every epoch; it is kept per image, on the device when it fits, else in host memory, and
 * later epochs run only the layers above it. The cache knows nothing of the data: its owner
 * (train/loop.c) keys it by ImageFolder index and drops it when the model, the frozen set or
 * the data change. */
#ifndef CLTRAIN_CACHE_H
#define CLTRAIN_CACHE_H

#include <stdint.h>

#include "model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The node whose output can be cached for m as frozen now, in a pass whose frozen BN layers
 * run in eval mode: the producer of the lowest trainable layer's input, provided no node above
 * it reads anything from below it and nothing at or below it is random (dropout). Returns the
 * node, or -1 with a reason in *why (static text). */
int feature_cache_node(const cltrain_model *m, const char **why);

typedef struct feature_cache feature_cache;

/* The device memory a cache may take: a quarter of cx's device's, at most one allocation. */
size_t feature_cache_device_budget(const cltrain_context *cx);

/* A cache of `nimages` rows of node `node`'s output (one image's worth each) for m, in one
 * device buffer when it takes at most `device_budget` bytes, otherwise in host memory when it
 * takes at most `host_budget` bytes; beyond both, CLTRAIN_ERR_OUT_OF_MEMORY saying how much it
 * needs. */
cltrain_status feature_cache_create(cltrain_context *cx, const cltrain_model *m, int node, int nimages,
                                    size_t device_budget, size_t host_budget, feature_cache **out);
/* The same for one rank of a data-parallel run: rows for the `nslots` images of its share of
 * a pass (the rows are this rank's, and so is the memory check), keyed by image index < nimages. */
cltrain_status feature_cache_create_shard(cltrain_context *cx, const cltrain_model *m, int node, int nimages,
                                          int nslots, size_t device_budget, size_t host_budget,
                                          feature_cache **out);
void feature_cache_destroy(feature_cache *c); /* accepts NULL */

int feature_cache_on_device(const feature_cache *c);
int feature_cache_node_of(const feature_cache *c);
size_t feature_cache_bytes(const feature_cache *c);
int feature_cache_has(const feature_cache *c, int index); /* row `index` has been stored */

typedef struct dist dist;
/* Data-parallel training, once a pass has filled every rank's rows (a collective: every rank
 * of d calls it). Each rank keeps only its own rows; the ranks agree which rank holds each
 * image's (the lowest that stored it), and feature_cache_has then says whether any rank does.
 * exchange 0: later passes take the same shares (validation, unshuffled training), so each
 * rank reads its own rows. exchange 1: the shares change every epoch, so every cached step of
 * feature_cache_loss_grad becomes a collective that brings each rank's batch rows (of at most
 * `batch` images) from their owners. */
cltrain_status feature_cache_share(feature_cache *c, dist *d, int exchange, int batch);

/* One training step (the caller then does the SGD step). With images, the n images (in the
 * model's input layout) run forward up to the cached node, their features are stored in rows
 * idx[0..n), and the step goes on from there: the same arithmetic as cltrain_model_loss_grad.
 * With images NULL, rows idx[0..n) (all stored) are put in the cached node's buffer and only
 * the layers above it run. */
cltrain_status feature_cache_loss_grad(feature_cache *c, cltrain_model *m, const float *images,
                                       const int32_t *idx, const int *labels, int n, float *loss, float *logits);

/* The device row moves (kernels/cache.cl), for the cache and for tests: writes idx[0..n) into
 * idx_mem (n ints), then store 1 copies batch row b of y (n rows of `row` floats) to row idx[b]
 * of `cache`, store 0 copies cache row idx[b] to batch row b. */
cltrain_status feature_rows_move(cltrain_context *cx, buf y, cl_mem cache, cl_mem idx_mem,
                                 const int32_t *idx, size_t row, int n, int store);
/* The same for an inference pass (cltrain_model_forward): logits (n, classes) on the host. */
cltrain_status feature_cache_forward(feature_cache *c, cltrain_model *m, const float *images,
                                     const int32_t *idx, int n, float *logits);

#ifdef __cplusplus
}
#endif
#endif
