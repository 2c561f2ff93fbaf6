/* test_memory.c: the activation plan. Inference keeps nothing for backward, freezing keeps less,
 * kept outputs die once the last backward reading them has run, and ranges of one arena are
 * shared where lifetimes allow: each regime must need no more device memory than the
 * next-heavier one, and training everything far less than one buffer per node output and
 * gradient. The numbers are printed for the record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"

enum { STEP_N = 4 };

typedef struct step_out {
  float logits[STEP_N * 2], loss;
  float *grads; /* every tensor's gradient, in tensor order */
  size_t act_bytes, ngrads;
} step_out;

/* One training step (everything trains) of the model at `path` at batch STEP_N, on a context
 * made under the device limits `limits` (NULL: the device's own). */
static void train_step(const char *path, const char *limits, const float *x, step_out *o) {
  if (limits) setenv("CLTRAIN_DEVICE_LIMITS", limits, 1);
  cltrain_context *cx = test_context();
  unsetenv("CLTRAIN_DEVICE_LIMITS");
  cltrain_model *m = NULL;
  int labels[STEP_N] = {1, 0, 0, 1};
  if (CHECK_OK(cltrain_model_load_onnx(cx, path, &m)) &&
      CHECK_OK(cltrain_model_loss_grad(m, x, labels, STEP_N, &o->loss, o->logits))) {
    o->act_bytes = model_activation_bytes(m);
    size_t c = 0;
    o->ngrads = 0;
    for (int i = 0; cltrain_model_tensor_name(m, i); i++, o->ngrads += c) {
      CHECK_OK(cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), NULL, 0, &c));
      float *more = realloc(o->grads, (o->ngrads + c) * sizeof(float));
      if (!CHECK(more != NULL, "out of host memory")) break;
      o->grads = more;
      CHECK_OK(cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), o->grads + o->ngrads, c, &c));
    }
  }
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
}

int main(void) {
  cltrain_context *cx = test_context();
  char path[1024];
  snprintf(path, sizeof path, "%s/whole_r18_bn.onnx", getenv("CLTRAIN_REF_DIR"));
  cltrain_model *m = NULL;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) return check_done();
  const int n = 16;
  size_t naive = 0; /* every node output and its gradient in a buffer of its own */
  const graph_desc *g = model_graph(m);
  for (int i = 0; i < g->n; i++) naive += 2 * (size_t)n * g->nodes[i].c * g->nodes[i].h * g->nodes[i].w * sizeof(float);
  const char *specs[] = {"all", "upto:layer3", "none"};
  size_t bytes[4];
  CHECK_OK(model_reserve(m, n, 0));
  bytes[0] = model_activation_bytes(m);
  printf("batch %d, naive %.1f MiB; inference %.1f MiB", n, naive / 1048576.0, bytes[0] / 1048576.0);
  for (int k = 0; k < 3; k++) {
    CHECK_OK(cltrain_model_freeze(m, specs[k]));
    CHECK_OK(model_reserve(m, n, 1));
    bytes[k + 1] = model_activation_bytes(m);
    printf("; train %s %.1f MiB", specs[k], bytes[k + 1] / 1048576.0);
  }
  printf("\n");
  /* Training only the head keeps just its 512-float inputs; upto:layer3 keeps layer4's inputs,
   * which fit beside the forward's peak (conv1's 112x112 output): both may equal inference. */
  CHECK(bytes[0] <= bytes[1] && bytes[1] <= bytes[2] && bytes[2] < bytes[3],
        "memory grows with what trains: inference %zu <= all %zu <= upto:layer3 %zu < none %zu", bytes[0],
        bytes[1], bytes[2], bytes[3]);
  /* Backward reads about half the node outputs, each dies once the last backward reading it has
   * run, and gradients take the freed ranges: 354 of 1023 MiB here (0.35; it was 531 MiB, 0.52,
   * with every output kept to the end and buffers of their own). Under 2/5 leaves room for
   * alignment and device differences, not for keeping outputs to the end. */
  CHECK(bytes[3] < naive * 2 / 5, "training everything plans %zu bytes, under 2/5 of the naive %zu", bytes[3], naive);
  /* Inference: a BN writes over its conv's output where nothing else reads it (node_kinds.h,
   * in_place), and the arena places ranges largest first, so the forward's peak is conv1's
   * output and the max-pool's: 61.2 MiB of activations, 98.7 with the workspace and the max-pool
   * indices, 0.096 of the naive plan (it was 156.8, 0.153, with BN writing a buffer of its own
   * and buffers of their own). */
  CHECK(bytes[0] < naive / 10, "inference plans %zu bytes, under 0.1 of the naive %zu", bytes[0], naive);
  /* A frozen backbone keeps nothing of it for backward: inference's plan and the head's input
   * (16 x 512 floats = 32 KiB, plus alignment). */
  CHECK(bytes[1] <= bytes[0] + 64 * 1024, "freeze all plans %zu bytes, inference's %zu and the head's input", bytes[1],
        bytes[0]);

  /* A batch whose input images alone exceed the device's memory is refused before any buffer is
   * made, naming the device, with a hint; the model still plans a batch that fits afterwards. */
  size_t image_bytes = (size_t)g->in_c * g->in_h * g->in_w * sizeof(float);
  int huge = (int)(cx->info.global_mem_bytes / image_bytes + 1);
  CHECK_STATUS(model_reserve(m, huge, 1), CLTRAIN_ERR_OUT_OF_MEMORY);
  const char *msg = cltrain_last_error(cx);
  CHECK(strstr(msg, cx->info.name) && strstr(msg, "try a smaller batch"), "the message names the device: %s", msg);
  CHECK_OK(model_reserve(m, n, 1));
  size_t again = model_activation_bytes(m);
  CHECK(again == bytes[3], "after the refusal, batch %d plans %zu bytes as before (%zu)", n, again, bytes[3]);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);

  /* A device that allows less in one buffer than the arena needs (but each activation) gets the
   * plan in buffers of their own: the same timeline, more bytes (buffers cannot join). */
  setenv("CLTRAIN_DEVICE_LIMITS", "alloc=128M", 1);
  cx = test_context();
  if (CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) {
    CHECK_OK(model_reserve(m, n, 1));
    size_t split = model_activation_bytes(m);
    printf("batch %d, train none in buffers of their own (alloc=128M): %.1f MiB\n", n, split / 1048576.0);
    CHECK(split > bytes[3], "buffers of their own plan %zu bytes, more than the arena's %zu", split, bytes[3]);
    cltrain_model_destroy(m);
  }
  cltrain_context_destroy(cx);

  /* Placement changes no result: a step in the arena and one in buffers of their own (a 64 MiB
   * largest allocation: below the arena's ~90 MiB at batch 4, above the parameter block's 42.7
   * MiB and every activation's 12.3 MiB) give bitwise the same loss, logits and gradients. */
  {
    size_t img = image_bytes / sizeof(float);
    float *x = malloc(STEP_N * img * sizeof(float));
    step_out arena = {.grads = NULL}, own = {.grads = NULL};
    if (CHECK(x != NULL, "out of host memory")) {
      fill_uniform(x, STEP_N * img, 43, -2.0f, 2.0f);
      train_step(path, NULL, x, &arena);
      train_step(path, "alloc=64M", x, &own);
      printf("batch %d, train none: arena %.1f MiB, buffers of their own %.1f MiB\n", STEP_N,
             arena.act_bytes / 1048576.0, own.act_bytes / 1048576.0);
      CHECK(own.act_bytes > arena.act_bytes, "the 64 MiB limit planned buffers of their own (%zu bytes, arena %zu)",
            own.act_bytes, arena.act_bytes);
      CHECK(!memcmp(arena.logits, own.logits, sizeof arena.logits), "logits differ between placements");
      CHECK(!memcmp(&arena.loss, &own.loss, sizeof arena.loss), "loss %.9g vs %.9g", arena.loss, own.loss);
      CHECK(arena.ngrads == own.ngrads && arena.ngrads > 0 &&
                !memcmp(arena.grads, own.grads, arena.ngrads * sizeof(float)),
            "gradients differ between placements (%zu and %zu floats)", arena.ngrads, own.ngrads);
    }
    free(x), free(arena.grads), free(own.grads);
  }

  /* A fake small device (CLTRAIN_DEVICE_LIMITS): the check comes before any buffer is made, for
   * the total (plan) and for one buffer over the largest allocation (at 1024x1024, the conv workspace
   * or an activation buffer, whichever is larger: the message names it). */
  setenv("CLTRAIN_DEVICE_LIMITS", "mem=400M,alloc=64M", 1);
  cx = test_context();
  if (CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) {
    long live = cltrain_debug_live_objects();
    CHECK_STATUS(model_reserve(m, 64, 1), CLTRAIN_ERR_OUT_OF_MEMORY);
    msg = cltrain_last_error(cx);
    CHECK(strstr(msg, "which has 0.39 GiB") && strstr(msg, "a batch of 64"), "over the fake 400 MiB: %s", msg);
    CHECK(cltrain_debug_live_objects() == live, "no buffer made before the refusal (%ld -> %ld objects)", live,
          cltrain_debug_live_objects());
    CHECK_OK(cltrain_model_set_input_size(m, 1024, 1024));
    CHECK_STATUS(model_reserve(m, 1, 0), CLTRAIN_ERR_OUT_OF_MEMORY);
    msg = cltrain_last_error(cx);
    CHECK(strstr(msg, "largest buffer: ") && strstr(msg, "allows 0.06 GiB per buffer"),
          "one buffer over the fake 64 MiB allocation, named: %s", msg);
    CHECK(cltrain_debug_live_objects() == live, "no buffer made before that refusal either");
    CHECK_OK(cltrain_model_set_input_size(m, 224, 224));
    CHECK_OK(model_reserve(m, 2, 1)); /* a batch that fits */
    cltrain_model_destroy(m);
  }
  cltrain_context_destroy(cx);

  /* The plan in one arena over the device's memory (a fake 200 MiB device that allows it all in
   * one buffer; batch 4 trains in ~90 MiB of activations beside the parameter blocks' ~128): the
   * message names the arena, what takes the memory in MiB and, while layers below the head
   * train, freezing, which then fits; with only the head training, a batch too large for
   * inference's plan gets no freezing hint. */
  setenv("CLTRAIN_DEVICE_LIMITS", "mem=200M,alloc=200M", 1);
  cx = test_context();
  if (CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) {
    CHECK_STATUS(model_reserve(m, 4, 1), CLTRAIN_ERR_OUT_OF_MEMORY);
    msg = cltrain_last_error(cx);
    CHECK(strstr(msg, "which has 0.20 GiB (activation buffers ") && strstr(msg, " MiB in one arena, parameters") &&
              strstr(msg, "largest buffer: the activation arena (") &&
              strstr(msg, "try a smaller batch or input size, or train fewer layers (freeze more)") &&
              !strstr(msg, "activation buffer 0 of 1"),
          "the arena over the fake 200 MiB, in user terms: %s", msg);
    CHECK_OK(cltrain_model_freeze(m, "all"));
    CHECK_OK(model_reserve(m, 4, 1));
    CHECK_STATUS(model_reserve(m, 64, 1), CLTRAIN_ERR_OUT_OF_MEMORY);
    msg = cltrain_last_error(cx);
    CHECK(strstr(msg, "a batch of 64") && strstr(msg, "try a smaller batch or input size") && !strstr(msg, "freeze"),
          "only the head trains: no freezing hint: %s", msg);
    cltrain_model_destroy(m);
  }
  cltrain_context_destroy(cx);
  unsetenv("CLTRAIN_DEVICE_LIMITS");
  return check_done();
}
