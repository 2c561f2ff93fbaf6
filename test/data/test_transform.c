/* test_transform.c: decoding and the evaluation transform against the same computation in
 * cv2 + numpy (and, loosely, against torchvision's PIL pipeline); the augmentation's crop
 * boxes (torchvision's bounds and fallback), its determinism and flip rate; decoding errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/data.h"
#include "reftensor.h"

#define S 224
#define IMG ((size_t)3 * S * S)

static char path_buf[4096];
static const char *refpath(const char *rel) {
  snprintf(path_buf, sizeof path_buf, "%s/imagefolder/%s", getenv("CLTRAIN_REF_DIR"), rel);
  return path_buf;
}

static imagefolder *open_good(void) {
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("good"), &f))) exit(check_done());
  return f;
}

static const char *sample_path(const imagefolder *f, int i) {
  snprintf(path_buf, sizeof path_buf, "%s/%s", imagefolder_root(f), imagefolder_path(f, i));
  return path_buf;
}

/* Tolerances. Against cv2: the same libopencv decodes and resizes (bitwise the same uint8
 * pixels); only the normalisation's float rounding differs (C: x * 1/(255 std) - mean/std in
 * float; numpy: float64 then rounded), a few ulp, so 1e-6 relative L2 is ample and any real
 * difference (an off-by-one crop, a different filter, swapped channels) is > 1e-2.
 * Against PIL: different resampling (PIL's antialiased bilinear vs INTER_AREA / INTER_LINEAR)
 * and PIL's own JPEG decoding settings; measured 0.7-2.8% on these noisy synthetic images, so
 * 5e-2 catches a wrong geometry (which gives tens of percent) without asserting filter details.
 * c3/g16.png (16-bit) is left out: PIL's convert('RGB') clips 16-bit values to 255, OpenCV
 * scales them down (>> 8), which is the sensible reading. */
static void test_eval(void) {
  ref_set *ref = ref_load("data_eval"), *ref2 = ref_load("data_eval_160_128");
  size_t n;
  const float *x_cv = ref_f32(ref, "x_cv", &n), *x_pil = ref_f32(ref, "x_pil", NULL);
  const float *x_small = ref_f32(ref2, "x_cv", NULL);
  imagefolder *f = open_good();
  int count = imagefolder_size(f);
  CHECK(n == (size_t)count * IMG, "reference holds %d images", count);
  transform_params t = transform_eval_defaults(), t2 = t;
  t2.resize = 160, t2.crop = 128;
  float *out = malloc(IMG * sizeof(float));
  double worst_cv = 0, worst_pil = 0, worst_max = 0;
  for (int i = 0; i < count; i++) {
    char what[200];
    snprintf(what, sizeof what, "eval %s vs cv2", imagefolder_path(f, i));
    if (!CHECK_OK(transform_image(NULL, sample_path(f, i), &t, NULL, out))) continue;
    CHECK_REL(what, out, x_cv + i * IMG, IMG, 1e-6);
    double e = rel_l2(out, x_cv + i * IMG, IMG), m = max_abs_diff(out, x_cv + i * IMG, IMG);
    worst_cv = e > worst_cv ? e : worst_cv;
    worst_max = m > worst_max ? m : worst_max;
    double p = rel_l2(out, x_pil + i * IMG, IMG);
    int is16 = strstr(imagefolder_path(f, i), "g16") != NULL;
    printf("  %-44s rel L2 %.2e  max abs %.2e%s\n", "  vs torchvision PIL", p,
           max_abs_diff(out, x_pil + i * IMG, IMG), is16 ? "  (16-bit: PIL clips, not asserted)" : "");
    if (!is16) {
      CHECK(p < 5e-2, "%s: vs PIL rel L2 %.3e < 5e-2", imagefolder_path(f, i), p);
      worst_pil = p > worst_pil ? p : worst_pil;
    }
    snprintf(what, sizeof what, "eval 160/128 %s vs cv2", imagefolder_path(f, i));
    if (CHECK_OK(transform_image(NULL, sample_path(f, i), &t2, NULL, out)))
      CHECK_REL(what, out, x_small + (size_t)i * 3 * 128 * 128, (size_t)3 * 128 * 128, 1e-6);
  }
  printf("eval transform: worst vs cv2 rel L2 %.2e (max abs %.2e); worst vs PIL rel L2 %.2e\n",
         worst_cv, worst_max, worst_pil);
  free(out);
  imagefolder_close(f);
  ref_free(ref);
  ref_free(ref2);
}

static void test_augment_fixed(void) {
  ref_set *ref = ref_load("data_augment");
  size_t k;
  const int *index = ref_i32(ref, "index", &k), *boxes = ref_i32(ref, "boxes", NULL),
            *flips = ref_i32(ref, "flips", NULL);
  const float *x_cv = ref_f32(ref, "x_cv", NULL), *x_pil = ref_f32(ref, "x_pil", NULL);
  imagefolder *f = open_good();
  transform_params t = transform_train_defaults();
  float *out = malloc(IMG * sizeof(float));
  for (size_t c = 0; c < k; c++) {
    crop_box b = {boxes[4 * c], boxes[4 * c + 1], boxes[4 * c + 2], boxes[4 * c + 3]};
    char what[200];
    snprintf(what, sizeof what, "augment %s (%d,%d,%d,%d) flip %d", imagefolder_path(f, index[c]), b.i,
             b.j, b.h, b.w, flips[c]);
    if (!CHECK_OK(transform_image_at(NULL, sample_path(f, index[c]), &t, &b, flips[c], out))) continue;
    CHECK_REL(what, out, x_cv + c * IMG, IMG, 1e-6);
    double p = rel_l2(out, x_pil + c * IMG, IMG);
    printf("  %-44s rel L2 %.2e  max abs %.2e\n", "  vs torchvision PIL resized_crop", p,
           max_abs_diff(out, x_pil + c * IMG, IMG));
    /* looser than eval: a 1-pixel sliver stretched to 224 columns shows PIL's and OpenCV's
     * different edge handling over the whole image */
    CHECK(p < 1e-1, "%s vs PIL %.3e < 1e-1", what, p);
  }
  crop_box outside = {0, 0, 10000, 10};
  CHECK_STATUS(transform_image_at(NULL, sample_path(f, 0), &t, &outside, 0, out), CLTRAIN_ERR_ARG);

  /* transform_image with an RNG is transform_draw + transform_image_at */
  float *again = malloc(IMG * sizeof(float));
  cltrain_rng r = transform_augment_rng(7, 1, 4), r2 = r;
  crop_box b;
  int flip;
  CHECK_OK(transform_image(NULL, sample_path(f, 4), &t, &r, out));
  transform_draw(300, 400, &t, &r2, &b, &flip); /* land.jpg is 300 x 400 */
  CHECK_OK(transform_image_at(NULL, sample_path(f, 4), &t, &b, flip, again));
  CHECK(!strcmp(imagefolder_path(f, 4), "a_lower/land.jpg") && !memcmp(out, again, IMG * sizeof(float)),
        "transform_image(augment) equals transform_image_at(transform_draw())");
  CHECK_STATUS(transform_image(NULL, sample_path(f, 4), &t, NULL, out), CLTRAIN_ERR_ARG);
  free(again);
  free(out);
  imagefolder_close(f);
  ref_free(ref);
}

static void test_crop_boxes(void) {
  const double scale[2] = {0.08, 1.0}, ratio[2] = {3.0 / 4.0, 4.0 / 3.0};
  static const int shapes[][2] = {{300, 400}, {500, 300}, {224, 224}, {90, 120}, {1, 1}, {37, 1000}};
  int inside = 1, bounds = 1, n_in_bounds = 0, n = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int H = shapes[s][0], W = shapes[s][1];
    for (uint32_t i = 0; i < 5000; i++) {
      cltrain_rng r = transform_augment_rng(1, 0, i);
      crop_box b = transform_rrc_params(H, W, scale, ratio, &r);
      inside &= b.h > 0 && b.w > 0 && b.i >= 0 && b.j >= 0 && b.i + b.h <= H && b.j + b.w <= W;
      if (H >= 90 && W <= 500) { /* no fallback for these: area and ratio within bounds up to rounding */
        double a = (double)b.h * b.w / ((double)H * W), q = (double)b.w / b.h;
        /* w and h are rounded to integers: allow one pixel either way */
        double da = (double)(b.h + b.w + 1) / ((double)H * W), dq = q * (1.0 / b.w + 1.0 / b.h);
        bounds &= a >= scale[0] - da && a <= scale[1] + da && q >= ratio[0] - dq && q <= ratio[1] + dq;
        n_in_bounds++;
      }
      n++;
    }
  }
  CHECK(inside, "all %d crop boxes lie inside their image", n);
  CHECK(bounds, "area fraction in [0.08, 1] and aspect in [3/4, 4/3] (%d boxes)", n_in_bounds);

  /* 37 x 1000: w = round(sqrt(area * ratio)) with area >= 0.08 * 37000 always makes h > 37,
   * so all 10 tries fail and the fallback takes the full height at the widest ratio, centred. */
  cltrain_rng r = transform_augment_rng(3, 0, 0);
  crop_box b = transform_rrc_params(37, 1000, scale, ratio, &r);
  CHECK(b.h == 37 && b.w == 49 && b.i == 0 && b.j == (1000 - 49) / 2,
        "extreme landscape falls back to (0, %d, 37, 49): got (%d, %d, %d, %d)", (1000 - 49) / 2, b.i, b.j, b.h, b.w);
  r = transform_augment_rng(3, 0, 0);
  b = transform_rrc_params(1000, 37, scale, ratio, &r);
  CHECK(b.w == 37 && b.h == 49 && b.j == 0 && b.i == (1000 - 49) / 2,
        "extreme portrait falls back to (%d, 0, 49, 37): got (%d, %d, %d, %d)", (1000 - 49) / 2, b.i, b.j, b.h, b.w);
  /* scale (1, 1) with an in-range ratio: the crop is at most the whole image, often exactly */
  const double one[2] = {1.0, 1.0};
  r = transform_augment_rng(3, 0, 0);
  b = transform_rrc_params(300, 400, one, ratio, &r);
  CHECK(b.h <= 300 && b.w <= 400 && b.h * b.w >= 0.9 * 300 * 400, "scale (1,1) takes (nearly) the whole image");

  /* determinism: a pure function of (seed, epoch, index) */
  cltrain_rng a1 = transform_augment_rng(5, 2, 17), a2 = transform_augment_rng(5, 2, 17);
  crop_box b1 = transform_rrc_params(300, 400, scale, ratio, &a1), b2 = transform_rrc_params(300, 400, scale, ratio, &a2);
  CHECK(!memcmp(&b1, &b2, sizeof b1), "same (seed, epoch, index), same box");
  int differ_index = 0, differ_epoch = 0, differ_seed = 0;
  for (uint32_t i = 0; i < 100; i++) {
    cltrain_rng x = transform_augment_rng(5, 2, i), y = transform_augment_rng(5, 2, i + 1),
                z = transform_augment_rng(5, 3, i), s = transform_augment_rng(6, 2, i);
    crop_box bx = transform_rrc_params(300, 400, scale, ratio, &x), by = transform_rrc_params(300, 400, scale, ratio, &y),
             bz = transform_rrc_params(300, 400, scale, ratio, &z), bs = transform_rrc_params(300, 400, scale, ratio, &s);
    differ_index += !!memcmp(&bx, &by, sizeof bx);
    differ_epoch += !!memcmp(&bx, &bz, sizeof bx);
    differ_seed += !!memcmp(&bx, &bs, sizeof bx);
  }
  CHECK(differ_index >= 98 && differ_epoch >= 98 && differ_seed >= 98,
        "other index / epoch / seed give other boxes (%d, %d, %d of 100)", differ_index, differ_epoch, differ_seed);

  /* flip rate: 100000 draws, standard error 0.0016, so +-0.01 is over 6 sigma */
  transform_params t = transform_train_defaults();
  int flips = 0, total = 100000;
  for (int i = 0; i < total; i++) {
    cltrain_rng x = transform_augment_rng(9, 0, (uint32_t)i);
    int flip;
    transform_draw(300, 400, &t, &x, &b, &flip);
    flips += flip;
  }
  CHECK(fabs((double)flips / total - 0.5) < 0.01, "flip rate %.4f near 0.5", (double)flips / total);

  int h, w;
  transform_resized_size(333, 517, 256, &h, &w);
  CHECK(h == 256 && w == 397, "Resize(256) of 333x517 is 256x397 (int(256*517/333) = 397): %dx%d", h, w);
  transform_resized_size(900, 230, 256, &h, &w);
  CHECK(h == 1001 && w == 256, "Resize(256) of 900x230 is 1001x256: %dx%d", h, w);
  transform_resized_size(256, 384, 256, &h, &w);
  CHECK(h == 256 && w == 384, "short side already 256: unchanged");
}

static void check_bad(const char *rel, cltrain_status want, const char *needle) {
  transform_params t = transform_eval_defaults();
  float *out = malloc(IMG * sizeof(float));
  CHECK_STATUS(transform_image(NULL, refpath(rel), &t, NULL, out), want);
  CHECK(strstr(cltrain_last_error(NULL), needle) != NULL, "%s: message names the file: %s", rel,
        cltrain_last_error(NULL));
  free(out);
}

static void test_bad_files(void) {
  check_bad("bad_corrupt/cls/corrupt.jpg", CLTRAIN_ERR_FORMAT, "corrupt.jpg");
  check_bad("bad_garbage/cls/garbage.jpg", CLTRAIN_ERR_FORMAT, "garbage.jpg");
  check_bad("bad_empty/cls/zero.png", CLTRAIN_ERR_FORMAT, "zero.png");
  check_bad("bad_text/cls/readme.jpg", CLTRAIN_ERR_FORMAT, "readme.jpg");
  check_bad("bad_trunc/cls/cut.jpg", CLTRAIN_ERR_FORMAT, "cut.jpg");
  check_bad("bad_trunc/cls/missing.jpg", CLTRAIN_ERR_IO, "missing.jpg");
  transform_params t = transform_eval_defaults();
  t.crop = 0;
  float x;
  CHECK_STATUS(transform_image(NULL, refpath("bad_trunc/cls/ok.png"), &t, NULL, &x), CLTRAIN_ERR_ARG);
  CHECK_STATUS(transform_image(NULL, NULL, &t, NULL, &x), CLTRAIN_ERR_ARG);
}

/* Photo-like JPEGs (8 of imagefolder/photos: progressive, grayscale, an EXIF orientation tag, a
 * name with spaces and brackets): the same tolerances as above. */
static void test_photos(void) {
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("photos"), &f))) return;
  ref_set *ref = ref_load("data_photos_eval");
  size_t k;
  const int *index = ref_i32(ref, "index", &k);
  const float *x_cv = ref_f32(ref, "x_cv", NULL), *x_pil = ref_f32(ref, "x_pil", NULL);
  transform_params t = transform_eval_defaults();
  float *out = malloc(IMG * sizeof(float));
  double worst = 0;
  CHECK(k == 8, "8 photos in the reference (%zu)", k);
  for (size_t c = 0; c < k; c++) {
    char what[200];
    snprintf(what, sizeof what, "eval photo %s", imagefolder_path(f, index[c]));
    if (!CHECK_OK(transform_image(NULL, sample_path(f, index[c]), &t, NULL, out))) continue;
    CHECK_REL(what, out, x_cv + c * IMG, IMG, 1e-6);
    double p = rel_l2(out, x_pil + c * IMG, IMG);
    printf("  %-44s rel L2 %.2e  max abs %.2e\n", "  vs torchvision PIL", p, max_abs_diff(out, x_pil + c * IMG, IMG));
    CHECK(p < 5e-2, "%s vs PIL %.3e < 5e-2", what, p);
    worst = p > worst ? p : worst;
  }
  printf("photos eval: worst vs PIL rel L2 %.2e over %zu photos\n", worst, k);
  free(out);
  ref_free(ref);
  imagefolder_close(f);
}

/* The eval transform's resize for a model input of side crop, then the resized size of odd
 * images, against torchvision's Resize (ref_resize.py): predict and the training loop's
 * validation both take them from transform_eval_for_input. Exact: these are integers. */
static void test_resize_sizes(void) {
  ref_set *ref = ref_load("resize_sizes");
  size_t n;
  const int *rows = ref_i32(ref, "rows", &n);
  CHECK(n > 0 && n % 6 == 0, "resize_sizes: %zu values in rows of 6", n);
  int bad = 0;
  for (size_t r = 0; r + 6 <= n; r += 6) {
    int crop = rows[r], h = rows[r + 1], w = rows[r + 2], s = rows[r + 3], th = rows[r + 4], tw = rows[r + 5];
    transform_params t = {0};
    int rh = -1, rw = -1;
    if (transform_eval_for_input(NULL, "test", 3, crop, crop, &t) == CLTRAIN_OK)
      transform_resized_size(h, w, t.resize, &rh, &rw);
    if (t.crop != crop || t.resize != s || rh != th || rw != tw) {
      bad++;
      printf("input %d: %dx%d resized to %dx%d (Resize(%d)); torchvision: %dx%d (Resize(%d))\n", crop, h, w, rh,
             rw, t.resize, th, tw, s);
    }
  }
  CHECK(bad == 0, "eval resize sizes equal torchvision's for %zu (input, image) pairs: %d differ", n / 6, bad);
  ref_free(ref);
}

int main(void) {
  test_eval();
  test_resize_sizes();
  test_augment_fixed();
  test_crop_boxes();
  test_bad_files();
  test_photos();
  return check_done();
}
