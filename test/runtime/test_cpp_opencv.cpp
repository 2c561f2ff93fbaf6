/* test_cpp_opencv.cpp: the C++ layer: cv::Exception on failure, and adopting OpenCV's OpenCL
 * context so a GEMM runs directly on cv::UMat buffers (no copies). */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/cltrain.hpp>

extern "C" {
#include "runtime/blas.h"
#include "check.h"
}

int main() {
  /* A bad selector throws cv::Exception with cltrain's message; nothing else escapes. */
  bool threw = false;
  try {
    cv::cltrain::Context::create("no-such-device-q");
  } catch (const cv::Exception &e) {
    threw = std::strstr(e.what(), "CLTRAIN_ERR_DEVICE") && std::strstr(e.what(), "no-such-device-q");
  }
  CHECK(threw, "a bad selector throws cv::Exception naming the status and the selector");
  CHECK(!cv::cltrain::devices().empty(), "devices() lists at least one device");
  cv::cltrain::Context own = cv::cltrain::Context::create("cpu");
  CHECK(own.device().type == CLTRAIN_DEVICE_CPU, "create(\"cpu\") opens a CPU device");

  /* OpenCV sees PoCL only with OPENCV_OPENCL_DEVICE=:CPU: (set before its first OpenCL use). */
  setenv("OPENCV_OPENCL_DEVICE", ":CPU:", 1);
  cv::ocl::setUseOpenCL(true);
  if (!cv::ocl::useOpenCL()) {
    CHECK(0, "OpenCV found no OpenCL CPU device even with OPENCV_OPENCL_DEVICE=:CPU:");
    return check_done();
  }
  cv::cltrain::Context shared = cv::cltrain::Context::fromOpenCV();
  CHECK(shared.get()->ctx == (cl_context)cv::ocl::Context::getDefault().ptr(), "adopts OpenCV's cl_context");
  CHECK(shared.get()->queue == (cl_command_queue)cv::ocl::Queue::getDefault().ptr(), "adopts OpenCV's queue");

  /* C = A * B on UMats; B is a ROI so its offset and leading dimension are not trivial. */
  const int m = 37, n = 29, k = 45;
  cv::Mat a(m, k, CV_32F), bbig(k + 3, n + 5, CV_32F), c(m, n, CV_32F, cv::Scalar(0));
  cv::randu(a, -1, 1);
  cv::randu(bbig, -1, 1);
  cv::Mat b = bbig(cv::Rect(2, 3, n, k));
  cv::UMat ua = a.getUMat(cv::ACCESS_READ), ubbig = bbig.getUMat(cv::ACCESS_READ),
           uc = c.getUMat(cv::ACCESS_RW);
  cv::UMat ub = ubbig(cv::Rect(2, 3, n, k));
  buf A = {(cl_mem)ua.handle(cv::ACCESS_READ), ua.offset / 4};
  buf B = {(cl_mem)ub.handle(cv::ACCESS_READ), ub.offset / 4};
  buf C = {(cl_mem)uc.handle(cv::ACCESS_RW), uc.offset / 4};
  CHECK_OK(blas_sgemm(shared.get(), 0, 0, m, n, k, 1.0f, A, ua.step[0] / 4, B, ub.step[0] / 4, 0.0f,
                      C, uc.step[0] / 4));
  shared.finish();
  cv::Mat got = uc.getMat(cv::ACCESS_READ).clone();
  cv::Mat want;
  cv::gemm(a, b, 1.0, cv::noArray(), 0.0, want);
  double e = cv::norm(got, want, cv::NORM_L2) / cv::norm(want, cv::NORM_L2);
  /* float32 GEMM over k=45: ~1e-7; 1e-6 catches any wrong offset or stride (error ~1) */
  CHECK(e <= 1e-6, "GEMM on UMat buffers matches cv::gemm: rel L2 %.2e", e);
  printf("  GEMM on shared UMats: rel L2 %.2e\n", e);
  return check_done();
}
