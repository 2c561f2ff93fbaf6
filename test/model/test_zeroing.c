/* test_zeroing.c: a step zeroes only the gradients that can be nonzero (those that train, and
 * those an earlier step wrote). Two models run the same batches, one changing its freeze spec
 * between steps: every gradient must be bitwise what a model that trained the final regime all
 * along holds, which is what zeroing every gradient each step gave. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"

enum { N = 2, CLASSES = 2 };

static size_t total_params(cltrain_model *m) {
  size_t t = 0, c = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, t += c)
    cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), NULL, 0, &c);
  return t;
}

static void read_grads(cltrain_model *m, float *g) {
  size_t at = 0, c = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, at += c)
    CHECK_OK(cltrain_model_get_grad(m, cltrain_model_tensor_name(m, i), g + at, (size_t)-1, &c));
}

static void step(cltrain_model *m, const char *spec, const float *x, const int *labels) {
  float loss;
  CHECK_OK(cltrain_model_freeze(m, spec));
  CHECK_OK(cltrain_model_loss_grad(m, x, labels, N, &loss, NULL));
}

/* Sum of |g| over the gradients of frozen tensors, and the count of nonzero trained ones. */
static void census(cltrain_model *m, const float *g, double *frozen_abs, size_t *trained_nonzero) {
  size_t at = 0, c = 0;
  *frozen_abs = 0, *trained_nonzero = 0;
  for (int i = 0; cltrain_model_tensor_name(m, i); i++, at += c) {
    const char *name = cltrain_model_tensor_name(m, i);
    const model_tensor *t = model_find_tensor(m, name);
    c = t->count;
    for (size_t j = 0; j < c; j++) {
      if (model_is_frozen(m, t->node)) *frozen_abs += g[at + j] < 0 ? -g[at + j] : g[at + j];
      else *trained_nonzero += g[at + j] != 0.0f;
    }
  }
}

int main(void) {
  cltrain_context *cx = test_context();
  char path[1024];
  snprintf(path, sizeof path, "%s/whole_r18_bn.onnx", getenv("CLTRAIN_REF_DIR"));
  cltrain_model *a = NULL, *b = NULL;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path, &a)) || !CHECK_OK(cltrain_model_load_onnx(cx, path, &b)))
    return check_done();
  /* Frozen BN layers normalise with batch statistics, as trained ones do, so the forward pass
   * (and the running statistics it updates) is the same whatever is frozen. */
  CHECK_OK(cltrain_model_set_frozen_bn(a, CLTRAIN_FROZEN_BN_TRAIN));
  CHECK_OK(cltrain_model_set_frozen_bn(b, CLTRAIN_FROZEN_BN_TRAIN));
  const graph_desc *g = model_graph(a);
  size_t img = (size_t)g->in_c * g->in_h * g->in_w, np = total_params(a);
  float *x1 = malloc(N * img * sizeof(float)), *x2 = malloc(N * img * sizeof(float));
  float *ga = malloc(np * sizeof(float)), *gb = malloc(np * sizeof(float));
  fill_uniform(x1, N * img, 7, -2.0f, 2.0f);
  fill_uniform(x2, N * img, 8, -2.0f, 2.0f);
  int l1[N] = {1, 0}, l2[N] = {0, 1};

  /* {first regime of a, the regime both end in} */
  const char *seq[][2] = {{"none", "all"}, {"upto:layer3", "all"}, {"none", "upto:layer3"},
                          {"all", "none"}, {"layer2", "upto:layer4"}};
  for (size_t s = 0; s < sizeof seq / sizeof seq[0]; s++) {
    step(a, seq[s][0], x1, l1);
    step(b, seq[s][1], x1, l1);
    step(a, seq[s][1], x2, l2);
    step(b, seq[s][1], x2, l2);
    read_grads(a, ga);
    read_grads(b, gb);
    CHECK(!memcmp(ga, gb, np * sizeof(float)), "%s then %s: every gradient as if %s all along",
          seq[s][0], seq[s][1], seq[s][1]);
    double frozen_abs;
    size_t trained_nonzero;
    census(a, ga, &frozen_abs, &trained_nonzero);
    CHECK(frozen_abs == 0.0, "%s then %s: frozen gradients are zero (sum |g| = %g)", seq[s][0],
          seq[s][1], frozen_abs);
    CHECK(trained_nonzero > 0, "%s then %s: the trained gradients were computed", seq[s][0], seq[s][1]);
  }
  free(x1), free(x2), free(ga), free(gb);
  cltrain_model_destroy(a);
  cltrain_model_destroy(b);
  cltrain_context_destroy(cx);
  return check_done();
}
