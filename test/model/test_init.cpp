/* test_init.cpp: cltrain_resnet_onnx (`cltrain init`): the written ResNet imports with
 * torchvision's names and parameter counts, its weights follow torchvision's initial
 * distributions, cv::dnn and cltrain compute the same logits from it, a seed always gives the
 * same file, and every error path fails cleanly without leaving a file; cltrain_init_onnx's
 * MobileNetV3-small and EfficientNet-B0 load, and its errors. */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <opencv2/dnn.hpp>

extern "C" { /* check.h is a C header */
#include "check.h"
}
#include "opencv2/cltrain.h"

static std::string dir;

static std::string tmp_file(const char *name) { return dir + "/" + name; }

static bool exists(const std::string &p) {
  struct stat s;
  return stat(p.c_str(), &s) == 0;
}

static std::string slurp(const std::string &p) {
  std::string s;
  FILE *f = fopen(p.c_str(), "rb");
  if (!f) return s;
  char b[65536];
  size_t k;
  while ((k = fread(b, 1, sizeof b, f)) > 0) s.append(b, k);
  fclose(f);
  return s;
}

static std::vector<float> param(cltrain_model *m, const std::string &name) {
  size_t n = 0;
  if (cltrain_model_get_param(m, name.c_str(), nullptr, 0, &n) != CLTRAIN_OK) {
    CHECK(0, "tensor %s missing: %s", name.c_str(), cltrain_last_error(nullptr));
    return {};
  }
  std::vector<float> v(n);
  CHECK_OK(cltrain_model_get_param(m, name.c_str(), v.data(), n, &n));
  return v;
}

static void moments(const std::vector<float> &v, double *mean, double *sd) {
  double s = 0, s2 = 0;
  for (float x : v) s += x;
  *mean = s / (double)v.size();
  for (float x : v) s2 += (x - *mean) * (x - *mean);
  *sd = std::sqrt(s2 / (double)v.size());
}

/* The conv layers of torchvision's resnet18 with their weight shapes (K, C, R). */
struct conv_desc {
  std::string name;
  int k, c, r;
};

static std::vector<conv_desc> r18_convs() {
  std::vector<conv_desc> v = {{"conv1", 64, 3, 7}};
  int cin = 64;
  for (int l = 1; l <= 4; l++) {
    int cout = 64 << (l - 1);
    for (int b = 0; b < 2; b++) {
      std::string p = "layer" + std::to_string(l) + "." + std::to_string(b);
      v.push_back({p + ".conv1", cout, b ? cout : cin, 3});
      v.push_back({p + ".conv2", cout, cout, 3});
      if (b == 0 && l > 1) v.push_back({p + ".downsample.0", cout, cin, 1});
    }
    cin = cout;
  }
  return v;
}

static void test_resnet18(cltrain_context *cx) {
  std::string path = tmp_file("r18.onnx");
  CHECK_OK(cltrain_resnet_onnx("resnet18", 1000, 42, path.c_str()));
  cltrain_model *m = nullptr;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, path.c_str(), &m))) return;
  cltrain_model_info info;
  CHECK_OK(cltrain_model_get_info(m, &info));
  CHECK(info.num_params == 11689512u, "resnet18/1000 has %zu parameters, torchvision 11,689,512", info.num_params);
  CHECK(info.num_classes == 1000 && info.num_param_layers == 41 && info.num_stages == 4,
        "classes %d, param layers %d (20 conv + 20 bn + fc), stages %d", info.num_classes,
        info.num_param_layers, info.num_stages);
  /* the state_dict names, in torchvision's order */
  const char *want[] = {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "layer1.0.conv1.weight"};
  for (int i = 0; i < 6; i++) {
    const char *got = cltrain_model_tensor_name(m, i);
    CHECK(got && !strcmp(got, want[i]), "tensor %d is %s, want %s", i, got ? got : "(null)", want[i]);
  }
  int frozen;
  const char *layers[] = {"conv1", "bn1", "layer1.0.conv1", "layer2.0.downsample.0", "layer2.0.downsample.1",
                          "layer4.1.bn2", "fc"};
  for (const char *l : layers) CHECK_OK(cltrain_model_is_frozen(m, l, &frozen));

  /* conv weights: N(0, 2/fan_out). Per tensor the sample std's relative error is about
   * 1/sqrt(2n) <= 0.8% (n >= 8192), so 3% is a > 3.5-sigma bound; pooled over all 11M
   * weights, the standardised values must look Gaussian: mean 0 +-0.002, std 1 +-0.2%,
   * P(|z| < 1) = 0.6827 +-0.002. */
  double zs = 0, zs2 = 0, inside = 0, total = 0;
  for (auto &c : r18_convs()) {
    std::vector<float> w = param(m, c.name + ".weight");
    CHECK(w.size() == (size_t)c.k * c.c * c.r * c.r, "%s.weight has %zu values", c.name.c_str(), w.size());
    double mean, sd, want_sd = std::sqrt(2.0 / (c.k * c.r * c.r));
    moments(w, &mean, &sd);
    CHECK(std::fabs(sd / want_sd - 1) < 0.03 && std::fabs(mean) < 4 * want_sd / std::sqrt((double)w.size()),
          "%s: mean %.3g std %.5g, want 0 and %.5g", c.name.c_str(), mean, sd, want_sd);
    for (float x : w) {
      double z = x / want_sd;
      zs += z, zs2 += z * z, inside += std::fabs(z) < 1, total++;
    }
  }
  double zm = zs / total, zsd = std::sqrt(zs2 / total - zm * zm), pin = inside / total;
  CHECK(std::fabs(zm) < 0.002 && std::fabs(zsd - 1) < 0.002 && std::fabs(pin - 0.682689) < 0.002,
        "pooled conv weights / sqrt(2/fan_out): mean %.4f std %.4f P(|z|<1) %.4f", zm, zsd, pin);

  /* BN: exactly torch's defaults */
  const char *bns[] = {"bn1", "layer1.0.bn1", "layer3.0.downsample.1", "layer4.1.bn2"};
  const float vals[] = {1, 0, 0, 1};
  const char *parts[] = {".weight", ".bias", ".running_mean", ".running_var"};
  for (const char *b : bns)
    for (int k = 0; k < 4; k++) {
      std::vector<float> v = param(m, std::string(b) + parts[k]);
      bool ok = !v.empty();
      for (float x : v) ok = ok && x == vals[k];
      CHECK(ok, "%s%s is not all %g", b, parts[k], vals[k]);
    }

  /* fc: U(+-1/sqrt(512)): every value inside, std bound/sqrt(3) within 1% (n = 512000: the
   * sample std's error is ~0.1%) */
  double bound = 1 / std::sqrt(512.0);
  for (const char *t : {"fc.weight", "fc.bias"}) {
    std::vector<float> v = param(m, t);
    double mean, sd, mx = 0;
    moments(v, &mean, &sd);
    for (float x : v) mx = std::fmax(mx, std::fabs(x));
    double tol = !strcmp(t, "fc.bias") ? 0.06 : 0.01; /* the bias has only 1000 values */
    CHECK(mx <= bound && std::fabs(sd / (bound / std::sqrt(3.0)) - 1) < tol,
          "%s: max |x| %.5f (bound %.5f), std %.5f (want %.5f)", t, mx, bound, sd, bound / std::sqrt(3.0));
  }

  /* cv::dnn and cltrain's eval-mode forward agree: both float32 on the same weights,
   * ~1e-7 apart (environment.md); 1e-5 catches any layout or attribute mistake. */
  const int n = 2;
  std::vector<float> x((size_t)n * 3 * 224 * 224), mine((size_t)n * 1000);
  fill_uniform(x.data(), x.size(), 11, -2.0f, 2.0f);
  CHECK_OK(cltrain_model_forward(m, x.data(), n, mine.data()));
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  int dims[4] = {n, 3, 224, 224};
  net.setInput(cv::Mat(4, dims, CV_32F, x.data()));
  cv::Mat out = net.forward();
  CHECK(out.total() == mine.size(), "cv::dnn gives %zu logits", out.total());
  if (out.total() == mine.size()) CHECK_REL("cv::dnn vs cltrain logits", mine.data(), out.ptr<float>(), mine.size(), 1e-5);
  double norm = 0;
  for (float v : mine) norm += v * v;
  CHECK(norm > 0 && std::isfinite(norm), "logits are finite and not all zero (norm^2 %g)", norm);
  cltrain_model_destroy(m);
}

static void test_classes_and_resnet34(cltrain_context *cx) {
  std::string p18 = tmp_file("r18_7.onnx"), p34 = tmp_file("r34_10.onnx");
  CHECK_OK(cltrain_resnet_onnx("resnet18", 7, 1, p18.c_str()));
  CHECK_OK(cltrain_resnet_onnx("resnet34", 10, 1, p34.c_str()));
  cltrain_model *m = nullptr;
  cltrain_model_info info;
  if (CHECK_OK(cltrain_model_load_onnx(cx, p18.c_str(), &m)) && CHECK_OK(cltrain_model_get_info(m, &info)))
    CHECK(info.num_classes == 7 && info.num_params == 11689512u - 513000u + 512u * 7 + 7,
          "resnet18/7: %d classes, %zu parameters", info.num_classes, info.num_params);
  cltrain_model_destroy(m);
  m = nullptr;
  /* torchvision resnet34 with 1000 classes: 21,797,672 */
  if (CHECK_OK(cltrain_model_load_onnx(cx, p34.c_str(), &m)) && CHECK_OK(cltrain_model_get_info(m, &info))) {
    CHECK(info.num_classes == 10 && info.num_params == 21797672u - 513000u + 5130u && info.num_param_layers == 73,
          "resnet34/10: %d classes, %zu parameters, %d param layers", info.num_classes, info.num_params,
          info.num_param_layers);
    int frozen;
    CHECK_OK(cltrain_model_is_frozen(m, "layer3.5.conv2", &frozen));
  }
  cltrain_model_destroy(m);
}

static void test_seed() {
  std::string a = tmp_file("s5a.onnx"), b = tmp_file("s5b.onnx"), c = tmp_file("s6.onnx");
  CHECK_OK(cltrain_resnet_onnx("resnet18", 2, 5, a.c_str()));
  CHECK_OK(cltrain_resnet_onnx("resnet18", 2, 5, b.c_str()));
  CHECK_OK(cltrain_resnet_onnx("resnet18", 2, 6, c.c_str()));
  std::string fa = slurp(a), fb = slurp(b), fc = slurp(c);
  CHECK(fa.size() > 40000000 && fa == fb, "seed 5 twice: %zu and %zu bytes, identical %d", fa.size(), fb.size(), fa == fb);
  CHECK(fa.size() == fc.size() && fa != fc, "seeds 5 and 6 give different weights");
}

/* The argument and path errors of `init` (cltrain_resnet_onnx or cltrain_init_onnx) on `arch`:
 * each fails with its status, and none leaves a file. */
static void test_arg_errors(cltrain_status (*init)(const char *, int, uint64_t, const char *), const char *arch) {
  std::string p = tmp_file("bad_arg.onnx");
  CHECK_STATUS(init(arch, 0, 0, p.c_str()), CLTRAIN_ERR_ARG);
  CHECK_STATUS(init(arch, -3, 0, p.c_str()), CLTRAIN_ERR_ARG);
  CHECK_STATUS(init(nullptr, 2, 0, p.c_str()), CLTRAIN_ERR_ARG);
  CHECK_STATUS(init(arch, 2, 0, nullptr), CLTRAIN_ERR_ARG);
  CHECK_STATUS(init(arch, 2, 0, ""), CLTRAIN_ERR_ARG);
  CHECK(!exists(p), "%s: no file after the argument errors", arch);
  std::string unwritable = dir + "/no-such-dir/x.onnx";
  CHECK_STATUS(init(arch, 2, 0, unwritable.c_str()), CLTRAIN_ERR_IO);
  CHECK(strstr(cltrain_last_error(nullptr), "no-such-dir") != nullptr, "message names the path: %s",
        cltrain_last_error(nullptr));
}

static void test_errors() {
  std::string p = tmp_file("bad.onnx");
  CHECK_STATUS(cltrain_resnet_onnx("resnet50", 2, 0, p.c_str()), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(nullptr), "resnet50") != nullptr, "message names the arch: %s", cltrain_last_error(nullptr));
  /* ... and every architecture it and cltrain_init_onnx (`cltrain init --arch`) write */
  CHECK(strstr(cltrain_last_error(nullptr), "(it writes resnet18, resnet34; cltrain_init_onnx also writes "
                                            "mobilenet_v3_small, efficientnet_b0)") != nullptr,
        "message lists the architectures: %s", cltrain_last_error(nullptr));
  CHECK_STATUS(cltrain_init_onnx("resnet50", 2, 0, p.c_str()), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(nullptr), "cltrain_init_onnx: unknown architecture 'resnet50' (resnet18, resnet34, "
                                            "mobilenet_v3_small, efficientnet_b0)") != nullptr,
        "cltrain_init_onnx names itself and every architecture for an unknown ResNet: %s", cltrain_last_error(nullptr));
  test_arg_errors(cltrain_resnet_onnx, "resnet18");
  /* a failure leaves an existing file untouched, and no temporary behind */
  FILE *f = fopen(p.c_str(), "wb");
  fputs("keep", f);
  fclose(f);
  CHECK_STATUS(cltrain_resnet_onnx("resnet9", 2, 0, p.c_str()), CLTRAIN_ERR_ARG);
  CHECK(slurp(p) == "keep", "existing file untouched by a failed write");
}

/* cltrain_init_onnx(): a ResNet is cltrain_resnet_onnx()'s file; MobileNetV3-small and
 * EfficientNet-B0 load in cltrain with torchvision's parameter counts (test_init_cli.sh compares
 * names, shapes and initial statistics with torchvision); the errors name their culprit. After
 * test_seed, whose s5a.onnx it compares with. */
static void test_init_onnx(cltrain_context *cx) {
  std::string r = tmp_file("init18.onnx");
  CHECK_OK(cltrain_init_onnx("resnet18", 2, 5, r.c_str()));
  CHECK(slurp(r) == slurp(tmp_file("s5a.onnx")), "cltrain_init_onnx(resnet18) writes cltrain_resnet_onnx's bytes");
  const struct {
    const char *arch;
    size_t params; /* torchvision's sum(p.numel()) at 3 classes */
  } archs[] = {{"mobilenet_v3_small", 1520931}, {"efficientnet_b0", 4011391}};
  for (const auto &a : archs) {
    std::string p = tmp_file("init_arch.onnx");
    if (!CHECK_OK(cltrain_init_onnx(a.arch, 3, 1, p.c_str()))) continue;
    cltrain_model *m = nullptr;
    cltrain_model_info info;
    if (CHECK_OK(cltrain_model_load_onnx(cx, p.c_str(), &m)) && CHECK_OK(cltrain_model_get_info(m, &info)))
      CHECK(info.num_classes == 3 && info.num_params == a.params && info.in_h == 224,
            "%s: 3 classes, %zu parameters, 224x224; got %d, %zu, %d", a.arch, a.params, info.num_classes,
            info.num_params, info.in_h);
    cltrain_model_destroy(m);
  }
  CHECK_STATUS(cltrain_init_onnx("vgg16", 2, 0, tmp_file("bad.onnx").c_str()), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(nullptr), "'vgg16' (resnet18, resnet34, mobilenet_v3_small, efficientnet_b0)"),
        "message names the arch and the known ones: %s", cltrain_last_error(nullptr));
  test_arg_errors(cltrain_init_onnx, "mobilenet_v3_small");
}

int main() {
  char tmpl[] = "/tmp/cltrain-test-init-XXXXXX";
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    return 1;
  }
  dir = tmpl;
  cltrain_context *cx = test_context();
  test_errors();
  test_seed();
  test_init_onnx(cx);
  test_resnet18(cx);
  test_classes_and_resnet34(cx);
  cltrain_context_destroy(cx);
  std::string cmd = "rm -rf '" + dir + "'";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir.c_str());
  return check_done();
}
