// cmd_synth.cpp: `cltrain synth`, a labelled image set drawn with OpenCV, so the demo (and any
// user without data at hand) can show transfer learning offline. Two disjoint sets of shape
// classes: "a" to pretrain on, "b" to transfer to. Deterministic for a seed.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

extern "C" {
#include "dev.h"
#include "core/rng.h"
}

namespace {

const char *const set_a[] = {"circle", "square", "triangle", "star"};
const char *const set_b[] = {"cross", "ring", "hexagon", "arrow"};

double uni(cltrain_rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform_f64(r); }

cv::Scalar color(cltrain_rng *r) { return cv::Scalar(uni(r, 0, 255), uni(r, 0, 255), uni(r, 0, 255)); }

/* A regular polygon (or star when inner > 0) around c, radius rad, rotated by a. */
std::vector<cv::Point> polygon(cv::Point2d c, double rad, int corners, double a, double inner = 0) {
  std::vector<cv::Point> p;
  int n = inner > 0 ? 2 * corners : corners;
  for (int i = 0; i < n; i++) {
    double rr = inner > 0 && i % 2 ? rad * inner : rad, t = a + 2 * M_PI * i / n;
    p.emplace_back((int)std::lround(c.x + rr * std::cos(t)), (int)std::lround(c.y + rr * std::sin(t)));
  }
  return p;
}

/* A colour whose brightness differs from `bg`'s by at least 90 of 255, so every shape is visible. */
cv::Scalar contrasting(const cv::Scalar &bg, cltrain_rng *r) {
  double luma = (bg[0] + bg[1] + bg[2]) / 3;
  for (;;) {
    cv::Scalar c = color(r);
    if (std::fabs((c[0] + c[1] + c[2]) / 3 - luma) >= 90) return c;
  }
}

void draw_shape(cv::Mat &img, const std::string &cls, const cv::Scalar &bg, cltrain_rng *r) {
  int s = img.rows;
  double rad = uni(r, 0.25, 0.42) * s, a = uni(r, 0, 2 * M_PI);
  cv::Point2d c(uni(r, rad, s - rad), uni(r, rad, s - rad));
  cv::Scalar col = contrasting(bg, r);
  int thick = std::max(1, (int)(rad / 5));
  std::vector<std::vector<cv::Point>> poly(1);
  if (cls == "circle") cv::circle(img, c, (int)rad, col, cv::FILLED, cv::LINE_AA);
  else if (cls == "ring") cv::circle(img, c, (int)rad, col, thick, cv::LINE_AA);
  else if (cls == "square") poly[0] = polygon(c, rad, 4, a);
  else if (cls == "triangle") poly[0] = polygon(c, rad, 3, a);
  else if (cls == "hexagon") poly[0] = polygon(c, rad, 6, a);
  else if (cls == "star") poly[0] = polygon(c, rad, 5, a, 0.45);
  else if (cls == "cross") poly[0] = polygon(c, rad, 4, a, 0.3);
  else if (cls == "arrow") {
    cv::Point2d d(std::cos(a), std::sin(a));
    cv::arrowedLine(img, c - d * rad, c + d * rad, col, thick, cv::LINE_AA, 0, 0.4);
  }
  if (!poly[0].empty()) cv::fillPoly(img, poly, col, cv::LINE_AA);
}

/* Background: a gentle gradient around a random colour, and one thin distractor line. */
cv::Mat background(int s, cltrain_rng *r, cv::Scalar *mean) {
  cv::Mat img(s, s, CV_8UC3);
  cv::Scalar c0 = color(r), d(uni(r, -30, 30), uni(r, -30, 30), uni(r, -30, 30));
  for (int y = 0; y < s; y++) {
    double t = (double)y / (s - 1) - 0.5;
    img.row(y).setTo(c0 + d * t);
  }
  cv::line(img, cv::Point((int)uni(r, 0, s), (int)uni(r, 0, s)), cv::Point((int)uni(r, 0, s), (int)uni(r, 0, s)),
           color(r), 1, cv::LINE_AA);
  *mean = c0;
  return img;
}

void add_noise(cv::Mat &img, cltrain_rng *r) {
  for (int y = 0; y < img.rows; y++)
    for (int x = 0; x < img.cols; x++) {
      cv::Vec3b &p = img.at<cv::Vec3b>(y, x);
      for (int ch = 0; ch < 3; ch++) p[ch] = cv::saturate_cast<uchar>(p[ch] + uni(r, -12, 12));
    }
}

/* mkdir -p */
bool make_dir(const std::string &d) {
  for (size_t at = d.find('/', 1); at != std::string::npos; at = d.find('/', at + 1))
    if (mkdir(d.substr(0, at).c_str(), 0755) != 0 && errno != EEXIST) return false;
  return mkdir(d.c_str(), 0755) == 0 || errno == EEXIST;
}

bool synth_int(const char *flag, const char *v, int lo, int hi, int *out) {
  long long x;
  if (!cli_int("synth", flag, v, lo, hi, &x)) return false;
  *out = (int)x;
  return true;
}

}  // namespace

extern "C" int cmd_synth(int argc, char **argv) {
  const char *out = nullptr, *set = "a", *v = nullptr;
  int ntrain = 60, nval = 30, size = 64, bad = 0;
  unsigned long long seed = 1;
  for (int i = 1; i < argc && !bad; i++) {
    if (cli_flag(argc, argv, &i, "--help", nullptr, &bad)) {
      printf("usage: cltrain synth --out DIR [--set a|b] [--train N (60)] [--val N (30)] [--size S (64)] [--seed S]\n\n"
             "Draws a labelled ImageFolder (DIR/train/<class>/*.png, DIR/val/<class>/*.png) with OpenCV:\n"
             "set a has circle, square, triangle, star; set b has cross, ring, hexagon, arrow. Shapes\n"
             "vary in colour, size, place and rotation over noisy backgrounds, always in contrast. N per\n"
             "class and split; the same seed draws the same images.\n");
      return 0;
    } else if (cli_flag(argc, argv, &i, "--out", &v, &bad) && !bad) out = v;
    else if (cli_flag(argc, argv, &i, "--set", &v, &bad) && !bad) set = v;
    else if (cli_flag(argc, argv, &i, "--train", &v, &bad) && !bad) bad = !synth_int("--train", v, 1, 100000, &ntrain);
    else if (cli_flag(argc, argv, &i, "--val", &v, &bad) && !bad) bad = !synth_int("--val", v, 1, 100000, &nval);
    else if (cli_flag(argc, argv, &i, "--size", &v, &bad) && !bad) bad = !synth_int("--size", v, 16, 1024, &size);
    else if (cli_flag(argc, argv, &i, "--seed", &v, &bad) && !bad) bad = !cli_u64("synth", "--seed", v, &seed);
    else if (!bad) {
      fprintf(stderr, "cltrain synth: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  if (bad) return 2;
  if (!out || (strcmp(set, "a") && strcmp(set, "b")) || ntrain < 1 || nval < 1 || size < 16 || size > 1024) {
    fprintf(stderr, "cltrain synth: need --out DIR, --set a|b, --train/--val >= 1 and 16 <= --size <= 1024\n");
    return 2;
  }
  if (cli_parse_only) return 0;
  const char *const *classes = !strcmp(set, "a") ? set_a : set_b;
  cltrain_rng r = rng_make(seed * 2 + (set[0] == 'b'), RNG_STREAM_AUGMENT);
  std::string root = out;
  for (const char *split : {"train", "val"}) {
    int count = !strcmp(split, "train") ? ntrain : nval;
    if (!make_dir(root) || !make_dir(root + "/" + split)) {
      fprintf(stderr, "cltrain synth: cannot create %s/%s: %s\n", out, split, strerror(errno));
      return 1;
    }
    for (int c = 0; c < 4; c++) {
      std::string dir = root + "/" + split + "/" + classes[c];
      if (!make_dir(dir)) {
        fprintf(stderr, "cltrain synth: cannot create %s: %s\n", dir.c_str(), strerror(errno));
        return 1;
      }
      for (int i = 0; i < count; i++) {
        cv::Scalar bg;
        cv::Mat img = background(size, &r, &bg);
        draw_shape(img, classes[c], bg, &r);
        add_noise(img, &r);
        char name[64];
        snprintf(name, sizeof name, "/%04d.png", i);
        if (!cv::imwrite(dir + name, img)) {
          fprintf(stderr, "cltrain synth: cannot write %s%s\n", dir.c_str(), name);
          return 1;
        }
      }
    }
  }
  printf("synth: set %s, 4 classes x (%d train + %d val) images of %dx%d in %s\n", set, ntrain, nval, size, size, out);
  return 0;
}
