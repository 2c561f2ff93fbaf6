// build_resnet.cpp: writes a freshly initialised torchvision ResNet-18/34 as an ONNX file (opset
// 13, BatchNormalization kept, torch's scoped node names and state_dict initializer names), so
// that cltrain can train from scratch without PyTorch. Every node gets its own initializers:
// torch's de-duplication into Identity nodes is what OpenCV 4.6 refuses (environment.md).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>

#include "opencv2/cltrain.h"
#include "atomic_file.h"
#include "rng.h"
#include "runtime.h"

namespace {

/* A stream of its own, so that model initialisation never shares numbers with the head,
 * shuffling, augmentation or dropout streams of rng.h (ids 1-4). */
const uint32_t RNG_STREAM_MODEL_INIT = 16;

struct build_error {
  cltrain_status st;
  std::string msg;
};

[[noreturn]] void fail(cltrain_status st, const std::string &msg) { throw build_error{st, msg}; }

struct builder {
  onnx::GraphProto *g;
  cltrain_rng rng;

  /* A standard normal draw by Box-Muller from two 53-bit uniforms; both outputs are used. */
  bool have_spare = false;
  double spare = 0;
  double gauss() {
    if (have_spare) {
      have_spare = false;
      return spare;
    }
    double u1 = rng_uniform_f64(&rng), u2 = rng_uniform_f64(&rng);
    double r = std::sqrt(-2.0 * std::log(1.0 - u1)); /* 1 - u1 is in (0, 1]: no log(0) */
    spare = r * std::sin(2.0 * M_PI * u2);
    have_spare = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

  void init(const std::string &name, std::vector<int64_t> dims, const std::vector<float> &v) {
    onnx::TensorProto *t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    t->set_raw_data(std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float)));
  }

  onnx::NodeProto *node(const std::string &name, const char *op, std::vector<std::string> in) {
    onnx::NodeProto *n = g->add_node();
    n->set_name(name);
    n->set_op_type(op);
    for (auto &s : in) n->add_input(s);
    n->add_output(name + "_output_0");
    return n;
  }

  static void ints(onnx::NodeProto *n, const char *name, std::vector<int64_t> v) {
    onnx::AttributeProto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  static void attr_i(onnx::NodeProto *n, const char *name, int64_t v) {
    onnx::AttributeProto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_f(onnx::NodeProto *n, const char *name, float v) {
    onnx::AttributeProto *a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  /* Conv without bias, kaiming_normal_(mode="fan_out", nonlinearity="relu") as torchvision:
   * std = sqrt(2 / (out_channels * kh * kw)). `scope` is "/layer1/layer1.0/conv1", `param` is
   * "layer1.0.conv1". Returns the output name. */
  std::string conv(const std::string &x, const std::string &scope, const std::string &param, int cin,
                   int cout, int k, int stride, int pad) {
    std::vector<float> w((size_t)cout * cin * k * k);
    double sd = std::sqrt(2.0 / ((double)cout * k * k));
    for (auto &v : w) v = (float)(sd * gauss());
    init(param + ".weight", {cout, cin, k, k}, w);
    onnx::NodeProto *n = node(scope + "/Conv", "Conv", {x, param + ".weight"});
    ints(n, "dilations", {1, 1});
    attr_i(n, "group", 1);
    ints(n, "kernel_shape", {k, k});
    ints(n, "pads", {pad, pad, pad, pad});
    ints(n, "strides", {stride, stride});
    return n->output(0);
  }

  /* BatchNormalization with weight 1, bias 0, running mean 0, running var 1 (torch's defaults). */
  std::string bn(const std::string &x, const std::string &scope, const std::string &param, int c) {
    init(param + ".weight", {c}, std::vector<float>(c, 1.0f));
    init(param + ".bias", {c}, std::vector<float>(c, 0.0f));
    init(param + ".running_mean", {c}, std::vector<float>(c, 0.0f));
    init(param + ".running_var", {c}, std::vector<float>(c, 1.0f));
    onnx::NodeProto *n = node(scope + "/BatchNormalization", "BatchNormalization",
                              {x, param + ".weight", param + ".bias", param + ".running_mean", param + ".running_var"});
    attr_f(n, "epsilon", 1e-5f);
    attr_f(n, "momentum", 0.9f); /* ONNX's momentum is 1 - torch's 0.1 */
    return n->output(0);
  }

  std::string relu(const std::string &x, const std::string &scope) { return node(scope + "/Relu", "Relu", {x})->output(0); }

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

void value_info(onnx::ValueInfoProto *v, const std::string &name, std::vector<int64_t> dims) {
  v->set_name(name);
  auto *tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

void build(const char *arch, int num_classes, uint64_t seed, const char *path) {
  std::vector<int> blocks;
  if (!std::strcmp(arch, "resnet18")) blocks = {2, 2, 2, 2};
  else if (!std::strcmp(arch, "resnet34")) blocks = {3, 4, 6, 3};
  else fail(CLTRAIN_ERR_ARG, std::string("cltrain_resnet_onnx: unknown architecture '") + arch + "' (resnet18, resnet34)");

  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("cltrain");
  model.set_producer_version(cltrain_version());
  onnx::OperatorSetIdProto *op = model.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  onnx::GraphProto *g = model.mutable_graph();
  g->set_name(arch);
  value_info(g->add_input(), "input", {1, 3, 224, 224});
  value_info(g->add_output(), "logits", {1, num_classes});

  builder b{g, rng_make(seed, RNG_STREAM_MODEL_INIT)};
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
  x = b.node("/avgpool/GlobalAveragePool", "GlobalAveragePool", {x})->output(0);
  onnx::NodeProto *fl = b.node("/Flatten", "Flatten", {x});
  builder::attr_i(fl, "axis", 1);
  x = fl->output(0);
  /* torch.nn.Linear's default: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), bias likewise */
  double bound = 1.0 / std::sqrt(512.0);
  std::vector<float> w((size_t)num_classes * 512), bias(num_classes);
  for (auto &v : w) v = (float)((2.0 * rng_uniform_f64(&b.rng) - 1.0) * bound);
  for (auto &v : bias) v = (float)((2.0 * rng_uniform_f64(&b.rng) - 1.0) * bound);
  b.init("fc.weight", {num_classes, 512}, w);
  b.init("fc.bias", {num_classes}, bias);
  onnx::NodeProto *fc = b.node("/fc/Gemm", "Gemm", {x, "fc.weight", "fc.bias"});
  builder::attr_f(fc, "alpha", 1.0f);
  builder::attr_f(fc, "beta", 1.0f);
  builder::attr_i(fc, "transB", 1);
  fc->set_output(0, "logits");

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    fail(CLTRAIN_ERR_INTERNAL, std::string("cltrain_resnet_onnx: onnx::checker rejects the graph: ") + e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) fail(CLTRAIN_ERR_INTERNAL, "cltrain_resnet_onnx: the model does not serialise");
  atomic_file f;
  if (int e = atomic_file_open(&f, path))
    fail(CLTRAIN_ERR_IO, std::string("cltrain_resnet_onnx: cannot write ") + path + ": " + strerror(e));
  if (int e = atomic_file_write(&f, bytes.data(), bytes.size()))
    fail(CLTRAIN_ERR_IO, std::string("cltrain_resnet_onnx: writing ") + path + " failed: " + strerror(e));
  try { /* the file is only useful if cv::dnn reads it */
    cv::dnn::Net net = cv::dnn::readNetFromONNX(f.tmp);
    if (net.empty()) fail(CLTRAIN_ERR_INTERNAL, "cltrain_resnet_onnx: cv::dnn read an empty net");
  } catch (...) {
    atomic_file_abort(&f);
    throw;
  }
  if (int e = atomic_file_commit(&f))
    fail(CLTRAIN_ERR_IO, std::string("cltrain_resnet_onnx: cannot put the finished file in place as ") + path + ": " + strerror(e));
}

}  // namespace

extern "C" cltrain_status cltrain_resnet_onnx(const char *arch, int num_classes, uint64_t seed, const char *path) {
  if (!arch || !path || !*path) return rt_fail(nullptr, CLTRAIN_ERR_ARG, "cltrain_resnet_onnx: NULL architecture or path");
  if (num_classes < 1)
    return rt_fail(nullptr, CLTRAIN_ERR_ARG, "cltrain_resnet_onnx: num_classes is %d, must be >= 1", num_classes);
  try {
    build(arch, num_classes, seed, path);
    return CLTRAIN_OK;
  } catch (const build_error &e) {
    return rt_fail(nullptr, e.st, "%s", e.msg.c_str());
  } catch (const cv::Exception &e) {
    return rt_fail(nullptr, CLTRAIN_ERR_OPENCV, "cltrain_resnet_onnx(%s): OpenCV: %s", path, e.what());
  } catch (const std::bad_alloc &) {
    return rt_fail(nullptr, CLTRAIN_ERR_OUT_OF_MEMORY, "cltrain_resnet_onnx(%s): out of host memory", path);
  } catch (const std::exception &e) {
    return rt_fail(nullptr, CLTRAIN_ERR_INTERNAL, "cltrain_resnet_onnx(%s): %s", path, e.what());
  } catch (...) {
    return rt_fail(nullptr, CLTRAIN_ERR_INTERNAL, "cltrain_resnet_onnx(%s): unknown exception", path);
  }
}
