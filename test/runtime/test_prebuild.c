/* test_prebuild.c: building a model's programs ahead on helper threads (program.c) changes no
 * result: a ResNet-18 step in a context that prebuilt and in one that did not (CLTRAIN_PREBUILD=0)
 * gives bitwise the same loss, logits and gradients, and on PoCL the walk noted the step's
 * programs (how many the helpers built first is a race with the step, so it is only printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"

enum { N = 2, CLASSES = 2 };

typedef struct run_out {
  float logits[N * CLASSES], loss;
  float *grads;
  int noted;
  unsigned long helper_builds;
} run_out;

static size_t total_params(cltrain_model *m) {
  size_t t = 0, c = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, t += c)
    cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), NULL, 0, &c);
  return t;
}

/* One training step (and an SGD step) in a fresh context; prebuild is "0" or "1". */
static void run(const char *path, const char *prebuild, const float *x, const int *labels, run_out *o) {
  setenv("CLTRAIN_PREBUILD", prebuild, 1);
  cltrain_context *cx = test_context();
  cltrain_model *m = NULL;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) exit(check_done());
  CHECK_OK(cltrain_model_freeze(m, "upto:layer2"));
  CHECK_OK(cltrain_model_loss_grad(m, x, labels, N, &o->loss, o->logits));
  cltrain_sgd_options sgd = cltrain_sgd_defaults();
  sgd.lr = 0.01f;
  CHECK_OK(cltrain_model_sgd_step(m, &sgd));
  CHECK_OK(cltrain_model_loss_grad(m, x, labels, N, &o->loss, o->logits));
  size_t at = 0, c = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, at += c)
    CHECK_OK(cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), o->grads + at, (size_t)-1, &c));
  rt_prebuild_stats(cx, &o->noted, &o->helper_builds);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
}

int main(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/whole_r18_bn.onnx", getenv("CLTRAIN_REF_DIR"));
  cltrain_context *cx = test_context();
  int pocl = strstr(cx->info.platform, "Portable Computing Language") != NULL;
  cltrain_model *m = NULL;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path, &m))) return check_done();
  const graph_desc *g = model_graph(m);
  size_t img = (size_t)g->in_c * g->in_h * g->in_w, np = total_params(m);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);

  float *x = malloc(N * img * sizeof(float));
  fill_uniform(x, N * img, 23, -2.0f, 2.0f);
  int labels[N] = {1, 0};
  run_out on = {.grads = malloc(np * sizeof(float))}, off = {.grads = malloc(np * sizeof(float))};
  run(path, "1", x, labels, &on);
  run(path, "0", x, labels, &off);
  CHECK(on.loss == off.loss, "loss the same (%.9g / %.9g)", on.loss, off.loss);
  CHECK(!memcmp(on.logits, off.logits, sizeof on.logits), "logits bitwise the same");
  CHECK(!memcmp(on.grads, off.grads, np * sizeof(float)), "gradients bitwise the same");
  CHECK(off.noted == 0, "CLTRAIN_PREBUILD=0 prebuilds nothing (%d noted)", off.noted);
  if (pocl)
    /* batch norm, pooling, add, relu, loss, SGD, fill, conv and linear at the least */
    CHECK(on.noted >= 8, "PoCL: the step's programs were noted for prebuilding (%d noted, %lu built by helpers)",
          on.noted, on.helper_builds);
  else
    printf("not PoCL: prebuilding is off there, only the results were compared\n");
  free(x), free(on.grads), free(off.grads);
  return check_done();
}
