/* test_threads.c: cltrain.h's threading contract. Two jobs, each with a context of its own
 * (job A with Winograd on every 3x3 convolution, job B without: options are per context), load
 * the refs' ResNet-18 at 32x32, get a seeded new head, and take 3 SGD steps on seeded batches
 * in train mode. Run one after the other, then at the same time in two threads, each job's
 * weights must be bitwise the same: nothing is shared between contexts. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static char model_path[1024]; /* set before any thread starts (test_path is not thread-safe) */

typedef struct job {
  uint64_t seed;
  int winograd;
  float *params; /* every tensor, concatenated in tensor order */
  size_t count;
  cltrain_status st;
  char error[512];
} job;

enum { SIZE = 32, BATCH = 4, STEPS = 3, CLASSES = 3 };

static cltrain_status run_job(job *j) {
  cltrain_context *cx = NULL;
  cltrain_model *m = NULL;
  float *x = malloc(sizeof(float) * BATCH * 3 * SIZE * SIZE);
  cltrain_status st = cltrain_context_create(getenv("CLTRAIN_DEVICE"), &cx);
  if (!st) st = cltrain_context_set_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, j->winograd);
  if (!st) st = cltrain_model_load_onnx(cx, model_path, &m);
  if (!st) st = cltrain_model_set_input_size(m, SIZE, SIZE);
  cltrain_head_options h = cltrain_head_defaults();
  h.num_classes = CLASSES, h.seed = j->seed;
  if (!st) st = cltrain_model_replace_head(m, &h);
  if (!st) st = cltrain_model_set_train(m, 1);
  cltrain_sgd_options o = cltrain_sgd_defaults();
  o.lr = 0.01;
  for (int k = 0; k < STEPS && !st; k++) {
    int labels[BATCH];
    for (int b = 0; b < BATCH; b++) labels[b] = (int)((j->seed + k + b) % CLASSES);
    fill_uniform(x, (size_t)BATCH * 3 * SIZE * SIZE, j->seed * 100 + k, -2, 2);
    float loss;
    st = cltrain_model_loss_grad(m, x, labels, BATCH, &loss, NULL);
    if (!st) st = cltrain_model_sgd_step(m, &o);
  }
  size_t total = 0, n;
  for (int t = 0; !st && cltrain_model_tensor_name(m, t); t++)
    if (!(st = cltrain_model_get_param(m, cltrain_model_tensor_name(m, t), NULL, 0, &n))) total += n;
  if (!st) j->params = malloc(total * sizeof(float)), j->count = total;
  for (size_t t = 0, off = 0; !st && cltrain_model_tensor_name(m, (int)t); t++) {
    st = cltrain_model_get_param(m, cltrain_model_tensor_name(m, (int)t), j->params + off, total - off, &n);
    off += n;
  }
  if (st) snprintf(j->error, sizeof j->error, "%s", cltrain_last_error(cx) /* cx NULL: this thread's */);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  free(x);
  return j->st = st;
}

static void *thread_main(void *arg) {
  run_job(arg);
  return NULL;
}

int main(void) {
  if (!getenv("CLTRAIN_REF_DIR")) return fprintf(stderr, "CLTRAIN_REF_DIR is not set\n"), 1;
  snprintf(model_path, sizeof model_path, "%s/whole_r18_bn.onnx", getenv("CLTRAIN_REF_DIR"));
  job alone[2] = {{.seed = 1, .winograd = 2}, {.seed = 2, .winograd = 0}};
  job both[2] = {alone[0], alone[1]};
  for (int i = 0; i < 2; i++) CHECK(run_job(&alone[i]) == CLTRAIN_OK, "job %d alone: %s", i, alone[i].error);
  pthread_t th[2];
  for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, thread_main, &both[i]) == 0, "thread %d starts", i);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 2; i++) {
    CHECK(both[i].st == CLTRAIN_OK, "job %d in a thread: %s", i, both[i].error);
    if (!alone[i].params || !both[i].params) continue;
    CHECK(alone[i].count == both[i].count && alone[i].count > 11000000, "job %d: %zu parameters", i, alone[i].count);
    size_t diff = 0;
    for (size_t k = 0; k < alone[i].count && k < both[i].count; k++)
      diff += memcmp(&alone[i].params[k], &both[i].params[k], sizeof(float)) != 0;
    CHECK(diff == 0, "job %d: the threaded run's weights are bitwise the lone run's (%zu differ)", i, diff);
  }
  /* The jobs differ (seeds, data, Winograd), so equal results above are not a coincidence. */
  if (alone[0].params && alone[1].params)
    CHECK(memcmp(alone[0].params, alone[1].params, alone[0].count * sizeof(float)) != 0, "the two jobs differ");
  for (int i = 0; i < 2; i++) free(alone[i].params), free(both[i].params);
  return check_done();
}
