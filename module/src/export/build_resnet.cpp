// build_resnet.cpp: writes a freshly initialised torchvision ResNet-18/34 as an ONNX file (opset
// 13, BatchNormalization kept, torch's scoped node names and state_dict initializer names), so
// that cltrain can train from scratch without PyTorch. Every node gets its own initializers:
// torch's de-duplication into Identity nodes is what OpenCV 4.6 refuses (environment.md).
#include <cstring>
#include <string>
#include <vector>

#include "export/onnx_builder.h"

namespace {

using namespace cltrain_build;

struct resnet_builder : builder {
  /* torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn, + identity or downsample, relu. */
  std::string basic_block(const std::string &x, int layer, int block, int cin, int cout, int stride) {
    std::string p = "layer" + std::to_string(layer) + "." + std::to_string(block);
    std::string s = "/layer" + std::to_string(layer) + "/" + p;
    std::string y = conv(x, s + "/conv1", p + ".conv1", cin, cout, 3, stride, 1);
    y = bn(y, s + "/bn1", p + ".bn1", cout);
    y = relu(y, s + "/relu");
    y = conv(y, s + "/conv2", p + ".conv2", cout, cout, 3, 1, 1);
    y = bn(y, s + "/bn2", p + ".bn2", cout);
    std::string skip = x;
    if (stride != 1 || cin != cout) {
      skip = conv(x, s + "/downsample/downsample.0", p + ".downsample.0", cin, cout, 1, stride, 0);
      skip = bn(skip, s + "/downsample/downsample.1", p + ".downsample.1", cout);
    }
    y = node(s + "/Add", "Add", {y, skip})->output(0);
    return relu(y, s + "/relu_1");
  }
};

void build(const char *arch, int num_classes, uint64_t seed, const char *path) {
  std::vector<int> blocks;
  if (!resnet_blocks(arch, &blocks))
    fail(CLTRAIN_ERR_ARG, std::string("cltrain_resnet_onnx: unknown architecture '") + arch + "' (it writes " +
                              RESNET_ARCHS + "; cltrain_init_onnx also writes " + MOBILE_ARCHS + ")");

  onnx::ModelProto model;
  resnet_builder b{new_model(model, arch, num_classes, seed)};
  std::string x = b.conv("input", "/conv1", "conv1", 3, 64, 7, 2, 3);
  x = b.bn(x, "/bn1", "bn1", 64);
  x = b.relu(x, "/relu");
  onnx::NodeProto *mp = b.node("/maxpool/MaxPool", "MaxPool", {x});
  builder::attr_i(mp, "ceil_mode", 0);
  builder::ints(mp, "kernel_shape", {3, 3});
  builder::ints(mp, "pads", {1, 1, 1, 1});
  builder::ints(mp, "strides", {2, 2});
  x = mp->output(0);
  int cin = 64;
  for (int l = 0; l < 4; l++) {
    int cout = 64 << l;
    for (int k = 0; k < blocks[l]; k++) {
      x = b.basic_block(x, l + 1, k, cin, cout, (k == 0 && l > 0) ? 2 : 1);
      cin = cout;
    }
  }
  x = b.pool_flatten(x);
  /* torch.nn.Linear's default: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias likewise */
  double bound = 1.0 / std::sqrt(512.0);
  std::vector<float> w((size_t)num_classes * 512), bias(num_classes);
  for (auto &v : w) v = (float)b.uniform(bound);
  for (auto &v : bias) v = (float)b.uniform(bound);
  b.linear(x, "/fc", "fc", 512, num_classes, w, bias, "logits");
  write_model(model, path, "cltrain_resnet_onnx");
}

}  // namespace

bool cltrain_build::resnet_blocks(const char *arch, std::vector<int> *blocks) {
  std::vector<int> b;
  if (!std::strcmp(arch, "resnet18")) b = {2, 2, 2, 2};
  else if (!std::strcmp(arch, "resnet34")) b = {3, 4, 6, 3};
  else return false;
  if (blocks) *blocks = b;
  return true;
}

extern "C" cltrain_status cltrain_resnet_onnx(const char *arch, int num_classes, uint64_t seed, const char *path) {
  return run_builder("cltrain_resnet_onnx", arch, num_classes, path, [&] { build(arch, num_classes, seed, path); });
}
