// onnx_input.cpp: what libonnx reads of an ONNX file before cv::dnn does. The input image size
// the file declares (its first graph input that is not an initializer, shaped N x C x H x W):
// cv::dnn 4.6 does not expose it; cltrain's exports declare the size they were trained at, so a
// model trained on 64 x 64 crops comes back at 64 x 64. And the checks cv::dnn 4.6 trusts a
// model to pass: it crashes on ones that fail them (found by test/fuzz/fuzz_onnx).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "graph/graph.h"

extern "C" int onnx_declared_input_size(const char *path, int *h, int *w) {
  *h = *w = 0;
  try {
    onnx::ModelProto model;
    std::ifstream in(path, std::ios::binary);
    if (!in || !model.ParseFromIstream(&in)) return 0;
    std::set<std::string> inits;
    for (auto &t : model.graph().initializer()) inits.insert(t.name());
    for (auto &v : model.graph().input()) {
      if (inits.count(v.name())) continue;
      const auto &shape = v.type().tensor_type().shape();
      if (shape.dim_size() != 4 || !shape.dim(2).has_dim_value() || !shape.dim(3).has_dim_value()) return 0;
      *h = (int)shape.dim(2).dim_value();
      *w = (int)shape.dim(3).dim_value();
      return *h > 0 && *w > 0;
    }
  } catch (...) {
  }
  return 0;
}

namespace {

/* Bytes per element of the tensor types whose raw_data cv::dnn may read; 0 for the others. */
size_t element_size(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT: case onnx::TensorProto::INT32: case onnx::TensorProto::UINT32: return 4;
    case onnx::TensorProto::DOUBLE: case onnx::TensorProto::INT64: case onnx::TensorProto::UINT64: return 8;
    case onnx::TensorProto::FLOAT16: case onnx::TensorProto::BFLOAT16: case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16: return 2;
    case onnx::TensorProto::INT8: case onnx::TensorProto::UINT8: case onnx::TensorProto::BOOL: return 1;
    default: return 0;
  }
}

/* "" when the tensor holds exactly as many values as its dims say, else why not. cv::dnn copies
 * product(dims) values out of raw_data without comparing sizes. */
std::string tensor_problem(const onnx::TensorProto &t) {
  const std::string name = "tensor '" + t.name() + "'";
  if (t.data_location() == onnx::TensorProto::EXTERNAL) return name + " keeps its data in an external file";
  uint64_t count = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && count > ((uint64_t)1 << 40) / (uint64_t)d)) return name + " has a bad or huge shape";
    count *= (uint64_t)d;
  }
  uint64_t have;
  if (t.has_raw_data()) {
    size_t es = element_size(t.data_type());
    if (!es) return name + " has raw data of type " + std::to_string(t.data_type());
    if (t.raw_data().size() != count * es)
      return name + " holds " + std::to_string(t.raw_data().size()) + " bytes, its shape needs " +
             std::to_string(count * es);
    return "";
  }
  have = (uint64_t)t.float_data_size() + t.int32_data_size() + t.int64_data_size() + t.double_data_size() +
         t.uint64_data_size() + t.string_data_size();
  if (have != count)
    return name + " holds " + std::to_string(have) + " values, its shape needs " + std::to_string(count);
  return "";
}

/* "" unless the attribute is a window or grouping parameter out of range: cv::dnn 4.6 divides
 * by group (a SIGFPE for 0) and sizes buffers by the others without checking them. */
std::string attribute_problem(const onnx::NodeProto &node, const onnx::AttributeProto &a) {
  const std::string &n = a.name();
  int64_t lo = n == "pads" ? 0 : 1;
  if (n != "group" && n != "kernel_shape" && n != "strides" && n != "dilations" && n != "pads") return "";
  bool bad = a.has_i() && a.i() < lo;
  for (int64_t v : a.ints()) bad = bad || v < lo;
  return bad ? "node '" + node.name() + "' has " + n + " below " + std::to_string(lo) : "";
}

}  // namespace

extern "C" int onnx_validate(const void *data, size_t n, char *why, size_t cap) {
  std::string problem;
  try {
    onnx::ModelProto model;
    if (n > (size_t)INT32_MAX || !model.ParseFromArray(data, (int)n)) {
      problem = "not a protobuf ModelProto";
    } else {
      onnx::checker::check_model(model);
      for (const auto &t : model.graph().initializer())
        if (problem.empty()) problem = tensor_problem(t);
      for (const auto &node : model.graph().node())
        for (const auto &a : node.attribute()) {
          if (problem.empty()) problem = attribute_problem(node, a);
          if (problem.empty() && a.has_t()) problem = tensor_problem(a.t());
          for (const auto &t : a.tensors())
            if (problem.empty()) problem = tensor_problem(t);
        }
    }
  } catch (const std::exception &e) {
    problem = e.what();
  } catch (...) {
    problem = "unknown exception in the ONNX checker";
  }
  if (why && cap) snprintf(why, cap, "%s", problem.c_str());
  return problem.empty();
}
