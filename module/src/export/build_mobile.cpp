// build_mobile.cpp: writes a freshly initialised torchvision 0.14 MobileNetV3-small or
// EfficientNet-B0 as ONNX, as torch.onnx.export (opset 13) writes them with BN kept: hardswish
// as x * HardSigmoid(x), SiLU as x * Sigmoid(x), squeeze-excitation as GlobalAveragePool, two
// 1x1 convs with bias and a per-channel Mul; torch's scoped node names and state_dict
// initializer names. Initialisation as torchvision's: every conv kaiming_normal_(fan_out) with
// zero bias, BN weight 1, bias 0 (running mean 0, var 1); MobileNetV3's Linears N(0, 0.01),
// EfficientNet's U(+-1/sqrt(out_features)), both with zero bias. Stochastic depth and Dropout
// are the identity at inference and absent from the graph, as in torch's export.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "export/onnx_builder.h"

namespace {

using namespace cltrain_build;

/* A module's place in torch's naming: `param` is its state_dict prefix ("features.1.block.0"),
 * `scope` its node scope ("/features/features.1/block/block.0"), where a numbered child's scope
 * part is its parent's part with ".N" appended, and a named child's part is its name. */
struct where {
  std::string scope, param, part;
  where child(const std::string &name) const {
    bool numbered = std::isdigit((unsigned char)name[0]);
    std::string p = numbered ? part + "." + name : name;
    return {scope + "/" + p, param.empty() ? name : param + "." + name, p};
  }
  where child(int k) const { return child(std::to_string(k)); }
};

/* torchvision's _make_divisible(v, 8) */
int make_divisible(double v) {
  int n = std::max(8, (int)(v + 4) / 8 * 8);
  return n < 0.9 * v ? n + 8 : n;
}

enum act { NONE, RELU, HARDSWISH, SILU };

struct mobile_builder : builder {
  float eps, momentum; /* the family's BN (ONNX momentum) */

  /* gate(x): HardSigmoid (alpha 1/6, as torch exports Hardsigmoid) or Sigmoid, in `s`'s scope */
  std::string gate(const std::string &x, const where &s, bool hard) {
    if (!hard) return node(s.scope + "/Sigmoid", "Sigmoid", {x})->output(0);
    onnx::NodeProto *n = node(s.scope + "/HardSigmoid", "HardSigmoid", {x});
    attr_f(n, "alpha", 1.0f / 6.0f);
    return n->output(0);
  }

  std::string activation(const std::string &x, const where &s, act a) {
    if (a == RELU) return relu(x, s.scope);
    if (a == NONE) return x;
    return node(s.scope + "/Mul", "Mul", {x, gate(x, s, a == HARDSWISH)})->output(0); /* x * gate(x) */
  }

  /* torchvision's Conv2dNormActivation: conv (no bias) .0, BN .1, activation .2 */
  std::string conv_bn_act(const std::string &x, const where &s, int cin, int cout, int k, int stride, int groups, act a) {
    std::string y = conv(x, s.child(0).scope, s.child(0).param, cin, cout, k, stride, (k - 1) / 2, groups);
    y = bn(y, s.child(1).scope, s.child(1).param, cout, eps, momentum);
    return activation(y, s.child(2), a);
  }

  /* torchvision's SqueezeExcitation: x * gate(fc2(inner(fc1(avgpool(x))))) */
  std::string squeeze_excite(const std::string &x, const where &s, int c, int squeeze, act inner, bool hard_gate) {
    std::string y = node(s.child("avgpool").scope + "/GlobalAveragePool", "GlobalAveragePool", {x})->output(0);
    y = conv(y, s.child("fc1").scope, s.child("fc1").param, c, squeeze, 1, 1, 0, 1, true);
    y = activation(y, s.child("activation"), inner);
    y = conv(y, s.child("fc2").scope, s.child("fc2").param, squeeze, c, 1, 1, 0, 1, true);
    y = gate(y, s.child("scale_activation"), hard_gate);
    return node(s.scope + "/Mul", "Mul", {y, x})->output(0);
  }

  /* One inverted-residual block (MobileNetV3's InvertedResidual, EfficientNet's MBConv) at
   * `s`: expand 1x1 (when exp != cin), depthwise k x k, squeeze-excitation (squeeze > 0),
   * project 1x1, and the residual Add when the shape allows. */
  std::string inverted_residual(const std::string &x, const where &s, int cin, int exp, int cout, int k, int stride,
                                int squeeze, act a, act se_inner, bool hard_gate) {
    where blk = s.child("block");
    int j = 0;
    std::string y = x;
    if (exp != cin) y = conv_bn_act(y, blk.child(j++), cin, exp, 1, 1, 1, a);
    y = conv_bn_act(y, blk.child(j++), exp, exp, k, stride, exp, a);
    if (squeeze > 0) y = squeeze_excite(y, blk.child(j++), exp, squeeze, se_inner, hard_gate);
    y = conv_bn_act(y, blk.child(j++), exp, cout, 1, 1, 1, NONE);
    if (stride == 1 && cin == cout) y = node(s.scope + "/Add", "Add", {y, x})->output(0);
    return y;
  }
};

/* torchvision's mobilenet_v3_small: features.0..12, classifier Linear-Hardswish-Dropout-Linear */
void mobilenet_v3_small(mobile_builder &b, int num_classes) {
  struct cfg {
    int cin, k, exp, cout;
    bool se, hs;
    int stride;
  };
  static const cfg blocks[] = {
      {16, 3, 16, 16, true, false, 2},  {16, 3, 72, 24, false, false, 2}, {24, 3, 88, 24, false, false, 1},
      {24, 5, 96, 40, true, true, 2},   {40, 5, 240, 40, true, true, 1},  {40, 5, 240, 40, true, true, 1},
      {40, 5, 120, 48, true, true, 1},  {48, 5, 144, 48, true, true, 1},  {48, 5, 288, 96, true, true, 2},
      {96, 5, 576, 96, true, true, 1},  {96, 5, 576, 96, true, true, 1},
  };
  where features = where{"", "", ""}.child("features");
  std::string x = b.conv_bn_act("input", features.child(0), 3, 16, 3, 2, 1, HARDSWISH);
  int n = 1;
  for (const cfg &c : blocks)
    x = b.inverted_residual(x, features.child(n++), c.cin, c.exp, c.cout, c.k, c.stride,
                            c.se ? make_divisible(c.exp / 4) : 0, c.hs ? HARDSWISH : RELU, RELU, true);
  x = b.conv_bn_act(x, features.child(n), 96, 576, 1, 1, 1, HARDSWISH);
  x = b.pool_flatten(x);
  where classifier = where{"", "", ""}.child("classifier");
  const int hidden = 1024;
  std::vector<float> w((size_t)hidden * 576), w3((size_t)num_classes * hidden);
  for (auto &v : w) v = (float)(0.01 * b.gauss());
  for (auto &v : w3) v = (float)(0.01 * b.gauss());
  x = b.linear(x, classifier.child(0).scope, classifier.child(0).param, 576, hidden, w, std::vector<float>(hidden, 0.0f));
  x = b.activation(x, classifier.child(1), HARDSWISH);
  b.linear(x, classifier.child(3).scope, classifier.child(3).param, hidden, num_classes, w3,
           std::vector<float>(num_classes, 0.0f), "logits");
}

/* torchvision's efficientnet_b0: features.0..8 (stages of MBConv blocks features.S.B),
 * classifier Dropout-Linear */
void efficientnet_b0(mobile_builder &b, int num_classes) {
  struct stage {
    int expand, k, stride, cin, cout, layers;
  };
  static const stage stages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},
                                 {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                                 {6, 3, 1, 192, 320, 1}};
  where features = where{"", "", ""}.child("features");
  std::string x = b.conv_bn_act("input", features.child(0), 3, 32, 3, 2, 1, SILU);
  int n = 1;
  for (const stage &s : stages) {
    where st = features.child(n++);
    for (int k = 0; k < s.layers; k++) {
      int cin = k ? s.cout : s.cin;
      x = b.inverted_residual(x, st.child(k), cin, make_divisible(cin * s.expand), s.cout, s.k, k ? 1 : s.stride,
                              std::max(1, cin / 4), SILU, SILU, false);
    }
  }
  x = b.conv_bn_act(x, features.child(n), 320, 1280, 1, 1, 1, SILU);
  x = b.pool_flatten(x);
  where classifier = where{"", "", ""}.child("classifier");
  std::vector<float> w((size_t)num_classes * 1280);
  double bound = 1.0 / std::sqrt((double)num_classes);
  for (auto &v : w) v = (float)b.uniform(bound);
  b.linear(x, classifier.child(1).scope, classifier.child(1).param, 1280, num_classes, w,
           std::vector<float>(num_classes, 0.0f), "logits");
}

void build(const char *arch, int num_classes, uint64_t seed, const char *path) {
  bool mnv3 = !std::strcmp(arch, "mobilenet_v3_small");
  if (!mnv3 && std::strcmp(arch, "efficientnet_b0"))
    fail(CLTRAIN_ERR_ARG, std::string("cltrain_init_onnx: unknown architecture '") + arch + "' (" + RESNET_ARCHS +
                              ", " + MOBILE_ARCHS + ")");
  onnx::ModelProto model;
  /* MobileNetV3's BatchNorm2d(eps=0.001, momentum=0.01), EfficientNet-B0's defaults (1e-5, 0.1) */
  mobile_builder b{new_model(model, arch, num_classes, seed), mnv3 ? 1e-3f : 1e-5f, mnv3 ? 0.99f : 0.9f};
  if (mnv3) mobilenet_v3_small(b, num_classes);
  else efficientnet_b0(b, num_classes);
  write_model(model, path, "cltrain_init_onnx");
}

}  // namespace

extern "C" cltrain_status cltrain_init_onnx(const char *arch, int num_classes, uint64_t seed, const char *path) {
  if (arch && resnet_blocks(arch, nullptr)) return cltrain_resnet_onnx(arch, num_classes, seed, path);
  return run_builder("cltrain_init_onnx", arch, num_classes, path, [&] { build(arch, num_classes, seed, path); });
}
