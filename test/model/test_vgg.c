/* test_vgg.c: VGG-11 with BN (torchvision's vgg11_bn: conv-BN-ReLU stacks between max-pools, its
 * AdaptiveAvgPool2d(7) exported as a 1x1 AveragePool, and a Linear-ReLU-Linear-ReLU-Linear
 * classifier), imported from torchvision's ONNX export at 224x224 (the smallest size that
 * exports: test/ref/ref_vgg.py), against PyTorch: eval-mode logits, loss and every gradient, a
 * 2-step train-mode SGD trajectory and its export (cv::dnn must match); its stages (the pooling
 * groups); then a new head after classifier.0..5, which stay trainable and can be frozen by name
 * (one step leaves classifier.0 bitwise as it was), exported. One model load and batches of 2:
 * at 129M parameters and ~46 GFLOP a step, each load, step and export costs seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/model.h"
#include "reftensor.h"
#include "wholemodel.h"

/* torchvision's sum(p.numel() for p in vgg11_bn(num_classes=4).parameters()) */
#define VGG11_PARAMS ((size_t)128788228)

/* stem, stage1..4 and head each start at torchvision's module (the pooling boundaries) */
static void check_stages(cltrain_model *m) {
  static const struct {
    const char *alias, *first;
  } want[] = {{"stem", "features.0"},   {"stage1", "features.4"},  {"stage2", "features.8"},
              {"stage3", "features.15"}, {"stage4", "features.22"}, {"head", "avgpool"}};
  const graph_desc *g = model_graph(m);
  CHECK(g->nstages == 4, "vgg11_bn: 4 stages between stem and head (got %d)", g->nstages);
  for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
    int first = -1;
    CHECK(graph_select(g, want[k].alias, &first, 1) > 0 && !strcmp(g->nodes[first].name, want[k].first),
          "vgg11_bn: %s starts at %s (got %s)", want[k].alias, want[k].first, first > 0 ? g->nodes[first].name : "none");
  }
}

/* One SGD step with classifier.0 frozen: its weight and bias come back bitwise, classifier.3's
 * and the new fc's move. */
static void frozen_by_name(cltrain_model *m) {
  CHECK_OK(cltrain_model_freeze(m, "classifier.0"));
  int frozen = 0;
  CHECK_OK(cltrain_model_is_frozen(m, "classifier.0", &frozen));
  CHECK(frozen, "classifier.0 is frozen by name");
  size_t per = 3 * 224 * 224;
  float *img = malloc(BATCH * per * sizeof(float));
  fill_uniform(img, BATCH * per, 43, -2.0f, 2.0f);
  int labels[BATCH] = {2, 0};
  float *before[MAX_TENSORS] = {0};
  int nt = sgd_steps(m, before, 1, img, labels, BATCH, 0);
  static const struct {
    const char *tensor;
    int moves;
  } want[] = {{"classifier.0.weight", 0}, {"classifier.0.bias", 0}, {"classifier.3.weight", 1}, {"fc.weight", 1}};
  for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
    int t = 0;
    while (t < nt && strcmp(cltrain_model_tensor_name(m, t), want[k].tensor)) t++;
    if (!CHECK(t < nt, "%s is a tensor of the model", want[k].tensor)) continue;
    size_t count;
    CHECK_OK(cltrain_model_get_param(m, want[k].tensor, NULL, 0, &count));
    float *v = malloc(count * sizeof(float));
    CHECK_OK(cltrain_model_get_param(m, want[k].tensor, v, count, NULL));
    int same = !memcmp(v, before[t], count * sizeof(float));
    CHECK(same == !want[k].moves, "after a step with classifier.0 frozen, %s %s", want[k].tensor,
          same ? "is unchanged" : "moved");
    free(v);
  }
  for (int t = 0; t < nt; t++) free(before[t]);
  free(img);
}

int main(void) {
  cltrain_context *cx = test_context();
  char path[1024];
  cltrain_model *m = load_checked(cx, "vgg11_bn.onnx", VGG11_PARAMS, 224, path, sizeof path);
  if (m) {
    check_stages(m);
    /* Eval-mode gradients near kinks: at 224x224 a batch holds dozens of ReLU inputs within
     * float32's rounding error (~1e-5) of 0, and on this one PyTorch-float32 flips a ReLU in
     * features.13 and .17 and a max-pool choice in features.14 and .21 against float64; each
     * moves the gradients of every layer below by ~5e-3 (PyTorch-float32's own error there:
     * 3.6e-3 median, 5.9e-3 worst; above them 1e-4 holds). No batch of this size keeps clear of
     * every kink (ref_mobilenet.kink_margin's 5x), so those tensors get the 3x rule. Eval mode
     * moves nothing, so the trajectory starts from the same model. */
    check_mode(m, "vgg11", "eval", 0, 1, count_learnable(m));
    check_trajectory(m, "vgg11_traj", 2);
    export_checked(m, "after the trajectory");
    /* A new 3-class head after classifier.0..5 (Linear, ReLU, Dropout, Linear, ReLU, Dropout). */
    cltrain_head_options h = cltrain_head_defaults();
    h.num_classes = 3;
    CHECK_OK(cltrain_model_replace_head(m, &h));
    CHECK(model_find_tensor(m, "classifier.0.weight") && model_find_tensor(m, "classifier.3.weight") &&
              !model_find_tensor(m, "classifier.6.weight"),
          "the new head replaces classifier.6 alone");
    frozen_by_name(m);
    export_checked(m, "with a new head");
    cltrain_model_destroy(m);
  }
  cltrain_context_destroy(cx);
  return check_done();
}
