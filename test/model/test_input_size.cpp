/* test_input_size.cpp: a model imported for 224 x 224 runs at other input sizes; its logits
 * equal cv::dnn's on the same file and input, and an empty size is refused. */
#include <cstring>
#include <string>
#include <vector>

#include <opencv2/dnn.hpp>

extern "C" {
#include "check.h"
#include "model/model.h"
}

int main() {
  cltrain_context *cx = test_context();
  std::string path = std::string(getenv("CLTRAIN_REF_DIR")) + "/whole_r18_bn.onnx";
  cltrain_model *m = nullptr;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path.c_str(), &m))) return check_done();
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  const int sizes[][2] = {{64, 64}, {96, 160}, {224, 224}};
  for (auto &hw : sizes) {
    CHECK_OK(cltrain_model_set_input_size(m, hw[0], hw[1]));
    std::vector<float> x(2 * 3 * hw[0] * hw[1]);
    fill_uniform(x.data(), x.size(), 9, -2, 2);
    float ours[4];
    CHECK_OK(cltrain_model_forward(m, x.data(), 2, ours));
    int dims[4] = {2, 3, hw[0], hw[1]};
    net.setInput(cv::Mat(4, dims, CV_32F, x.data()));
    cv::Mat theirs = net.forward();
    /* same float32 network on both sides: ~3e-7; 1e-5 as for every cv::dnn comparison */
    double e = rel_l2(theirs.ptr<float>(), ours, 4);
    printf("  %dx%d: cltrain vs cv::dnn logits rel L2 %.2e\n", hw[0], hw[1], e);
    CHECK(e <= 1e-5, "%dx%d logits: rel L2 %.2e", hw[0], hw[1], e);
  }
  /* (ResNet's padding keeps every output non-empty down to 1 x 1, as in PyTorch.) */
  CHECK_STATUS(cltrain_model_set_input_size(m, 0, 64), CLTRAIN_ERR_ARG);
  CHECK(std::strlen(cltrain_last_error(cx)) > 0, "the refusal says which node: %s", cltrain_last_error(cx));
  CHECK_OK(cltrain_model_set_input_size(m, 224, 224)); /* still usable afterwards */
  std::vector<float> x(3 * 224 * 224, 0.5f);
  float l[2];
  CHECK_OK(cltrain_model_forward(m, x.data(), 1, l));
  CHECK_STATUS(cltrain_model_set_input_size(nullptr, 64, 64), CLTRAIN_ERR_ARG);

  /* An export declares the size it runs at, and loading it back restores that size. */
  std::string out = "exported_64.onnx"; /* the working folder: each _clblast twin has its own */
  CHECK_OK(cltrain_model_set_input_size(m, 64, 96));
  CHECK_OK(cltrain_model_export_onnx(m, out.c_str(), nullptr, 0));
  cltrain_model *back = nullptr;
  cltrain_model_info info = {};
  if (CHECK_OK(cltrain_model_load_onnx(cx, out.c_str(), &back))) CHECK_OK(cltrain_model_get_info(back, &info));
  CHECK(info.in_h == 64 && info.in_w == 96, "the exported model comes back at 64x96, got %dx%d", info.in_h, info.in_w);
  cltrain_model_destroy(back);
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return check_done();
}
