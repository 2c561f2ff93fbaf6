/* import_onnx.cpp: ONNX -> graph_desc through OpenCV's own importer (cv::dnn::readNetFromONNX):
 * layer types, blobs (raw weights, BN statistics unfused) and edges, before any forward pass.
 * C++ only because cv::dnn is; every exception is caught here and becomes a status. */
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn/all_layers.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/graph_build.h"
#include "model/node_kinds.h"
#include "runtime/runtime.h"

namespace {

/* cv::dnn logs parse errors to stderr before it throws; the exception's text reaches the caller
 * through the status, and library code prints nothing, so OpenCV is silenced while it reads. */
struct quiet_opencv {
  cv::utils::logging::LogLevel saved = cv::utils::logging::getLogLevel();
  quiet_opencv() { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); }
  ~quiet_opencv() { cv::utils::logging::setLogLevel(saved); }
};

struct import_error {
  cltrain_status st;
  std::string msg;
};

[[noreturn]] void fail(cltrain_status st, const std::string &msg) { throw import_error{st, msg}; }

std::string where(const std::string &path, const cv::Ptr<cv::dnn::Layer> &l) {
  return "'" + path + "': node '" + l->name + "' (type " + l->type + ")";
}

[[noreturn]] void unsupported(const std::string &path, const cv::Ptr<cv::dnn::Layer> &l,
                              const std::string &why) {
  fail(CLTRAIN_ERR_UNSUPPORTED, where(path, l) + ": " + why);
}

/* Appends a float blob to the parameter block and returns how many floats it held. */
size_t put_blob(std::vector<float> &params, const cv::Mat &m, size_t want, const std::string &path,
                const cv::Ptr<cv::dnn::Layer> &l, const char *what) {
  if (m.type() != CV_32F) unsupported(path, l, std::string(what) + " is not float32");
  if (m.total() != want)
    fail(CLTRAIN_ERR_FORMAT, where(path, l) + ": " + what + " holds " + std::to_string(m.total()) +
                                 " values, expected " + std::to_string(want));
  cv::Mat c = m.isContinuous() ? m : m.clone();
  const float *p = c.ptr<float>();
  params.insert(params.end(), p, p + want);
  return want;
}

/* Eltwise covers sum, prod, max and weighted sums (Sub is a sum with coefficients 1, -1), and
 * 4.6 exposes none of that publicly: run the layer once on 2 and 3 and read what it computes
 * (5: x + y, 6: x * y; anything else is refused), or NaN if it cannot run. This reconfigures the
 * layer for 1x1x1x1 inputs, which is harmless: the Net is never run. */
float eltwise_probe(const cv::Ptr<cv::dnn::Layer> &l) {
  try {
    std::vector<int> sh{1, 1, 1, 1};
    std::vector<cv::Mat> in{cv::Mat(sh, CV_32F, cv::Scalar(2)), cv::Mat(sh, CV_32F, cv::Scalar(3))};
    std::vector<cv::Mat> out{cv::Mat(sh, CV_32F, cv::Scalar(0))}, internals;
    std::vector<cv::dnn::MatShape> in_shapes{sh, sh}, out_shapes, internal_shapes;
    l->getMemoryShapes(in_shapes, 1, out_shapes, internal_shapes); /* sets the channel count */
    l->finalize(cv::_InputArray(in), cv::_OutputArray(out));
    l->forward(in, out, internals);
    return out.size() == 1 ? out[0].at<float>(0) : NAN;
  } catch (...) {
    return NAN;
  }
}

struct importer {
  std::string path;
  cv::dnn::Net net;
  std::vector<graph_node> nodes;
  std::vector<float> params;
  std::map<int, int> by_cv_id; /* cv::dnn layer id -> node index */
  /* BatchNormalization node name -> torch's momentum: cv::dnn drops the attribute, and training
   * needs it (torchvision's MobileNetV3 uses 0.01, most models 0.1). */
  std::map<std::string, float> bn_momentum;

  /* Pad node name -> whether all its pads are 0: cv::dnn's Padding layer does not expose them, and
   * torch exports one (all zeros) before each AveragePool it exports from nn.AvgPool2d (DenseNet's
   * transitions). */
  std::map<std::string, bool> zero_pads;

  /* The int64 values of tensor t (ONNX stores them in int64_data or raw_data). */
  static std::vector<int64_t> int64s(const onnx::TensorProto &t) {
    std::vector<int64_t> v(t.int64_data().begin(), t.int64_data().end());
    if (v.empty() && t.has_raw_data()) {
      v.resize(t.raw_data().size() / sizeof(int64_t));
      memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(int64_t));
    }
    return v;
  }

  /* Reads what cv::dnn drops from the ONNX file itself: BN momenta and Pad amounts. ONNX's
   * momentum attribute is 1 - torch's, rounded to float32: torch's decimal value comes back
   * rounded to 6 significant digits (1 - 0.9f = 0.10000002 -> 0.1f, as torch's default). */
  void read_onnx_details(const void *data, size_t n) {
    onnx::ModelProto model;
    if (!model.ParseFromArray(data, (int)n)) return; /* onnx_validate has parsed it already */
    std::map<std::string, const onnx::TensorProto *> constants; /* output name -> its value */
    for (const auto &t : model.graph().initializer()) constants[t.name()] = &t;
    for (const auto &node : model.graph().node()) {
      for (const auto &a : node.attribute()) {
        if (node.op_type() == "Constant" && a.name() == "value" && node.output_size() == 1)
          constants[node.output(0)] = &a.t();
        if (node.op_type() == "BatchNormalization" && a.name() == "momentum") {
          char text[32];
          snprintf(text, sizeof text, "%.6g", 1.0 - (double)a.f());
          bn_momentum["onnx_node!" + node.name()] = strtof(text, nullptr);
        }
      }
      if (node.op_type() == "Pad" && node.input_size() >= 2) {
        auto c = constants.find(node.input(1));
        bool zero = c != constants.end();
        if (zero)
          for (int64_t p : int64s(*c->second)) zero = zero && p == 0;
        zero_pads["onnx_node!" + node.name()] = zero;
      }
    }
  }

  void set_window(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const std::vector<size_t> &k,
                  const std::vector<size_t> &st, const std::vector<size_t> &pb,
                  const std::vector<size_t> &pe, const std::vector<size_t> &dil) {
    if (k.size() != 2 || st.size() != 2 || pb.size() != 2 || pe.size() != 2)
      unsupported(path, l, "only 2-D windows are supported");
    if (pb[0] != pe[0] || pb[1] != pe[1])
      unsupported(path, l, "asymmetric padding is not supported");
    nd.r = (int)k[0], nd.s = (int)k[1];
    nd.stride_h = (int)st[0], nd.stride_w = (int)st[1];
    nd.pad_h = (int)pb[0], nd.pad_w = (int)pb[1];
    nd.dil_h = dil.size() == 2 ? (int)dil[0] : 1;
    nd.dil_w = dil.size() == 2 ? (int)dil[1] : 1;
  }

  void want_inputs(const graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, int n) {
    if (nd.ninputs != n)
      unsupported(path, l, "expected " + std::to_string(n) + " input(s), found " + std::to_string(nd.ninputs));
  }

  /* ---- one function per cv::dnn layer type: fills nd's op, fields and parameters (appended to
   * `params`, nd.param_off already set), x being input 0 ---- */

  void conv(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &x) {
    auto *cl = dynamic_cast<cv::dnn::BaseConvolutionLayer *>(l.get());
    const std::vector<cv::Mat> &b = l->blobs;
    want_inputs(nd, l, 1);
    if (!cl || b.empty() || b[0].dims != 4) unsupported(path, l, "a convolution without 4-D weights");
    if (cl->padMode != "") unsupported(path, l, "auto_pad '" + cl->padMode + "'");
    nd.op = NODE_CONV;
    set_window(nd, l, cl->kernel_size, cl->strides, cl->pads_begin, cl->pads_end, cl->dilations);
    nd.k = b[0].size[0];
    /* One filter per channel (group = c = k): the depthwise op; other groupings (RegNet's) a
     * grouped conv of c / c_per_filter groups, as cv::dnn runs it: reading the file, it has
     * checked that they divide c and k (test_import's bad_group*.onnx). */
    int c_per_filter = b[0].size[1];
    if (c_per_filter == 1 && nd.k == x.c && x.c > 1)
      nd.op = NODE_DEPTHWISE;
    else if (c_per_filter != x.c)
      nd.groups = x.c / c_per_filter;
    if (b[0].size[2] != nd.r || b[0].size[3] != nd.s || cl->numOutput != nd.k)
      fail(CLTRAIN_ERR_FORMAT, where(path, l) + ": weight shape disagrees with the kernel size");
    nd.has_bias = b.size() >= 2;
    nd.nparams += put_blob(params, b[0], (size_t)nd.k * c_per_filter * nd.r * nd.s, path, l, "W");
    if (nd.has_bias) nd.nparams += put_blob(params, b[1], (size_t)nd.k, path, l, "bias");
    nd.ntrainable = nd.nparams;
  }

  void batchnorm(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &x) {
    auto *bl = dynamic_cast<cv::dnn::BatchNormLayer *>(l.get());
    const std::vector<cv::Mat> &b = l->blobs;
    want_inputs(nd, l, 1);
    /* blobs: running_mean, running_var, then gamma if hasWeights, then beta if hasBias */
    if (!bl || b.size() < 2) unsupported(path, l, "a batch norm without statistics");
    nd.op = NODE_BN;
    nd.eps = bl->epsilon;
    auto mom = bn_momentum.find(l->name);
    nd.momentum = mom != bn_momentum.end() ? mom->second : 0.1f; /* ONNX's default 0.9 */
    size_t c = (size_t)x.c, at = 2;
    std::vector<float> ones(c, 1.0f), zeros(c, 0.0f);
    cv::Mat gamma = bl->hasWeights ? b.at(at++) : cv::Mat(ones, false);
    cv::Mat beta = bl->hasBias ? b.at(at++) : cv::Mat(zeros, false);
    nd.nparams += put_blob(params, gamma, c, path, l, "gamma");
    nd.nparams += put_blob(params, beta, c, path, l, "beta");
    nd.nparams += put_blob(params, b[0], c, path, l, "running_mean");
    nd.nparams += put_blob(params, b[1], c, path, l, "running_var");
    nd.ntrainable = 2 * c;
  }

  void relu(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    auto *rl = dynamic_cast<cv::dnn::ReLULayer *>(l.get());
    want_inputs(nd, l, 1);
    if (!rl || rl->negativeSlope != 0.0f) unsupported(path, l, "leaky ReLU");
    nd.op = NODE_RELU;
  }

  void pooling(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    auto *pl = dynamic_cast<cv::dnn::PoolingLayer *>(l.get());
    want_inputs(nd, l, 1);
    if (!pl) unsupported(path, l, "not a pooling layer");
    if (pl->padMode != "") unsupported(path, l, "auto_pad '" + pl->padMode + "'");
    enum { CV_POOL_MAX = 0, CV_POOL_AVE = 1 }; /* PoolingLayerImpl's private enum, 4.x */
    if (pl->type != CV_POOL_MAX && pl->type != CV_POOL_AVE)
      unsupported(path, l, "pooling kind " + std::to_string(pl->type) + " (only max and average)");
    bool global = pl->globalPooling;
    for (bool gp : pl->isGlobalPooling) global = global && gp;
    if (pl->globalPooling && !global) unsupported(path, l, "global pooling over only some axes");
    if (global) {
      if (pl->type != CV_POOL_AVE) unsupported(path, l, "global max pooling");
      nd.op = NODE_GLOBAL_AVGPOOL;
      nd.stride_h = nd.stride_w = 1, nd.dil_h = nd.dil_w = 1;
    } else {
      nd.op = pl->type == CV_POOL_MAX ? NODE_MAXPOOL : NODE_AVGPOOL;
      set_window(nd, l, pl->kernel_size, pl->strides, pl->pads_begin, pl->pads_end, {});
      nd.ceil_mode = pl->ceilMode;
      nd.count_pad = nd.op == NODE_AVGPOOL && pl->avePoolPaddedArea;
    }
  }

  void eltwise(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &x) {
    want_inputs(nd, l, 2);
    const graph_node &y = nodes[nd.inputs[1]];
    if (x.c != y.c || x.h != y.h || x.w != y.w)
      unsupported(path, l, "an elementwise op on differently shaped inputs (broadcasting)");
    float probe = eltwise_probe(l);
    if (probe != 5.0f && probe != 6.0f) unsupported(path, l, "an elementwise op other than x + y or x * y");
    nd.op = probe == 5.0f ? NODE_ADD : NODE_MUL;
  }

  /* x * s with s one value per channel (squeeze-excitation): cv::dnn's Scale with the scale as a
   * second input, which comes first or second as the ONNX Mul had it. */
  void scale(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    auto *sl = dynamic_cast<cv::dnn::ScaleLayer *>(l.get());
    want_inputs(nd, l, 2);
    if (!sl || !l->blobs.empty() || sl->hasBias || sl->axis != 1)
      unsupported(path, l, "a Scale other than the product of two activations over channels");
    if (nodes[nd.inputs[0]].h * nodes[nd.inputs[0]].w == 1) std::swap(nd.inputs[0], nd.inputs[1]);
    nd.op = NODE_MUL;
  }

  void sigmoid(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    want_inputs(nd, l, 1);
    nd.op = NODE_SIGMOID;
  }

  void hardsigmoid(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    auto *hl = dynamic_cast<cv::dnn::HardSigmoidLayer *>(l.get());
    want_inputs(nd, l, 1);
    if (!hl) unsupported(path, l, "not a HardSigmoid layer");
    nd.op = NODE_HARDSIGMOID;
    if (!(hl->alpha > 0)) unsupported(path, l, "a HardSigmoid with alpha <= 0");
    nd.alpha = hl->alpha, nd.beta = hl->beta;
  }

  /* torch.cat over channels (DenseNet's dense layers, SqueezeNet's Fire modules). */
  void concat(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    auto *cl = dynamic_cast<cv::dnn::ConcatLayer *>(l.get());
    if (!cl || cl->axis != 1 || cl->padding) unsupported(path, l, "a Concat other than over channels (axis 1)");
    nd.op = NODE_CONCAT;
  }

  /* A Pad that adds nothing (all pads 0: torch's export of nn.AvgPool2d) is the identity; explicit
   * padding is refused. */
  void padding(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &x) {
    auto z = zero_pads.find(l->name);
    if (z == zero_pads.end() || !z->second) unsupported(path, l, "explicit padding (only a Pad of zeros)");
    identity(nd, l, x);
  }

  void flatten(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    want_inputs(nd, l, 1);
    nd.op = NODE_FLATTEN;
  }

  /* Reshape only where it cannot move data: (C,1,1) -> (C) */
  void reshape(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &x) {
    if (x.h != 1 || x.w != 1) unsupported(path, l, "cltrain cannot run this layer type");
    flatten(nd, l, x);
  }

  void inner_product(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &x) {
    auto *il = dynamic_cast<cv::dnn::InnerProductLayer *>(l.get());
    const std::vector<cv::Mat> &b = l->blobs;
    want_inputs(nd, l, 1);
    if (!il || il->axis != 1 || b.empty() || b[0].dims != 2)
      unsupported(path, l, "a fully-connected layer other than (N, in) x W^T");
    nd.op = NODE_LINEAR;
    nd.in_features = b[0].size[1];
    nd.out_features = b[0].size[0];
    if (nd.in_features != x.c * x.h * x.w)
      fail(CLTRAIN_ERR_FORMAT, where(path, l) + ": " + std::to_string(nd.in_features) +
                                   " input features, but its input holds " + std::to_string(x.c * x.h * x.w));
    nd.has_bias = b.size() >= 2;
    nd.nparams += put_blob(params, b[0], (size_t)nd.out_features * nd.in_features, path, l, "W");
    if (nd.has_bias) nd.nparams += put_blob(params, b[1], (size_t)nd.out_features, path, l, "bias");
    nd.ntrainable = nd.nparams;
  }

  void identity(graph_node &nd, const cv::Ptr<cv::dnn::Layer> &l, const graph_node &) {
    want_inputs(nd, l, 1);
    nd.op = NODE_IDENTITY;
  }

  using layer_fn = void (importer::*)(graph_node &, const cv::Ptr<cv::dnn::Layer> &, const graph_node &);

  /* The cv::dnn layer types cltrain runs, and the function that reads each. */
  static const std::map<std::string, layer_fn> &layer_kinds() {
    static const std::map<std::string, layer_fn> kinds = {
        {"Convolution", &importer::conv}, {"BatchNorm", &importer::batchnorm},
        {"ReLU", &importer::relu},        {"Pooling", &importer::pooling},
        {"Eltwise", &importer::eltwise},  {"Flatten", &importer::flatten},
        {"Reshape", &importer::reshape},  {"InnerProduct", &importer::inner_product},
        {"Identity", &importer::identity},  {"Scale", &importer::scale},
        {"HardSigmoid", &importer::hardsigmoid}, {"Sigmoid", &importer::sigmoid},
        {"Concat", &importer::concat},    {"Padding", &importer::padding},
    };
    return kinds;
  }

  void add_layer(int id) {
    cv::Ptr<cv::dnn::Layer> l = net.getLayer(id);
    graph_node nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.onnx_name, sizeof nd.onnx_name, "%s", l->name.c_str());
    for (const cv::Ptr<cv::dnn::Layer> &src : net.getLayerInputs(id)) {
      auto it = by_cv_id.find(net.getLayerId(src->name));
      if (it == by_cv_id.end()) unsupported(path, l, "input '" + src->name + "' is not a known node");
      if (nd.ninputs == GRAPH_MAX_INPUTS)
        unsupported(path, l, "more than " + std::to_string(GRAPH_MAX_INPUTS) + " inputs");
      nd.inputs[nd.ninputs++] = it->second;
    }
    if (nd.ninputs == 0) unsupported(path, l, "no inputs (a constant or a second graph input)");
    auto row = layer_kinds().find(l->type);
    if (row == layer_kinds().end()) unsupported(path, l, "cltrain cannot run this layer type");
    nd.param_off = params.size();
    (this->*row->second)(nd, l, nodes[nd.inputs[0]]);
    char why[160];
    if (graph_node_infer(nodes.data(), &nd, why, sizeof why))
      unsupported(path, l, std::string(why) + " at a " + std::to_string(nodes[0].h) + "x" +
                               std::to_string(nodes[0].w) + " input");
    graph_friendly_name(nd.onnx_name, node_kind_of(nd.op)->functional, nd.name, sizeof nd.name);
    by_cv_id[id] = (int)nodes.size();
    nodes.push_back(nd);
  }

  void run() {
    std::vector<std::string> names = net.getLayerNames();
    std::vector<int> ids;
    for (const std::string &n : names) ids.push_back(net.getLayerId(n));
    /* the input channels: the first convolution fed by the input (layer 0) */
    int in_c = 3;
    for (int id : ids) {
      cv::Ptr<cv::dnn::Layer> l = net.getLayer(id);
      std::vector<cv::Ptr<cv::dnn::Layer>> in = net.getLayerInputs(id);
      if (l->type == "Convolution" && in.size() == 1 && net.getLayerId(in[0]->name) == 0 &&
          !l->blobs.empty() && l->blobs[0].dims == 4) {
        in_c = l->blobs[0].size[1];
        break;
      }
    }
    graph_node input;
    memset(&input, 0, sizeof input);
    input.op = NODE_INPUT;
    snprintf(input.name, sizeof input.name, "input");
    snprintf(input.onnx_name, sizeof input.onnx_name, "%s", net.getLayer(0)->name.c_str());
    input.c = in_c, input.h = 224, input.w = 224;
    by_cv_id[0] = 0;
    nodes.push_back(input);
    for (int id : ids) add_layer(id);
    if (nodes.size() < 2) fail(CLTRAIN_ERR_FORMAT, "'" + path + "': the model has no layers");
  }
};

}  // namespace

extern "C" cltrain_status graph_import_onnx(cltrain_context *cx, const char *path, graph_desc *out) {
  if (out) memset(out, 0, sizeof *out);
  if (!path || !out) return rt_fail(cx, CLTRAIN_ERR_ARG, "graph_import_onnx: path and out must not be NULL");
  FILE *f = fopen(path, "rb");
  if (!f) return rt_fail(cx, CLTRAIN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  std::vector<char> bytes;
  char chunk[1 << 16];
  size_t r;
  try {
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) bytes.insert(bytes.end(), chunk, chunk + r);
  } catch (const std::bad_alloc &) {
    fclose(f);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "'%s': out of host memory", path);
  }
  int rerr = ferror(f);
  fclose(f);
  if (rerr) return rt_fail(cx, CLTRAIN_ERR_IO, "cannot read '%s'", path);
  cltrain_status st = graph_import_onnx_buffer(cx, path, bytes.data(), bytes.size(), out);
  int h, w; /* the size the file declares: cltrain's exports declare what they trained at */
  if (st == CLTRAIN_OK && onnx_declared_input_size(path, &h, &w) && (h != out->in_h || w != out->in_w) &&
      (st = graph_reshape(cx, out, h, w)) != CLTRAIN_OK)
    graph_free(out);
  return st;
}

extern "C" cltrain_status graph_import_onnx_buffer(cltrain_context *cx, const char *path, const void *data,
                                                   size_t n, graph_desc *out) {
  if (out) memset(out, 0, sizeof *out);
  if (!path || !out || (!data && n))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "graph_import_onnx_buffer: path, data and out must not be NULL");
  char why[512];
  if (!onnx_validate(data, n, why, sizeof why))
    return rt_fail(cx, CLTRAIN_ERR_FORMAT, "'%s' is not an ONNX model OpenCV can read: %s", path, why);
  try {
    importer im;
    im.path = path;
    im.read_onnx_details(data, n);
    try {
      quiet_opencv quiet;
      im.net = cv::dnn::readNetFromONNX((const char *)data, n);
    } catch (const std::bad_alloc &) {
      throw;
    } catch (const std::exception &e) {
      /* cv::Exception, or a std::length_error from a shape OpenCV's importer cannot take */
      return rt_fail(cx, CLTRAIN_ERR_FORMAT, "'%s' is not an ONNX model OpenCV can read: %s", path,
                     e.what());
    }
    if (im.net.empty()) return rt_fail(cx, CLTRAIN_ERR_FORMAT, "'%s' holds an empty network", path);
    im.run();

    graph_desc g;
    memset(&g, 0, sizeof g);
    g.n = (int)im.nodes.size();
    g.nodes = (graph_node *)malloc(im.nodes.size() * sizeof(graph_node));
    g.params = (float *)malloc((im.params.size() ? im.params.size() : 1) * sizeof(float));
    if (!g.nodes || !g.params) {
      graph_free(&g);
      return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "'%s': out of host memory", path);
    }
    memcpy(g.nodes, im.nodes.data(), im.nodes.size() * sizeof(graph_node));
    memcpy(g.params, im.params.data(), im.params.size() * sizeof(float));
    g.nparams = im.params.size();
    g.in_c = g.nodes[0].c, g.in_h = g.nodes[0].h, g.in_w = g.nodes[0].w;
    /* the logits: the last node, a classifier or a view of one, or the global pool after a 1x1
     * conv classifier and its ReLU (SqueezeNet) */
    int o = graph_data_root(&g, g.n - 1);
    g.output = o;
    int cls = graph_classifier(&g);
    const graph_node *oc = cls > 0 ? &g.nodes[cls] : NULL;
    bool conv_head = oc && g.nodes[o].op == NODE_GLOBAL_AVGPOOL && oc->op == NODE_CONV && oc->r == 1 && oc->s == 1 &&
                     oc->stride_h == 1 && oc->stride_w == 1 && oc->pad_h == 0 && oc->pad_w == 0 && cls + 2 == o &&
                     g.nodes[cls + 1].op == NODE_RELU && g.nodes[o].inputs[0] == cls + 1 &&
                     g.nodes[cls + 1].inputs[0] == cls;
    if (g.nodes[o].op != NODE_LINEAR && !conv_head) {
      cltrain_status st = rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED,
                                  "'%s': the model ends in node '%s' (%s), not in a fully-connected "
                                  "classifier (nor in a 1x1 conv, ReLU and global average pool)", path, g.nodes[o].onnx_name, graph_op_name(g.nodes[o].op));
      graph_free(&g);
      return st;
    }
    graph_unique_names(&g);
    cltrain_status st = graph_assign_stages(cx, &g);
    if (st != CLTRAIN_OK) {
      graph_free(&g);
      return st;
    }
    *out = g;
    return CLTRAIN_OK;
  } catch (const import_error &e) {
    return rt_fail(cx, e.st, "%s", e.msg.c_str());
  } catch (const cv::Exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_OPENCV, "'%s': %s", path, e.what());
  } catch (const std::bad_alloc &) {
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "'%s': out of host memory", path);
  } catch (const std::exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "'%s': %s", path, e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "'%s': unknown exception", path);
  }
}
