// predict.cpp: the evaluation side of the public API: logits for image files through the
// tutorial's eval transform, softmax, and the class names an exported ONNX file carries in its
// metadata_props (read with libonnx's protobuf, as export_onnx.cpp writes them).
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "data/data.h"
#include "model/model.h"

namespace {

enum { PREDICT_CHUNK = 16 }; /* images per forward pass: bounds activation memory for any n */

/* Logits (n, classes) of n images through the eval transform; item(i, t, out) writes image i's
 * tensor. Runs in chunks of PREDICT_CHUNK. */
template <class Item>
cltrain_status predict_items(cltrain_model *m, const char *fn, int n, float *logits, Item item) {
  const graph_desc *g = model_graph(m);
  transform_params t;
  TRY(transform_eval_for_input(model_context(m), fn, g->in_c, g->in_h, g->in_w, &t));
  int k = g->nodes[g->output].c;
  size_t per = (size_t)3 * t.crop * t.crop;
  int chunk = n < PREDICT_CHUNK ? n : PREDICT_CHUNK;
  std::vector<float> x(per * chunk); /* (chunk, 3, crop, crop) */
  for (int b = 0; b < n; b += chunk) {
    int nb = n - b < chunk ? n - b : chunk;
    for (int i = 0; i < nb; i++) TRY(item(b + i, &t, x.data() + per * i));
    TRY(cltrain_model_forward(m, x.data(), nb, logits + (size_t)b * k));
  }
  return CLTRAIN_OK;
}

cltrain_status predict_files(cltrain_model *m, const char *const *paths, int n, float *logits) {
  const char *fn = "cltrain_model_predict_files";
  if (!m) return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: model is NULL", fn);
  cltrain_context *cx = model_context(m);
  if (!paths || n < 1 || !logits)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: NULL paths or logits, or n = %d", fn, n);
  for (int i = 0; i < n; i++)
    if (!paths[i]) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: paths[%d] is NULL", fn, i);
  return predict_items(m, fn, n, logits, [&](int i, const transform_params *t, float *out) {
    return transform_image(cx, paths[i], t, NULL, out);
  });
}

cltrain_status predict_images(cltrain_model *m, const cltrain_image *images, int n, float *logits) {
  const char *fn = "cltrain_model_predict_images";
  if (!m) return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: model is NULL", fn);
  cltrain_context *cx = model_context(m);
  if (!images || n < 1 || !logits)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: NULL images or logits, or n = %d", fn, n);
  return predict_items(m, fn, n, logits, [&](int i, const transform_params *t, float *out) {
    char name[32];
    std::snprintf(name, sizeof name, "images[%d]", i);
    const cltrain_image &im = images[i];
    return transform_eval_bgr(cx, im.data, im.height, im.width, im.stride, name, t, out);
  });
}

cltrain_status class_names(const char *path, char *buf, size_t cap, size_t *size, int *count) {
  const char *fn = "cltrain_onnx_class_names";
  if (!path) return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: path is NULL", fn);
  if (!buf && cap) return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: buf is NULL but cap is %zu", fn, cap);
  std::ifstream in(path, std::ios::binary);
  if (!in) return rt_fail(NULL, CLTRAIN_ERR_IO, "cannot open '%s': %s", path, std::strerror(errno));
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in) || !model.has_graph())
    return rt_fail(NULL, CLTRAIN_ERR_FORMAT, "'%s' is not an ONNX model (protobuf parse failed)", path);
  std::string packed;
  int names = 0;
  for (const auto &e : model.metadata_props()) {
    if (e.key() != "cltrain.classes") continue;
    packed.clear(), names = 0;
    const std::string &v = e.value();
    size_t start = 0;
    for (;;) { /* one name per line, as the export joins them */
      size_t end = v.find('\n', start);
      std::string name = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
      packed += name;
      packed += '\0';
      names++;
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  if (size) *size = packed.size();
  if (buf && packed.size() > cap)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "%s: '%s' holds %d class names in %zu bytes; the buffer "
                   "has %zu", fn, path, names, packed.size(), cap);
  if (buf) std::memcpy(buf, packed.data(), packed.size());
  if (count) *count = names;
  return CLTRAIN_OK;
}

} // namespace

extern "C" cltrain_status cltrain_model_predict_files(cltrain_model *m, const char *const *paths,
                                                      int n, float *logits) {
  cltrain_context *cx = m ? model_context(m) : NULL;
  try {
    return predict_files(m, paths, n, logits);
  } catch (const std::bad_alloc &) {
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "cltrain_model_predict_files: out of host memory");
  } catch (const std::exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "cltrain_model_predict_files: %s", e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "cltrain_model_predict_files: unknown exception");
  }
}

extern "C" cltrain_status cltrain_model_predict_images(cltrain_model *m, const cltrain_image *images,
                                                       int n, float *logits) {
  cltrain_context *cx = m ? model_context(m) : NULL;
  try {
    return predict_images(m, images, n, logits);
  } catch (const std::bad_alloc &) {
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "cltrain_model_predict_images: out of host memory");
  } catch (const std::exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "cltrain_model_predict_images: %s", e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "cltrain_model_predict_images: unknown exception");
  }
}

extern "C" cltrain_status cltrain_softmax(const float *logits, int n, int k, float *probs) {
  if (!logits || !probs || n < 1 || k < 1)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_softmax: NULL logits or probs, or n = %d, k = %d", n, k);
  for (int i = 0; i < n; i++) {
    const float *l = logits + (size_t)i * k;
    float *p = probs + (size_t)i * k;
    double mx = l[0], sum = 0;
    for (int j = 1; j < k; j++) mx = l[j] > mx ? l[j] : mx;
    std::vector<double> e(k);
    for (int j = 0; j < k; j++) sum += e[j] = std::exp((double)l[j] - mx);
    for (int j = 0; j < k; j++) p[j] = (float)(e[j] / sum);
  }
  return CLTRAIN_OK;
}

extern "C" cltrain_status cltrain_onnx_class_names(const char *onnx_path, char *buf, size_t cap,
                                                   size_t *size, int *count) {
  try {
    return class_names(onnx_path, buf, cap, size, count);
  } catch (const std::exception &e) {
    return rt_fail(NULL, CLTRAIN_ERR_INTERNAL, "cltrain_onnx_class_names: '%s': %s", onnx_path ? onnx_path : "(null)", e.what());
  } catch (...) {
    return rt_fail(NULL, CLTRAIN_ERR_INTERNAL, "cltrain_onnx_class_names: unknown exception");
  }
}
