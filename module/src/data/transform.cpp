/* transform.cpp: image decoding (cv::imdecode) and torchvision's evaluation transform and
 * training augmentation (Resize+CenterCrop; RandomResizedCrop+RandomHorizontalFlip), each ending
 * in ToTensor+Normalize, into a float (3, crop, crop) RGB buffer. */
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/data.h"
#include "runtime/runtime.h"

namespace {

/* Python's round() for the values torchvision rounds: halves go to the even neighbour, which
 * is what rint() does in the default rounding mode. */
int py_round(double v) { return (int)std::nearbyint(v); }

cltrain_status read_file(cltrain_context *cx, const char *path, std::vector<unsigned char> *data) {
  FILE *fp = std::fopen(path, "rb");
  if (!fp) return rt_fail(cx, CLTRAIN_ERR_IO, "cannot open image '%s': %s", path, std::strerror(errno));
  unsigned char chunk[65536];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, fp)) > 0) data->insert(data->end(), chunk, chunk + got);
  int bad = std::ferror(fp);
  std::fclose(fp);
  if (bad) return rt_fail(cx, CLTRAIN_ERR_IO, "error reading image '%s'", path);
  return CLTRAIN_OK;
}

/* A JPEG is complete when an end-of-image marker (FF D9) follows its last start-of-scan (FF DA).
 * Inside entropy-coded data every FF byte is followed by 00 or a restart marker, so neither
 * marker can appear there by chance; an EXIF thumbnail's markers come before the main scan, and
 * bytes after the EOI are allowed. libjpeg decodes a truncated file anyway (it fills the rest
 * with grey and only warns), so this is how truncation is caught. */
bool jpeg_complete(const std::vector<unsigned char> &d) {
  long last_sos = -1, last_eoi = -1;
  for (size_t k = 0; k + 1 < d.size(); k++)
    if (d[k] == 0xFF) {
      if (d[k + 1] == 0xDA) last_sos = (long)k;
      else if (d[k + 1] == 0xD9) last_eoi = (long)k;
    }
  return last_sos >= 0 && last_eoi > last_sos;
}

/* 8-bit BGR pixels of `path`. IMREAD_COLOR turns grey into 3 channels, drops alpha (as PIL's
 * convert('RGB') does, no blending), expands palettes and scales 16-bit to 8-bit (>> 8); EXIF
 * orientation is ignored because torchvision's PIL loader ignores it too. */
cltrain_status decode(cltrain_context *cx, const char *path, cv::Mat *img) {
  std::vector<unsigned char> data;
  TRY(read_file(cx, path, &data));
  if (data.empty()) return rt_fail(cx, CLTRAIN_ERR_FORMAT, "image '%s' is an empty file", path);
  bool is_jpeg = data.size() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
  if (is_jpeg && !jpeg_complete(data))
    return rt_fail(cx, CLTRAIN_ERR_FORMAT, "JPEG image '%s' is truncated (no end-of-image marker "
                   "after its last scan)", path);
  *img = cv::imdecode(data, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  if (img->empty())
    return rt_fail(cx, CLTRAIN_ERR_FORMAT, "cannot decode image '%s' (%zu bytes): corrupt, or not "
                   "an image format OpenCV reads", path, data.size());
  if (img->type() != CV_8UC3)
    return rt_fail(cx, CLTRAIN_ERR_FORMAT, "image '%s' decoded to an unexpected pixel type %d",
                   path, img->type());
  return CLTRAIN_OK;
}

/* cv::resize with the filter that best stands in for PIL's antialiased bilinear: pixel-area
 * averaging when shrinking both sides, bilinear otherwise. */
void resize_to(const cv::Mat &src, cv::Mat *dst, int h, int w) {
  if (src.rows == h && src.cols == w) {
    *dst = src;
    return;
  }
  int interp = (h < src.rows && w < src.cols) ? cv::INTER_AREA : cv::INTER_LINEAR;
  cv::resize(src, *dst, cv::Size(w, h), 0, 0, interp);
}

/* out (3, S, S) RGB = (bgr / 255 - mean) / std, flipped left-right when asked. */
void to_tensor(const cv::Mat &bgr, int flip, const transform_params *t, float *out) {
  int S = bgr.rows, W = bgr.cols;
  size_t plane = (size_t)S * W;
  float scale[3], shift[3];
  for (int c = 0; c < 3; c++) {
    scale[c] = 1.0f / (255.0f * t->std[c]);
    shift[c] = -t->mean[c] / t->std[c];
  }
  for (int y = 0; y < S; y++) {
    const unsigned char *row = bgr.ptr<unsigned char>(y);
    for (int x = 0; x < W; x++) {
      const unsigned char *px = row + 3 * (flip ? W - 1 - x : x);
      for (int c = 0; c < 3; c++)
        out[c * plane + (size_t)y * W + x] = (float)px[2 - c] * scale[c] + shift[c];
    }
  }
}

/* r draws the augmentation's choices; without r, `given` and `flip` are used. */
cltrain_status apply_mat(cltrain_context *cx, const cv::Mat &img, const char *path, const transform_params *t,
                         cltrain_rng *r, const crop_box *given, int flip, float *out) {
  int S = t->crop;
  cv::Mat patch;
  if (t->augment) {
    crop_box b;
    if (r) transform_draw(img.rows, img.cols, t, r, &b, &flip);
    else b = *given;
    if (b.i < 0 || b.j < 0 || b.h <= 0 || b.w <= 0 || b.i + b.h > img.rows || b.j + b.w > img.cols)
      return rt_fail(cx, CLTRAIN_ERR_ARG, "crop box (i %d, j %d, h %d, w %d) outside image '%s' "
                     "(%d x %d)", b.i, b.j, b.h, b.w, path, img.rows, img.cols);
    resize_to(img(cv::Rect(b.j, b.i, b.w, b.h)), &patch, S, S);
  } else {
    flip = 0;
    int rh, rw;
    transform_resized_size(img.rows, img.cols, t->resize, &rh, &rw);
    cv::Mat resized;
    resize_to(img, &resized, rh, rw);
    if (rh < S || rw < S) { /* torchvision pads with zeros before cropping */
      int top = rh < S ? (S - rh) / 2 : 0, left = rw < S ? (S - rw) / 2 : 0;
      int bottom = rh < S ? (S - rh + 1) / 2 : 0, right = rw < S ? (S - rw + 1) / 2 : 0;
      cv::copyMakeBorder(resized, resized, top, bottom, left, right, cv::BORDER_CONSTANT, cv::Scalar::all(0));
      rh = resized.rows, rw = resized.cols;
    }
    int i = py_round((rh - S) / 2.0), j = py_round((rw - S) / 2.0);
    patch = resized(cv::Rect(j, i, S, S));
  }
  to_tensor(patch, flip, t, out);
  return CLTRAIN_OK;
}

cltrain_status apply(cltrain_context *cx, const char *path, const transform_params *t,
                     cltrain_rng *r, const crop_box *given, int flip, float *out) {
  cv::Mat img;
  TRY(decode(cx, path, &img));
  return apply_mat(cx, img, path, t, r, given, flip, out);
}

cltrain_status guarded(cltrain_context *cx, const char *path, const transform_params *t,
                       cltrain_rng *r, const crop_box *box, int flip, float *out) {
  if (!path || !t || !out) return rt_fail(cx, CLTRAIN_ERR_ARG, "transform_image: NULL argument");
  if (t->crop <= 0 || (!t->augment && t->resize <= 0))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "transform_image: crop %d, resize %d", t->crop, t->resize);
  try {
    return apply(cx, path, t, r, box, flip, out);
  } catch (const cv::Exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_OPENCV, "image '%s': %s", path, e.what());
  } catch (const std::bad_alloc &) {
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "image '%s': out of memory", path);
  } catch (const std::exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "image '%s': %s", path, e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "image '%s': unknown exception", path);
  }
}

}  // namespace

extern "C" {

transform_params transform_eval_defaults(void) {
  transform_params t;
  std::memset(&t, 0, sizeof t);
  t.augment = 0;
  t.resize = 256;
  t.crop = 224;
  t.scale[0] = 0.08, t.scale[1] = 1.0;
  t.ratio[0] = 3.0 / 4.0, t.ratio[1] = 4.0 / 3.0;
  t.flip_p = 0.5;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  std::memcpy(t.mean, mean, sizeof mean);
  std::memcpy(t.std, std, sizeof std);
  return t;
}

cltrain_status transform_eval_for_input(cltrain_context *cx, const char *fn, int in_c, int in_h, int in_w,
                                       transform_params *t) {
  if (in_c != 3 || in_h != in_w)
    return rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED, "%s: the model's input is %dx%dx%d; the eval "
                   "transform makes square 3-channel images", fn, in_c, in_h, in_w);
  *t = transform_eval_defaults();
  if (in_h != t->crop) { /* the tutorial's 256/224 ratio, rounded down as timm's floor(size / 0.875) */
    t->resize = in_h * 256 / 224;
    t->crop = in_h;
  }
  return CLTRAIN_OK;
}

transform_params transform_train_defaults(void) {
  transform_params t = transform_eval_defaults();
  t.augment = 1;
  return t;
}

void transform_resized_size(int h, int w, int size, int *out_h, int *out_w) {
  int shorter = w <= h ? w : h, longer = w <= h ? h : w;
  /* Python's int(size * long / short): a correctly rounded double quotient, truncated. */
  int new_long = (int)((double)size * longer / shorter);
  *out_h = w <= h ? new_long : size;
  *out_w = w <= h ? size : new_long;
}

crop_box transform_rrc_params(int height, int width, const double scale[2], const double ratio[2],
                              cltrain_rng *r) {
  double area = (double)height * width;
  double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * (scale[0] + (scale[1] - scale[0]) * rng_uniform_f64(r));
    double aspect = std::exp(log_lo + (log_hi - log_lo) * rng_uniform_f64(r));
    int w = py_round(std::sqrt(target * aspect)), h = py_round(std::sqrt(target / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      crop_box b;
      b.i = (int)rng_below(r, (uint32_t)(height - h + 1));
      b.j = (int)rng_below(r, (uint32_t)(width - w + 1));
      b.h = h, b.w = w;
      return b;
    }
  }
  double in_ratio = (double)width / height;
  crop_box b;
  if (in_ratio < ratio[0]) {
    b.w = width;
    b.h = py_round(b.w / ratio[0]);
  } else if (in_ratio > ratio[1]) {
    b.h = height;
    b.w = py_round(b.h * ratio[1]);
  } else {
    b.w = width;
    b.h = height;
  }
  b.i = (height - b.h) / 2;
  b.j = (width - b.w) / 2;
  return b;
}

cltrain_rng transform_augment_rng(uint64_t seed, uint32_t epoch, uint32_t index) {
  /* splitmix64 of (seed, epoch) as the key: every epoch gets unrelated streams, and the 2^32
   * images of one epoch get disjoint 256-draw windows of its augmentation stream. */
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * ((uint64_t)epoch + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  cltrain_rng r = rng_make(z, RNG_STREAM_AUGMENT);
  r.pos += (uint64_t)index << 8;
  return r;
}

void transform_draw(int height, int width, const transform_params *t, cltrain_rng *r,
                    crop_box *box, int *flip) {
  *box = transform_rrc_params(height, width, t->scale, t->ratio, r);
  *flip = rng_uniform_f64(r) < t->flip_p;
}

cltrain_status transform_image(cltrain_context *cx, const char *path, const transform_params *t,
                               cltrain_rng *r, float *out) {
  if (t && t->augment && !r) return rt_fail(cx, CLTRAIN_ERR_ARG, "transform_image: augmentation without an RNG");
  return guarded(cx, path, t, t && t->augment ? r : nullptr, nullptr, 0, out);
}

cltrain_status transform_eval_bgr(cltrain_context *cx, const unsigned char *bgr, int height, int width,
                                  size_t stride, const char *name, const transform_params *t, float *out) {
  if (!bgr || height < 1 || width < 1 || stride < (size_t)3 * width || !t || t->augment || !out)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: no pixels, or a size of %d x %d with %zu bytes per row "
                   "(8-bit BGR needs at least 3 x width)", name, height, width, stride);
  cv::Mat img(height, width, CV_8UC3, const_cast<unsigned char *>(bgr), stride);
  return apply_mat(cx, img, name, t, nullptr, nullptr, 0, out);
}

cltrain_status transform_image_at(cltrain_context *cx, const char *path, const transform_params *t,
                                  const crop_box *box, int flip, float *out) {
  if (!box || !t || !t->augment)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "transform_image_at: needs a box and augment parameters");
  return guarded(cx, path, t, nullptr, box, flip, out);
}

}  // extern "C"
