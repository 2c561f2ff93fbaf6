// onnx_builder.h: what `cltrain init`'s model builders (build_resnet.cpp, build_mobile.cpp)
// share: an ONNX graph writer with torch's node and initializer naming, torchvision's
// initialisation rules drawn from cltrain's Philox RNG, and the checked, atomic write of the
// finished file. C++ only; errors are build_error exceptions that run_builder() turns into a
// cltrain_status at the C boundary.
#pragma once

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>

#include "opencv2/cltrain.h"
#include "core/atomic_file.h"
#include "core/rng.h"
#include "runtime/runtime.h"

namespace cltrain_build {

/* A stream of its own, so that model initialisation never shares numbers with the head,
 * shuffling, augmentation or dropout streams of rng.h (ids 1-4). */
const uint32_t RNG_STREAM_MODEL_INIT = 16;

struct build_error {
  cltrain_status st;
  std::string msg;
};

[[noreturn]] inline void fail(cltrain_status st, const std::string &msg) { throw build_error{st, msg}; }

/* The architectures cltrain_resnet_onnx() writes (build_resnet.cpp), and those cltrain_init_onnx()
 * (`cltrain init --arch`) writes besides them (build_mobile.cpp): both unknown-architecture
 * errors list them all. */
const char *const RESNET_ARCHS = "resnet18, resnet34";
const char *const MOBILE_ARCHS = "mobilenet_v3_small, efficientnet_b0";

/* Whether arch is a ResNet cltrain_resnet_onnx() writes; its blocks per stage into *blocks
 * (when not NULL). */
bool resnet_blocks(const char *arch, std::vector<int> *blocks);

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
  /* U(-bound, bound) */
  double uniform(double bound) { return (2.0 * rng_uniform_f64(&rng) - 1.0) * bound; }

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

  /* Conv, kaiming_normal_(mode="fan_out", nonlinearity="relu") as torchvision: std =
   * sqrt(2 / (out_channels * kh * kw)) (fan_out counts out_channels whatever the groups); a
   * bias, when asked for, is zero. `scope` is "/layer1/layer1.0/conv1", `param` is
   * "layer1.0.conv1". Returns the output name. */
  std::string conv(const std::string &x, const std::string &scope, const std::string &param, int cin,
                   int cout, int k, int stride, int pad, int groups = 1, bool bias = false) {
    std::vector<float> w((size_t)cout * (cin / groups) * k * k);
    double sd = std::sqrt(2.0 / ((double)cout * k * k));
    for (auto &v : w) v = (float)(sd * gauss());
    init(param + ".weight", {cout, cin / groups, k, k}, w);
    std::vector<std::string> in = {x, param + ".weight"};
    if (bias) {
      init(param + ".bias", {cout}, std::vector<float>(cout, 0.0f));
      in.push_back(param + ".bias");
    }
    onnx::NodeProto *n = node(scope + "/Conv", "Conv", in);
    ints(n, "dilations", {1, 1});
    attr_i(n, "group", groups);
    ints(n, "kernel_shape", {k, k});
    ints(n, "pads", {pad, pad, pad, pad});
    ints(n, "strides", {stride, stride});
    return n->output(0);
  }

  /* BatchNormalization with weight 1, bias 0, running mean 0, running var 1 (torch's defaults);
   * `momentum` is ONNX's, 1 - torch's. */
  std::string bn(const std::string &x, const std::string &scope, const std::string &param, int c,
                 float eps = 1e-5f, float momentum = 0.9f) {
    init(param + ".weight", {c}, std::vector<float>(c, 1.0f));
    init(param + ".bias", {c}, std::vector<float>(c, 0.0f));
    init(param + ".running_mean", {c}, std::vector<float>(c, 0.0f));
    init(param + ".running_var", {c}, std::vector<float>(c, 1.0f));
    onnx::NodeProto *n = node(scope + "/BatchNormalization", "BatchNormalization",
                              {x, param + ".weight", param + ".bias", param + ".running_mean", param + ".running_var"});
    attr_f(n, "epsilon", eps);
    attr_f(n, "momentum", momentum);
    return n->output(0);
  }

  std::string relu(const std::string &x, const std::string &scope) { return node(scope + "/Relu", "Relu", {x})->output(0); }

  /* GlobalAveragePool then Flatten, as torch exports avgpool + torch.flatten(x, 1). */
  std::string pool_flatten(const std::string &x) {
    std::string y = node("/avgpool/GlobalAveragePool", "GlobalAveragePool", {x})->output(0);
    onnx::NodeProto *fl = node("/Flatten", "Flatten", {y});
    attr_i(fl, "axis", 1);
    return fl->output(0);
  }

  /* A Linear as torch exports it (Gemm, transB) with the given weight [out, in] and bias; its
   * output is named `output` when given (the graph's "logits"). */
  std::string linear(const std::string &x, const std::string &scope, const std::string &param, int in, int out,
                     const std::vector<float> &w, const std::vector<float> &bias, const char *output = nullptr) {
    init(param + ".weight", {out, in}, w);
    init(param + ".bias", {out}, bias);
    onnx::NodeProto *n = node(scope + "/Gemm", "Gemm", {x, param + ".weight", param + ".bias"});
    attr_f(n, "alpha", 1.0f);
    attr_f(n, "beta", 1.0f);
    attr_i(n, "transB", 1);
    if (output) n->set_output(0, output);
    return n->output(0);
  }
};

inline void value_info(onnx::ValueInfoProto *v, const std::string &name, std::vector<int64_t> dims) {
  v->set_name(name);
  auto *tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

/* An opset-13 model named `arch` with input "input" (1,3,224,224) and output "logits"
 * (1,num_classes), and a builder on its graph seeded from `seed`. */
inline builder new_model(onnx::ModelProto &model, const char *arch, int num_classes, uint64_t seed) {
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
  return builder{g, rng_make(seed, RNG_STREAM_MODEL_INIT)};
}

/* Checks the model with onnx::checker, writes it to `path` through a temporary file that
 * cv::dnn must read, and renames it into place. `who` names the caller in messages. */
inline void write_model(const onnx::ModelProto &model, const char *path, const char *who) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    fail(CLTRAIN_ERR_INTERNAL, std::string(who) + ": onnx::checker rejects the graph: " + e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) fail(CLTRAIN_ERR_INTERNAL, std::string(who) + ": the model does not serialise");
  atomic_file f;
  if (int e = atomic_file_open(&f, path))
    fail(CLTRAIN_ERR_IO, std::string(who) + ": cannot write " + path + ": " + strerror(e));
  if (int e = atomic_file_write(&f, bytes.data(), bytes.size()))
    fail(CLTRAIN_ERR_IO, std::string(who) + ": writing " + path + " failed: " + strerror(e));
  try { /* the file is only useful if cv::dnn reads it */
    cv::dnn::Net net = cv::dnn::readNetFromONNX(f.tmp);
    if (net.empty()) fail(CLTRAIN_ERR_INTERNAL, std::string(who) + ": cv::dnn read an empty net");
  } catch (...) {
    atomic_file_abort(&f);
    throw;
  }
  if (int e = atomic_file_commit(&f))
    fail(CLTRAIN_ERR_IO, std::string(who) + ": cannot put the finished file in place as " + path + ": " + strerror(e));
}

/* Runs build() for the public entry point `who`, after checking its arguments, and turns
 * every exception into a status with its message in cltrain_last_error(NULL). */
inline cltrain_status run_builder(const char *who, const char *arch, int num_classes, const char *path,
                                  const std::function<void()> &build) {
  if (!arch || !path || !*path) return rt_fail(nullptr, CLTRAIN_ERR_ARG, "%s: NULL architecture or path", who);
  if (num_classes < 1) return rt_fail(nullptr, CLTRAIN_ERR_ARG, "%s: num_classes is %d, must be >= 1", who, num_classes);
  try {
    build();
    return CLTRAIN_OK;
  } catch (const build_error &e) {
    return rt_fail(nullptr, e.st, "%s", e.msg.c_str());
  } catch (const cv::Exception &e) {
    return rt_fail(nullptr, CLTRAIN_ERR_OPENCV, "%s(%s): OpenCV: %s", who, path, e.what());
  } catch (const std::bad_alloc &) {
    return rt_fail(nullptr, CLTRAIN_ERR_OUT_OF_MEMORY, "%s(%s): out of host memory", who, path);
  } catch (const std::exception &e) {
    return rt_fail(nullptr, CLTRAIN_ERR_INTERNAL, "%s(%s): %s", who, path, e.what());
  } catch (...) {
    return rt_fail(nullptr, CLTRAIN_ERR_INTERNAL, "%s(%s): unknown exception", who, path);
  }
}

}  // namespace cltrain_build
