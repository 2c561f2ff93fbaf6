/* test_export.cpp: ONNX export round trips. A BN-kept and a BN-folded input are trained a step
 * with a new head, exported, and checked: cv::dnn's logits equal cltrain's (the export verifies
 * this itself; here it is checked again from outside), node and initializer names of the input
 * are kept except the replaced head, BN nodes stay, the running statistics are the updated
 * ones, class names land in metadata_props; and failures leave no file behind. */
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>

extern "C" {
#include "check.h"
#include "model/model.h"
}

static std::string ref_dir() { return getenv("CLTRAIN_REF_DIR"); }

static bool read_model(const std::string &path, onnx::ModelProto *m) {
  std::ifstream in(path, std::ios::binary);
  return in && m->ParseFromIstream(&in);
}

static std::vector<float> param(cltrain_model *m, const char *name) {
  size_t n = 0;
  cltrain_model_get_param(m, name, nullptr, 0, &n);
  std::vector<float> v(n);
  cltrain_model_get_param(m, name, v.data(), n, nullptr);
  return v;
}

static void round_trip(cltrain_context *cx, const char *src_name, int bn_nodes, int hidden) {
  std::string src = ref_dir() + "/" + src_name, out = std::string("exported_") + src_name; /* in the working folder: the _clblast twin has its own */
  printf("%s\n", src_name);
  cltrain_model *m = nullptr;
  if (!CHECK_OK(cltrain_model_load_onnx(cx, src.c_str(), &m))) return;
  int sizes[1] = {hidden};
  cltrain_head_options head = {sizeof head, 3, sizes, hidden > 0, 0.25f, 77};
  CHECK_OK(cltrain_model_replace_head(m, &head));
  CHECK_OK(cltrain_model_freeze(m, "upto:layer4"));
  CHECK_OK(cltrain_model_set_train(m, 1));
  std::vector<float> x(2 * 3 * 224 * 224);
  fill_uniform(x.data(), x.size(), 3, -2, 2);
  int labels[2] = {0, 2};
  float loss;
  cltrain_sgd_options o = cltrain_sgd_defaults();
  o.lr = 0.05;
  CHECK_OK(cltrain_model_loss_grad(m, x.data(), labels, 2, &loss, nullptr));
  CHECK_OK(cltrain_model_sgd_step(m, &o));
  const char *names[3] = {"ants", "bees", "wasps"};
  if (!CHECK_OK(cltrain_model_export_onnx(m, out.c_str(), names, 3))) {
    cltrain_model_destroy(m);
    return;
  }
  printf("  export verified by cltrain: cv::dnn vs cltrain logits rel L2 %.2e\n", model_export_error(m));

  /* From outside: cv::dnn's logits equal cltrain's eval-mode forward. */
  cv::dnn::Net net = cv::dnn::readNet(out);
  int dims[4] = {2, 3, 224, 224};
  net.setInput(cv::Mat(4, dims, CV_32F, x.data()));
  cv::Mat theirs = net.forward();
  float ours[6];
  CHECK_OK(cltrain_model_set_train(m, 0));
  CHECK_OK(cltrain_model_forward(m, x.data(), 2, ours));
  /* float32 on both sides over the same weights: ~3e-7 (environment.md); 1e-5 as the export's own bound */
  double e = rel_l2(theirs.ptr<float>(), ours, 6);
  CHECK(theirs.total() == 6 && e <= 1e-5, "%s: cv::dnn logits (%zu) match cltrain's: rel L2 %.2e", src_name,
        (size_t)theirs.total(), e);

  /* Names kept, BN nodes kept, head replaced, metadata written. */
  onnx::ModelProto a, b;
  CHECK(read_model(src, &a) && read_model(out, &b), "both files parse as ONNX");
  std::set<std::string> out_nodes, out_inits;
  int bn = 0;
  for (auto &n : b.graph().node()) out_nodes.insert(n.name()), bn += n.op_type() == "BatchNormalization";
  for (auto &t : b.graph().initializer()) out_inits.insert(t.name());
  int kept = 0, dropped = 0;
  for (auto &n : a.graph().node()) (out_nodes.count(n.name()) ? kept : dropped)++;
  /* The new classifier is scoped "/fc/Gemm" like torch's, so even its name survives. */
  CHECK(dropped == 0, "%s: every source node name is kept (%d kept, %d dropped)", src_name, kept, dropped);
  CHECK(b.graph().node_size() == a.graph().node_size() + 2 * (hidden > 0),
        "%s: %d nodes, the source's %d plus a hidden Gemm and Relu", src_name, b.graph().node_size(), a.graph().node_size());
  int kept_init = 0;
  for (auto &t : a.graph().initializer()) kept_init += out_inits.count(t.name()) > 0;
  /* The new head reuses the names fc.weight and fc.bias, so every source name is present. */
  CHECK(kept_init == a.graph().initializer_size(), "%s: all source initializer names are kept (%d of %d)",
        src_name, kept_init, a.graph().initializer_size());
  CHECK(bn == bn_nodes, "%s: %d BatchNormalization nodes, want %d", src_name, bn, bn_nodes);
  CHECK(out_inits.count("fc.weight") && out_inits.count("fc.bias"), "the new head's initializers are named fc.*");
  std::string classes;
  for (auto &p : b.metadata_props())
    if (p.key() == "cltrain.classes") classes = p.value();
  CHECK(classes == "ants\nbees\nwasps", "class names in metadata_props: '%s'", classes.c_str());

  /* Loading the export back gives the trained weights bitwise, running statistics included. */
  cltrain_model *back = nullptr;
  if (CHECK_OK(cltrain_model_load_onnx(cx, out.c_str(), &back))) {
    int same = 1, tensors = 0;
    for (int i = 0; cltrain_model_tensor_name(m, i); i++) {
      const char *t = cltrain_model_tensor_name(m, i);
      if (param(m, t) != param(back, t)) {
        if (same) printf("  differs after reading back: %s\n", t);
        same = 0;
      }
      tensors++;
    }
    CHECK(same, "%s: all %d tensors read back bitwise equal", src_name, tensors);
    cltrain_model_destroy(back);
  }

  /* Failures leave nothing behind and never touch an existing file. */
  std::string blocked = "export_blocker.txt";
  std::ofstream(blocked) << "a regular file, so a path below it cannot be created, even by root\n";
  std::string bad = blocked + "/out.onnx";
  CHECK_STATUS(cltrain_model_export_onnx(m, bad.c_str(), nullptr, 0), CLTRAIN_ERR_IO);
  CHECK(strstr(cltrain_last_error(cx), blocked.c_str()) != nullptr, "the message names the folder: %s", cltrain_last_error(cx));
  struct stat st_before, st_after;
  stat(out.c_str(), &st_before);
  /* simulate the source vanishing before a second export */
  CHECK_OK(model_set_source_path(m, (ref_dir() + "/no-such-source.onnx").c_str()));
  CHECK_STATUS(cltrain_model_export_onnx(m, out.c_str(), nullptr, 0), CLTRAIN_ERR_IO);
  stat(out.c_str(), &st_after);
  CHECK(st_before.st_size == st_after.st_size && st_before.st_mtime == st_after.st_mtime,
        "a failed export leaves the existing file untouched");
  int leftovers = access(bad.c_str(), F_OK) == 0;
  std::string tmp_prefix = std::string("exported_") + src_name + ".tmp";
  if (DIR *d = opendir(".")) {
    while (struct dirent *e = readdir(d)) leftovers += !strncmp(e->d_name, tmp_prefix.c_str(), tmp_prefix.size());
    closedir(d);
  }
  CHECK(leftovers == 0, "no temporary or partial file is left (%d found)", leftovers);
  CHECK_STATUS(cltrain_model_export_onnx(nullptr, out.c_str(), nullptr, 0), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_export_onnx(m, nullptr, nullptr, 0), CLTRAIN_ERR_ARG);
  cltrain_model_destroy(m);
}

int main() {
  cltrain_context *cx = test_context();
  round_trip(cx, "resnet18_bn_op13.onnx", 20, 0);
  round_trip(cx, "resnet18_fold_op13.onnx", 0, 0);
  round_trip(cx, "resnet18_fold_op13.onnx", 0, 16); /* hidden Linear->ReLU->Dropout head */
  cltrain_context_destroy(cx);
  return check_done();
}
