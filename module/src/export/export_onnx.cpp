// export_onnx.cpp: writes a trained cltrain_model as an inference ONNX graph. The input model's
// file is the template: its initializers get the current weights (BN nodes stay where it had
// them, with the updated running statistics), a replaced head becomes new Gemm/Relu nodes, and
// the class names go into metadata_props. The file is checked by onnx::checker, loaded back
// through cv::dnn and compared with cltrain's own eval-mode logits before it is renamed into
// place, so a failed export leaves no file behind.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>

#include "model/model.h"
#include "model/node_kinds.h"
#include "core/atomic_file.h"
#include "core/rng.h"

namespace {

struct export_error {
  cltrain_status st;
  std::string msg;
};

[[noreturn]] void fail(cltrain_status st, const std::string &msg) { throw export_error{st, msg}; }

std::string strip_prefix(const char *onnx_name) {
  static const char prefix[] = "onnx_node!";
  return std::strncmp(onnx_name, prefix, sizeof prefix - 1) ? onnx_name : onnx_name + sizeof prefix - 1;
}

/* The ONNX node cv::dnn called `onnx_name`: by node name, else by its first output. */
onnx::NodeProto *find_node(onnx::GraphProto *g, const char *onnx_name) {
  std::string want = strip_prefix(onnx_name);
  for (auto &n : *g->mutable_node())
    if (n.name() == want) return &n;
  for (auto &n : *g->mutable_node())
    if (n.output_size() > 0 && n.output(0) == want) return &n;
  return nullptr;
}

onnx::TensorProto *find_init(onnx::GraphProto *g, const std::string &name) {
  for (auto &t : *g->mutable_initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

size_t numel(const onnx::TensorProto &t) {
  size_t n = 1;
  for (auto d : t.dims()) n *= (size_t)d;
  return n;
}

void set_values(onnx::TensorProto *t, const float *v, size_t count, const char *layer) {
  if (t->data_type() != onnx::TensorProto::FLOAT)
    fail(CLTRAIN_ERR_UNSUPPORTED, "export: initializer '" + t->name() + "' of layer " + layer + " is not float32");
  if (numel(*t) != count)
    fail(CLTRAIN_ERR_INTERNAL, "export: initializer '" + t->name() + "' of layer " + layer + " holds " +
                                   std::to_string(numel(*t)) + " values, cltrain has " + std::to_string(count));
  t->clear_float_data();
  t->clear_external_data();
  t->set_data_location(onnx::TensorProto::DEFAULT);
  t->set_raw_data(std::string(reinterpret_cast<const char *>(v), count * sizeof(float)));
}

void new_init(onnx::GraphProto *g, const std::string &name, std::vector<int64_t> dims, const float *v) {
  onnx::TensorProto *t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  size_t n = 1;
  for (auto d : dims) t->add_dims(d), n *= (size_t)d;
  t->set_raw_data(std::string(reinterpret_cast<const char *>(v), n * sizeof(float)));
}

/* The input name of `node`'s operand `k`, which must be an initializer. */
onnx::TensorProto *operand(onnx::GraphProto *g, const onnx::NodeProto *node, int k, const graph_node *nd) {
  if (node->input_size() <= k) fail(CLTRAIN_ERR_FORMAT, std::string("export: ONNX node for ") + nd->name + " lacks input " + std::to_string(k));
  onnx::TensorProto *t = find_init(g, node->input(k));
  if (!t) fail(CLTRAIN_ERR_UNSUPPORTED, std::string("export: weight '") + node->input(k) + "' of " + nd->name + " is not an initializer");
  return t;
}

/* Copies the weights of imported layer `nd` into its initializers: its parameter slice in order
 * where the op table says they are the node's operands 1, 2, ... (conv, BN); a classifier's
 * weight transposed back when the source's Gemm stored it (in, out). */
void update_layer(onnx::GraphProto *g, const cltrain_model *m, int i, const float *params) {
  const graph_node *nd = &model_graph(m)->nodes[i];
  const float *p = params + nd->param_off;
  onnx::NodeProto *node = find_node(g, nd->onnx_name);
  if (!node) fail(CLTRAIN_ERR_FORMAT, std::string("export: no ONNX node for layer ") + nd->name + " (" + nd->onnx_name + ")");
  if (node_kind_of(nd->op)->onnx_operands) {
    int k = 1;
    for (int t = 0; t < model_tensor_count(m); t++) {
      const model_tensor *mt = model_tensor_at(m, t);
      if (mt->node == i) set_values(operand(g, node, k++, nd), params + mt->off, mt->count, nd->name);
    }
  } else if (nd->op == NODE_LINEAR) {
    size_t in = (size_t)nd->in_features, out = (size_t)nd->out_features;
    int trans_b = 0;
    for (auto &a : node->attribute())
      if (a.name() == "transB") trans_b = (int)a.i();
    std::vector<float> w(p, p + in * out);
    if (node->op_type() == "Gemm" && !trans_b) /* stored (in, out) */
      for (size_t i = 0; i < in; i++)
        for (size_t o = 0; o < out; o++) w[i * out + o] = p[o * in + i];
    if (node->op_type() == "MatMul")
      fail(CLTRAIN_ERR_UNSUPPORTED, std::string("export: classifier ") + nd->name + " is a MatMul; only Gemm heads can be written back");
    set_values(operand(g, node, 1, nd), w.data(), in * out, nd->name);
    if (nd->has_bias) set_values(operand(g, node, 2, nd), p + in * out, out, nd->name);
  }
}

void add_attr_int(onnx::NodeProto *n, const char *name, int64_t v) {
  onnx::AttributeProto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void add_attr_ints(onnx::NodeProto *n, const char *name, std::vector<int64_t> v) {
  onnx::AttributeProto *a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

/* Replaces the source's classifier (and the nodes after it) by the model's new head. */
void write_new_head(onnx::GraphProto *g, const cltrain_model *m, const float *params) {
  onnx::NodeProto *old = find_node(g, model_old_head(m));
  if (!old) fail(CLTRAIN_ERR_FORMAT, std::string("export: the source's classifier ") + model_old_head(m) + " is gone");
  std::string input = old->input(0);
  if (g->output_size() != 1) fail(CLTRAIN_ERR_UNSUPPORTED, "export: the source model has several outputs");
  std::string output = g->output(0).name();
  /* Drop the old classifier, everything after it up to the output, and their initializers. */
  std::vector<std::string> dead_inits;
  auto *nodes = g->mutable_node();
  int at = 0; /* a RepeatedPtrField holds pointers: find the index, not a pointer difference */
  while (&(*nodes)[at] != old) at++;
  for (int i = nodes->size() - 1; i >= at; i--) {
    for (int k = 1; k < (*nodes)[i].input_size(); k++) dead_inits.push_back((*nodes)[i].input(k));
    nodes->DeleteSubrange(i, 1);
  }
  auto *inits = g->mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; i--)
    for (auto &d : dead_inits)
      if ((*inits)[i].name() == d) {
        inits->DeleteSubrange(i, 1);
        break;
      }
  /* The new nodes (no ONNX name): linears and ReLUs (dropout is the identity at inference), or
   * SqueezeNet's 1x1 conv, ReLU, global pool and flatten; the last of them writes the output. */
  auto written = [&](const graph_node *nd) {
    return !nd->onnx_name[0] && (nd->op == NODE_LINEAR || nd->op == NODE_RELU || nd->op == NODE_CONV ||
                                 nd->op == NODE_GLOBAL_AVGPOOL || nd->op == NODE_FLATTEN);
  };
  const graph_desc *desc = model_graph(m);
  int last = -1;
  for (int i = 0; i < desc->n; i++)
    if (written(&desc->nodes[i])) last = i;
  std::string x = input;
  for (int i = 0; i < desc->n; i++) {
    const graph_node *nd = &desc->nodes[i];
    if (!written(nd)) continue;
    std::string y = i == last ? output : std::string(nd->name) + ".out";
    onnx::NodeProto *n = g->add_node();
    /* Scoped like torch's exports ("/fc/Gemm"), so importers derive the names back ("fc"). */
    std::string scope = "/" + std::string(nd->name);
    size_t dot = scope.rfind('.');
    bool param = nd->op == NODE_LINEAR || nd->op == NODE_CONV;
    if (!param && dot != std::string::npos) scope = scope.substr(0, dot) + "/" + scope.substr(dot + 1);
    const char *type = nd->op == NODE_LINEAR ? "Gemm" : nd->op == NODE_CONV ? "Conv" : nd->op == NODE_RELU ? "Relu"
                       : nd->op == NODE_FLATTEN ? "Flatten" : "GlobalAveragePool";
    n->set_name(scope + "/" + type);
    n->set_op_type(type);
    n->add_input(x);
    if (param) {
      std::string w = std::string(nd->name) + ".weight", b = std::string(nd->name) + ".bias";
      const float *p = params + nd->param_off;
      int in = nd->op == NODE_LINEAR ? nd->in_features : desc->nodes[nd->inputs[0]].c;
      int out = nd->op == NODE_LINEAR ? nd->out_features : nd->k;
      if (nd->op == NODE_LINEAR)
        new_init(g, w, {out, in}, p);
      else
        new_init(g, w, {out, in, 1, 1}, p);
      new_init(g, b, {out}, p + (size_t)in * out);
      n->add_input(w);
      n->add_input(b);
      if (nd->op == NODE_LINEAR) add_attr_int(n, "transB", 1);
    }
    if (nd->op == NODE_CONV) { /* cv::dnn 4.6 wants the window spelled out */
      add_attr_ints(n, "kernel_shape", {1, 1});
      add_attr_ints(n, "strides", {1, 1});
      add_attr_ints(n, "pads", {0, 0, 0, 0});
    }
    if (nd->op == NODE_FLATTEN) add_attr_int(n, "axis", 1);
    n->add_output(y);
    x = y;
  }
  /* The output's class dimension changed. */
  auto *shape = g->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  if (shape->dim_size() == 2) shape->mutable_dim(1)->set_dim_value(desc->nodes[desc->output].c);
}

/* The image input's H and W become the size the model runs at, so loading the file again
 * (cltrain_model_load_onnx) restores it; the batch dimension is left as the source had it. */
void declare_input_size(onnx::GraphProto *g, int h, int w) {
  std::set<std::string> inits;
  for (auto &t : g->initializer()) inits.insert(t.name());
  for (auto &v : *g->mutable_input()) {
    if (inits.count(v.name())) continue;
    auto *shape = v.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() == 4) {
      shape->mutable_dim(2)->set_dim_value(h);
      shape->mutable_dim(3)->set_dim_value(w);
    }
    return;
  }
}

std::string dir_of(const std::string &path) {
  size_t s = path.rfind('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : path.substr(0, s);
}

/* cv::dnn's logits for the probe batch against cltrain's eval-mode forward. */
double verify(cltrain_model *m, const std::string &file) {
  const graph_desc *desc = model_graph(m);
  const int n = 2, c = desc->in_c, h = desc->in_h, w = desc->in_w;
  std::vector<float> probe((size_t)n * c * h * w), ours;
  cltrain_rng rng = rng_make(12345, 0);
  for (auto &v : probe) v = 2.0f * rng_uniform(&rng) - 1.0f;
  int k = desc->nodes[desc->output].c;
  ours.resize((size_t)n * k);
  int was = model_training(m);
  cltrain_model_set_train(m, 0);
  cltrain_status st = cltrain_model_forward(m, probe.data(), n, ours.data());
  cltrain_model_set_train(m, was);
  if (st) throw export_error{st, cltrain_last_error(model_context(m))};
  cv::dnn::Net net = cv::dnn::readNetFromONNX(file);
  /* One image at a time: cv::dnn 4.6 runs MobileNetV3's squeeze-excitation (a Scale layer with
   * two inputs) only at batch 1. */
  std::vector<float> theirs_all;
  for (int i = 0; i < n; i++) {
    int dims[4] = {1, c, h, w};
    net.setInput(cv::Mat(4, dims, CV_32F, probe.data() + (size_t)i * c * h * w));
    cv::Mat out = net.forward();
    if ((size_t)out.total() != (size_t)k)
      fail(CLTRAIN_ERR_INTERNAL, "export verification: cv::dnn gives " + std::to_string(out.total()) + " logits, cltrain " + std::to_string(k));
    theirs_all.insert(theirs_all.end(), out.ptr<float>(), out.ptr<float>() + k);
  }
  double num = 0, den = 0;
  const float *theirs = theirs_all.data();
  for (size_t i = 0; i < ours.size(); i++) {
    num += (double)(theirs[i] - ours[i]) * (theirs[i] - ours[i]);
    den += (double)ours[i] * ours[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

void export_model(cltrain_model *m, const char *path, const char *const *names, int nnames) {
  const char *source = model_source_path(m);
  if (!source) fail(CLTRAIN_ERR_ARG, "export: the model was not loaded from an ONNX file");
  onnx::ModelProto model;
  {
    std::ifstream in(source, std::ios::binary);
    if (!in || !model.ParseFromIstream(&in))
      fail(CLTRAIN_ERR_IO, std::string("export: cannot re-read the source model ") + source);
  }
  const graph_desc *desc = model_graph(m);
  std::vector<float> params(desc->nparams);
  cltrain_status st = rt_read(model_context(m), params.data(), model_params(m), params.size() * sizeof(float));
  if (st) throw export_error{st, cltrain_last_error(model_context(m))};
  onnx::GraphProto *g = model.mutable_graph();
  for (int i = 0; i < desc->n; i++) {
    const graph_node *nd = &desc->nodes[i];
    if (nd->onnx_name[0] && nd->nparams) update_layer(g, m, i, params.data());
  }
  if (model_old_head(m)[0]) write_new_head(g, m, params.data());
  declare_input_size(g, desc->in_h, desc->in_w);
  for (int i = model.metadata_props_size() - 1; i >= 0; i--)
    if (model.metadata_props(i).key().rfind("cltrain.", 0) == 0) model.mutable_metadata_props()->DeleteSubrange(i, 1);
  if (names && nnames > 0) {
    std::string joined;
    for (int i = 0; i < nnames; i++) joined += (i ? "\n" : "") + std::string(names[i] ? names[i] : "");
    onnx::StringStringEntryProto *e = model.add_metadata_props();
    e->set_key("cltrain.classes");
    e->set_value(joined);
  }
  onnx::StringStringEntryProto *v = model.add_metadata_props();
  v->set_key("cltrain.version");
  v->set_value(cltrain_version());
  model.set_producer_name("cltrain");
  model.set_producer_version(cltrain_version());
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    fail(CLTRAIN_ERR_INTERNAL, std::string("export: onnx::checker rejects the graph: ") + e.what());
  }

  std::string bytes;
  if (!model.SerializeToString(&bytes)) fail(CLTRAIN_ERR_INTERNAL, "export: the model does not serialise");
  atomic_file f;
  if (int e = atomic_file_open(&f, path))
    fail(CLTRAIN_ERR_IO, "export: cannot write to folder " + dir_of(path) + " (for " + path + "): " + strerror(e));
  if (int e = atomic_file_write(&f, bytes.data(), bytes.size()))
    fail(CLTRAIN_ERR_IO, std::string("export: writing ") + path + " failed: " + strerror(e));
  double err;
  try {
    err = verify(m, f.tmp);
  } catch (...) {
    atomic_file_abort(&f);
    throw;
  }
  /* Both sides run float32 on the same weights: ~1e-7 apart (environment.md); 1e-5 catches any
   * weight, layout or head mistake. */
  if (!(err <= 1e-5)) {
    atomic_file_abort(&f);
    fail(CLTRAIN_ERR_INTERNAL, "export verification failed: cv::dnn's logits differ from cltrain's by " +
                                   std::to_string(err) + " (relative L2); no file written");
  }
  if (int e = atomic_file_commit(&f))
    fail(CLTRAIN_ERR_IO, std::string("export: cannot put the finished file in place as ") + path + ": " + strerror(e));
  model_set_export_error(m, err);
}

}  // namespace

extern "C" cltrain_status cltrain_model_export_onnx(cltrain_model *m, const char *path,
                                                    const char *const *class_names, int num_names) {
  cltrain_context *cx = m ? model_context(m) : nullptr;
  if (!m || !path || !*path) return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_model_export_onnx: NULL model or path");
  try {
    export_model(m, path, class_names, num_names);
    return CLTRAIN_OK;
  } catch (const export_error &e) {
    return rt_fail(cx, e.st, "%s", e.msg.c_str());
  } catch (const cv::Exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_OPENCV, "export of %s: OpenCV: %s", path, e.what());
  } catch (const std::exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "export of %s: %s", path, e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "export of %s: unknown exception", path);
  }
}
