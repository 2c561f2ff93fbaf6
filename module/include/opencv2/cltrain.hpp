/* cltrain.hpp: the thin C++ layer over cltrain.h: RAII handles, cv::Exception on failure, and
 * sharing OpenCV's own OpenCL context so cv::UMat buffers are used without copies. What carries
 * CV_EXPORTS_W / CV_WRAP is also Python's cv2.cltrain in an OpenCV build that includes this
 * module (scripts/check-contrib); everything here is inline over the C API. */
#ifndef OPENCV_CLTRAIN_HPP
#define OPENCV_CLTRAIN_HPP

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>

#include "opencv2/cltrain.h"

namespace cv {
namespace cltrain {

/* Throws cv::Exception carrying cltrain's status text and detail when st is not CLTRAIN_OK. */
inline void check(cltrain_status st, const cltrain_context *cx = nullptr) {
  if (st != CLTRAIN_OK)
    CV_Error(cv::Error::StsError,
             std::string(cltrain_status_str(st)) + ": " + cltrain_last_error(cx));
}

/* Every OpenCL device on the machine. */
inline std::vector<cltrain_device_info> devices() {
  int n = 0;
  check(cltrain_devices(nullptr, 0, &n));
  std::vector<cltrain_device_info> v((size_t)n);
  check(cltrain_devices(v.data(), n, &n));
  return v;
}

/* An OpenCL device and queue, owned (create) or adopted from OpenCV (fromOpenCV). */
class Context {
 public:
  /* selector: "P:D", "gpu", "cpu", or a device-name substring; "" for $CLTRAIN_DEVICE/default. */
  static Context create(const std::string &selector = std::string()) {
    cltrain_context *cx = nullptr;
    check(cltrain_context_create(selector.empty() ? nullptr : selector.c_str(), &cx));
    return Context(cx);
  }

  /* Adopts cv::ocl's current context and queue, so cl_mem handles of cv::UMat can be passed to
   * cltrain directly. OpenCV must have OpenCL enabled (cv::ocl::useOpenCL()); on PoCL set
   * OPENCV_OPENCL_DEVICE=:CPU: first, or OpenCV sees no CPU device. */
  static Context fromOpenCV() {
    if (!cv::ocl::useOpenCL())
      CV_Error(cv::Error::OpenCLApiCallError,
               "cltrain: OpenCV has no OpenCL device (on a CPU-only machine set "
               "OPENCV_OPENCL_DEVICE=:CPU:)");
    void *ctx = cv::ocl::Context::getDefault().ptr();
    void *queue = cv::ocl::Queue::getDefault().ptr();
    cltrain_context *cx = nullptr;
    check(cltrain_context_create_from_cl(ctx, queue, &cx));
    return Context(cx);
  }

  cltrain_device_info device() const {
    cltrain_device_info info;
    check(cltrain_context_device(cx_.get(), &info), cx_.get());
    return info;
  }
  void finish() { check(cltrain_context_finish(cx_.get()), cx_.get()); }
  cltrain_context *get() const { return cx_.get(); }

 private:
  explicit Context(cltrain_context *cx) : cx_(cx, cltrain_context_destroy) {}
  std::shared_ptr<cltrain_context> cx_;
};

/* "0.1.0": the version of the libcltrain in use (cv2.cltrain.version()). */
CV_EXPORTS_W inline String version() { return cltrain_version(); }

/* A model for inference: cv2.cltrain.Model_load(path).predict([cv2.imread(f)]) in Python. */
class CV_EXPORTS_W Model {
 public:
  /* Loads an ONNX model on `device` ("" for $CLTRAIN_DEVICE or the default device). */
  CV_WRAP static Ptr<Model> load(const String &path, const String &device = String()) {
    Ptr<Model> p(new Model(Context::create(device)));
    cltrain_model *m = nullptr;
    check(cltrain_model_load_onnx(p->cx_.get(), path.c_str(), &m), p->cx_.get());
    p->m_.reset(m, cltrain_model_destroy);
    return p;
  }

  CV_WRAP int numClasses() const {
    cltrain_model_info info;
    check(cltrain_model_get_info(m_.get(), &info), cx_.get());
    return info.num_classes;
  }

  /* Class probabilities (images, classes), CV_32F, of 8-bit BGR images as cv::imread gives
   * them, through the evaluation transform (cltrain_model_predict_images). */
  CV_WRAP Mat predict(const std::vector<Mat> &images) const {
    std::vector<cltrain_image> in;
    for (const Mat &im : images) {
      CV_Assert(im.type() == CV_8UC3 && im.dims == 2);
      in.push_back(cltrain_image{im.data, im.rows, im.cols, im.step[0]});
    }
    int n = (int)in.size(), k = numClasses();
    Mat logits(n, k, CV_32F), probs(n, k, CV_32F);
    check(cltrain_model_predict_images(m_.get(), in.data(), n, logits.ptr<float>()), cx_.get());
    check(cltrain_softmax(logits.ptr<float>(), n, k, probs.ptr<float>()));
    return probs;
  }

 private:
  explicit Model(Context cx) : cx_(std::move(cx)) {}
  Context cx_;                       /* declared first: the model goes before its context */
  std::shared_ptr<cltrain_model> m_;
};

}  // namespace cltrain
}  // namespace cv

#endif /* OPENCV_CLTRAIN_HPP */
