// plot.cpp: the training curves as a PNG drawn with OpenCV: loss (left panel) and accuracy
// (right panel) per epoch, train and val, with axes, ticks and a legend.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "train/train_internal.h"

namespace {

const cv::Scalar kTrain(200, 110, 30), kVal(40, 120, 230), kAxis(60, 60, 60), kGrid(225, 225, 225);

void panel(cv::Mat &img, cv::Rect r, const char *title, const train_row *rows, int n, bool acc) {
  double lo = acc ? 0 : 1e300, hi = acc ? 1 : -1e300;
  int max_epoch = 1;
  for (int i = 0; i < n; i++) {
    max_epoch = std::max(max_epoch, rows[i].epoch);
    double v = acc ? rows[i].acc : rows[i].loss;
    if (!std::isfinite(v) || acc) continue;
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!acc) {
    if (lo > hi) lo = 0, hi = 1;
    lo = std::min(lo, 0.0);
    hi = hi <= lo ? lo + 1 : hi * 1.05;
  }
  const int left = 60, right = 15, top = 30, bottom = 40;
  cv::Rect plot(r.x + left, r.y + top, r.width - left - right, r.height - top - bottom);
  auto X = [&](double e) {
    return plot.x + (max_epoch > 1 ? (int)std::lround((e - 1) / (max_epoch - 1) * plot.width) : plot.width / 2);
  };
  auto Y = [&](double v) { return plot.y + plot.height - (int)std::lround((v - lo) / (hi - lo) * plot.height); };
  char buf[64];
  for (int k = 0; k <= 5; k++) { // y grid and ticks
    double v = lo + (hi - lo) * k / 5;
    cv::line(img, {plot.x, Y(v)}, {plot.x + plot.width, Y(v)}, kGrid, 1);
    std::snprintf(buf, sizeof buf, acc ? "%.1f" : "%.2f", v);
    cv::putText(img, buf, {r.x + 8, Y(v) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, kAxis, 1, cv::LINE_AA);
  }
  int step = std::max(1, max_epoch / 10);
  for (int e = 1; e <= max_epoch; e += step) { // x ticks
    cv::line(img, {X(e), plot.y + plot.height}, {X(e), plot.y + plot.height + 4}, kAxis, 1);
    std::snprintf(buf, sizeof buf, "%d", e);
    cv::putText(img, buf, {X(e) - 4, plot.y + plot.height + 17}, cv::FONT_HERSHEY_SIMPLEX, 0.4, kAxis, 1,
                cv::LINE_AA);
  }
  cv::line(img, {plot.x, plot.y}, {plot.x, plot.y + plot.height}, kAxis, 1);
  cv::line(img, {plot.x, plot.y + plot.height}, {plot.x + plot.width, plot.y + plot.height}, kAxis, 1);
  cv::putText(img, title, {r.x + left, r.y + 20}, cv::FONT_HERSHEY_SIMPLEX, 0.55, kAxis, 1, cv::LINE_AA);
  cv::putText(img, "epoch", {plot.x + plot.width / 2 - 20, r.y + r.height - 6}, cv::FONT_HERSHEY_SIMPLEX, 0.45,
              kAxis, 1, cv::LINE_AA);
  for (int phase = 0; phase < 2; phase++) {
    const cv::Scalar &c = phase ? kVal : kTrain;
    cv::Point prev(-1, -1);
    for (int i = 0; i < n; i++) {
      if (rows[i].phase != phase) continue;
      double v = acc ? rows[i].acc : rows[i].loss;
      if (!std::isfinite(v)) continue;
      cv::Point p(X(rows[i].epoch), Y(std::min(std::max(v, lo), hi)));
      if (prev.x >= 0) cv::line(img, prev, p, c, 2, cv::LINE_AA);
      cv::circle(img, p, 3, c, cv::FILLED, cv::LINE_AA);
      prev = p;
    }
  }
  // legend, top right
  int lx = plot.x + plot.width - 70, ly = plot.y + 10;
  cv::rectangle(img, {lx - 6, ly - 8}, {lx + 66, ly + 28}, cv::Scalar(255, 255, 255), cv::FILLED);
  cv::rectangle(img, {lx - 6, ly - 8}, {lx + 66, ly + 28}, kAxis, 1);
  for (int phase = 0; phase < 2; phase++) {
    int y = ly + phase * 16;
    cv::line(img, {lx, y}, {lx + 18, y}, phase ? kVal : kTrain, 2, cv::LINE_AA);
    cv::putText(img, phase ? "val" : "train", {lx + 24, y + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, kAxis, 1,
                cv::LINE_AA);
  }
}

} // namespace

extern "C" cltrain_status train_plot(cltrain_context *cx, const char *path, const train_row *rows, int nrows) {
  try {
    cv::Mat img(360, 960, CV_8UC3, cv::Scalar(255, 255, 255));
    panel(img, cv::Rect(0, 0, 480, 360), "loss", rows, nrows, false);
    panel(img, cv::Rect(480, 0, 480, 360), "accuracy", rows, nrows, true);
    std::vector<uchar> png;
    if (!cv::imencode(".png", img, png))
      return rt_fail(cx, CLTRAIN_ERR_OPENCV, "cannot encode the plot for '%s' as PNG", path);
    return atomic_write(cx, path, png.data(), png.size());
  } catch (const cv::Exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_OPENCV, "plot '%s': %s", path, e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "plot '%s': unexpected exception", path);
  }
}
