/* test_fusion.c: BN+ReLU fusion in the executor. A ResNet-18 with non-trivial BN statistics
 * (whole_r18_bn.onnx) runs each regime with the fused and the unfused plan: logits, loss and
 * every parameter gradient must be bitwise equal (the fused kernels do the same arithmetic in
 * the same order), and the fused plan must not need more device memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"

enum { N = 3, CLASSES = 2 };

typedef struct run_out {
  float logits[N * CLASSES], loss;
  float *grads; /* every tensor's gradient, in tensor order */
  size_t act_bytes;
} run_out;

static size_t total_params(cltrain_model *m) {
  size_t t = 0, c = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, t += c)
    cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), NULL, 0, &c);
  return t;
}

static void run(cltrain_model *m, int fuse, int train, const float *x, const int *labels, run_out *o) {
  model_set_fusion(m, fuse);
  CHECK_OK(cltrain_model_set_train(m, train));
  CHECK_OK(cltrain_model_loss_grad(m, x, labels, N, &o->loss, o->logits));
  o->act_bytes = model_activation_bytes(m);
  size_t at = 0, c = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, at += c)
    CHECK_OK(cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), o->grads + at, (size_t)-1, &c));
}

static int count_fused(const cltrain_model *m) {
  int k = 0;
  const graph_desc *g = model_graph(m);
  for (int i = 0; i < g->n; i++) k += model_is_fused(m, i) && g->nodes[i].op == NODE_BN;
  return k;
}

int main(void) {
  cltrain_context *cx = test_context();
  char path[1024];
  snprintf(path, sizeof path, "%s/whole_r18_bn.onnx", getenv("CLTRAIN_REF_DIR"));
  cltrain_model *m = NULL;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) return check_done();
  const graph_desc *g = model_graph(m);
  size_t img = (size_t)g->in_c * g->in_h * g->in_w, np = total_params(m);
  float *x = malloc(N * img * sizeof(float));
  fill_uniform(x, N * img, 41, -2.0f, 2.0f);
  int labels[N] = {1, 0, 1};
  run_out a = {.grads = malloc(np * sizeof(float))}, b = {.grads = malloc(np * sizeof(float))};

  const char *specs[] = {"none", "upto:layer3", "all"};
  for (int k = 0; k < 3; k++)
    for (int train = 0; train <= 1; train++) {
      CHECK_OK(cltrain_model_freeze(m, specs[k]));
      /* Unfused first: train mode updates the running statistics, which neither run reads
       * (batch statistics), and eval mode leaves them alone. */
      run(m, 0, train, x, labels, &b);
      CHECK(count_fused(m) == 0, "the unfused plan fused %d BN layers", count_fused(m));
      run(m, 1, train, x, labels, &a);
      /* ResNet-18: bn1 and the first BN of each of the 8 blocks feed only a ReLU; the second
       * BN of a block feeds the residual add. */
      CHECK(count_fused(m) == 9, "%s: %d BN layers fused, expected 9", specs[k], count_fused(m));
      printf("freeze %s, %s mode: loss %.7f, activations %.1f MiB fused, %.1f MiB unfused\n", specs[k],
             train ? "train" : "eval", a.loss, a.act_bytes / 1048576.0, b.act_bytes / 1048576.0);
      CHECK(!memcmp(a.logits, b.logits, sizeof a.logits), "%s/%d: logits differ", specs[k], train);
      CHECK(!memcmp(&a.loss, &b.loss, sizeof a.loss), "%s/%d: loss %.9g vs %.9g", specs[k], train,
            a.loss, b.loss);
      CHECK(!memcmp(a.grads, b.grads, np * sizeof(float)), "%s/%d: gradients differ", specs[k], train);
      CHECK(a.act_bytes <= b.act_bytes, "%s/%d: fused plan needs %zu bytes, unfused %zu", specs[k],
            train, a.act_bytes, b.act_bytes);
    }
  free(a.grads), free(b.grads), free(x);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return check_done();
}
