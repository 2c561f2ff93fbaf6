/* test_memory.c: the activation plan. Inference keeps nothing for backward, freezing keeps less,
 * and buffers are shared where lifetimes allow: each regime must need less device memory than
 * the next-heavier one, and training everything far less than one buffer per node output and
 * gradient. The numbers are printed for the record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"

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
  /* Training only the head keeps just its 512-float inputs: the same pool as inference. */
  CHECK(bytes[0] <= bytes[1] && bytes[1] < bytes[2] && bytes[2] < bytes[3],
        "memory grows with what trains: inference %zu <= all %zu < upto:layer3 %zu < none %zu", bytes[0],
        bytes[1], bytes[2], bytes[3]);
  /* Backward reads about half the node outputs and gradients die quickly: well under 2/3. */
  CHECK(bytes[3] < naive * 2 / 3, "training everything plans %zu bytes, under 2/3 of the naive %zu", bytes[3], naive);
  /* A frozen backbone keeps nothing of it for backward: the head's inputs and the reuse pool. */
  CHECK(bytes[1] < bytes[3] / 3, "freeze all plans %zu bytes, under 1/3 of training everything (%zu)", bytes[1], bytes[3]);

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
  unsetenv("CLTRAIN_DEVICE_LIMITS");
  return check_done();
}
