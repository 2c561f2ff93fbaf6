/* train_internal.h: what the training loop (loop.c) shares with its checkpoints
 * (checkpoint.c) and its plot (plot.cpp): per-phase history rows, the model's optimizer state
 * on the host, and atomic file writes. */
#ifndef CLTRAIN_TRAIN_INTERNAL_H
#define CLTRAIN_TRAIN_INTERNAL_H

#include <stdint.h>

#include "model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One phase of one epoch, as the CSV log has it. */
typedef struct train_row {
  int32_t epoch; /* 1-based */
  int32_t phase; /* 0 train, 1 val */
  double loss, acc, lr, seconds, images_per_s, data_wait;
} train_row;

/* Everything a run needs to continue bitwise: the model's state, the best weights, the
 * history. params/momentum/best are nparams floats; has_momentum is ntensors bytes. */
typedef struct train_state {
  uint64_t fingerprint;
  char *options;          /* the options that change the result, "key=value\n" lines */
  int32_t epochs_done;
  int64_t steps;
  int32_t best_epoch;     /* 1-based, 0: the initial weights */
  double best_acc;
  uint64_t dropout_step;
  uint64_t nparams;
  float *params, *momentum, *best;
  uint32_t ntensors;
  unsigned char *has_momentum;
  uint32_t nrows;
  train_row *rows;
} train_state;

void train_state_free(train_state *s); /* frees the members */

/* A hash of the model's tensor names, sizes and kinds and of its initial weights `params`
 * (nparams floats: the source file's, with the seeded new head), so that a checkpoint of
 * another architecture or of other pretrained weights is refused. */
uint64_t model_fingerprint(const cltrain_model *m, const float *params);

/* Copies the model's weights (BN statistics included), momentum buffers, has_momentum flags and
 * dropout step into s (not the fingerprint) (allocating params/momentum/has_momentum when NULL), and back. */
cltrain_status model_state_save(cltrain_model *m, train_state *s);
cltrain_status model_state_restore(cltrain_model *m, const train_state *s);

/* The checkpoint file: magic "CLTRCKPT", version, the state, CRC-32 of everything before it.
 * Written atomically. Reading refuses a bad magic, version, size or checksum
 * (CLTRAIN_ERR_FORMAT naming the file). */
cltrain_status checkpoint_write(cltrain_context *cx, const char *path, const train_state *s);
cltrain_status checkpoint_read(cltrain_context *cx, const char *path, train_state *s);
/* checkpoint_read's parser: the n bytes of a checkpoint file, `path` naming them in messages.
 * On failure s is left zeroed. */
cltrain_status checkpoint_parse(cltrain_context *cx, const char *path, const void *data, size_t n,
                                train_state *s);
/* The bytes of the file at `path` (malloc'ed, *out freed by the caller): checkpoint_read's
 * first half, for a distributed run whose rank 0 reads and broadcasts them. */
cltrain_status checkpoint_read_bytes(cltrain_context *cx, const char *path, unsigned char **out, size_t *size);
/* The CRC-32 (IEEE, as zlib's crc32) of n bytes: a checkpoint file ends with that of the rest. */
uint32_t checkpoint_crc32(const void *data, size_t n);

/* Writes `bytes` to `path` through a temporary file in the same folder (`path`.tmp.XXXXXX),
 * fsync and rename. A crash leaves `path` as it was, and at most that temporary file. */
cltrain_status atomic_write(cltrain_context *cx, const char *path, const void *data, size_t bytes);

/* Deletes the temporary files a crashed atomic_write of `path` left behind. */
void remove_stale_temps(const char *path);

/* Test hooks (crash tests only): whether environment variable `var` is set to n. The hooks are
 * CLTRAIN_TEST_KILL_AT_STEP=N (SIGKILL once N SGD steps are done, in loop.c) and
 * CLTRAIN_TEST_KILL_IN_WRITE=N (SIGKILL halfway through the N-th atomic write's temporary file). */
int test_hook_at(const char *var, long long n);

/* CLTRAIN_ERR_IO naming the folder unless a file can be created in the folder of `path`. */
cltrain_status check_writable(cltrain_context *cx, const char *path, const char *what);

/* Loss and accuracy curves, train and val, with axes and a legend, as a PNG (atomically). */
cltrain_status train_plot(cltrain_context *cx, const char *path, const train_row *rows, int nrows);

#ifdef __cplusplus
}
#endif
#endif
