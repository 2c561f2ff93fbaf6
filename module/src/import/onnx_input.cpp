// onnx_input.cpp: the input image size an ONNX file declares (its first graph input that is not
// an initializer, shaped N x C x H x W). cv::dnn 4.6 does not expose it, so libonnx reads it;
// cltrain's exports declare the size they were trained at, so a model trained on 64 x 64 crops
// comes back at 64 x 64.
#include <fstream>
#include <set>
#include <string>

#include <onnx/onnx_pb.h>

#include "graph.h"

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
