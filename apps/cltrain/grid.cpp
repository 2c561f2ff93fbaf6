// grid.cpp: draws `cltrain predict --grid`: each input image as a thumbnail with its predicted
// label and probability under it, as the tutorial's visualize_model() shows them.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "opencv2/cltrain.h"
#include "grid.h"

namespace {

cv::Mat thumbnail(const cv::Mat &img) {
  const int S = GRID_THUMB;
  double scale = (double)S / std::min(img.rows, img.cols);
  int h = std::max(S, (int)(img.rows * scale + 0.5)), w = std::max(S, (int)(img.cols * scale + 0.5));
  cv::Mat r;
  cv::resize(img, r, cv::Size(w, h), 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return r(cv::Rect((w - S) / 2, (h - S) / 2, S, S)).clone();
}

int write(const char *out, const char *const *paths, const char *const *captions, int n, std::string *err) {
  const int cols = std::min(n, (int)GRID_COLS), rows = (n + GRID_COLS - 1) / GRID_COLS;
  const int cw = GRID_THUMB, ch = GRID_THUMB + GRID_CAPTION;
  cv::Mat grid(rows * ch, cols * cw, CV_8UC3, cv::Scalar::all(255));
  for (int i = 0; i < n; i++) {
    cv::Mat img = cv::imread(paths[i], cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
    if (img.empty()) return *err = std::string("cannot read image '") + paths[i] + "'", 1;
    int x = (i % GRID_COLS) * cw, y = (i / GRID_COLS) * ch;
    thumbnail(img).copyTo(grid(cv::Rect(x, y, GRID_THUMB, GRID_THUMB)));
    std::string text = captions[i];
    const int font = cv::FONT_HERSHEY_SIMPLEX;
    const double fs = 0.55;
    int base = 0;
    while (text.size() > 3 && cv::getTextSize(text, font, fs, 1, &base).width > cw - 8)
      text = text.substr(0, text.size() - 4) + "..";
    cv::putText(grid, text, cv::Point(x + 4, y + GRID_THUMB + 22), font, fs, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  std::string path = out, ext = ".png";
  size_t dot = path.find_last_of('.'), slash = path.find_last_of('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) ext = path.substr(dot);
  std::vector<unsigned char> bytes;
  try {
    if (!cv::imencode(ext, grid, bytes)) return *err = "cannot encode '" + path + "' as " + ext, 1;
  } catch (const cv::Exception &e) {
    return *err = "cannot encode '" + path + "' as " + ext + ": " + e.what(), 1;
  }
  if (cltrain_write_file(path.c_str(), bytes.data(), bytes.size()) != CLTRAIN_OK)
    return *err = cltrain_last_error(nullptr), 1; /* "cannot write 'PATH': REASON" */
  return 0;
}

} // namespace

extern "C" int grid_write(const char *out, const char *const *paths, const char *const *captions, int n,
                          char *err, size_t errcap) {
  std::string e;
  int rc;
  try {
    rc = write(out, paths, captions, n, &e);
  } catch (const std::exception &x) {
    rc = 1, e = std::string("grid '") + out + "': " + x.what();
  } catch (...) {
    rc = 1, e = std::string("grid '") + out + "': unknown exception";
  }
  if (rc && errcap) std::snprintf(err, errcap, "%s", e.c_str());
  return rc;
}
