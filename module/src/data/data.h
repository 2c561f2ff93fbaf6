/* data.h: the input pipeline, as PyTorch's transfer-learning tutorial has it: an ImageFolder
 * (torchvision's order), the evaluation transform and the training augmentation (OpenCV
 * decoding and resizing), and a threaded loader that prepares batches ahead of the consumer.
 * Implemented in C++ (imagefolder.cpp, transform.cpp, loader.cpp); no exception crosses here. */
#ifndef CLTRAIN_DATA_H
#define CLTRAIN_DATA_H

#include <stdint.h>

#include "opencv2/cltrain.h"
#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ImageFolder ---------------------------------------------------------------------- */

typedef struct imagefolder imagefolder;

/* Lists DIR like torchvision.datasets.ImageFolder: classes are the subfolders of DIR sorted
 * by bytes; samples are, class by class, the files under the class folder (symlinks followed)
 * in sorted(os.walk()) order with sorted file names, kept when their lower-cased extension is
 * one of torchvision's IMG_EXTENSIONS. Errors name the folder: CLTRAIN_ERR_IO (DIR missing or
 * unreadable), CLTRAIN_ERR_FORMAT (no class folder, or a class folder with no image).
 * cx may be NULL (the error then goes to cltrain_last_error(NULL)). */
cltrain_status imagefolder_open(cltrain_context *cx, const char *dir, imagefolder **out);
void imagefolder_close(imagefolder *f); /* accepts NULL */

const char *imagefolder_root(const imagefolder *f); /* DIR as given */
int imagefolder_size(const imagefolder *f);
int imagefolder_num_classes(const imagefolder *f);
const char *imagefolder_class_name(const imagefolder *f, int c); /* NULL when out of range */
const char *imagefolder_path(const imagefolder *f, int i);       /* relative to DIR */
int imagefolder_label(const imagefolder *f, int i);               /* -1 when out of range */

/* CLTRAIN_ERR_FORMAT unless both have the same class names in the same order; the message
 * names both folders and the first class that differs. */
cltrain_status imagefolder_same_classes(cltrain_context *cx, const imagefolder *train,
                                        const imagefolder *val);

/* ---- transforms ----------------------------------------------------------------------- */

/* Eval: Resize(resize) (shorter side) + CenterCrop(crop). Train: RandomResizedCrop(crop,
 * scale, ratio) + RandomHorizontalFlip(flip_p). Both end with BGR->RGB, /255, (x - mean) / std.
 * Resampling is cv::resize on 8-bit pixels: INTER_AREA when both sides shrink, INTER_LINEAR
 * otherwise, none when the size is unchanged. torchvision on PIL uses antialiased bilinear (a
 * triangle filter widened by the scale factor); INTER_AREA is OpenCV's closest stand-in, also
 * for the augmentation's crops: shrinking 20 whole hymenoptera images to 224x224, INTER_AREA
 * differs from PIL by 3.5% (median; worst 11%) of the image's contrast, INTER_LINEAR by 8.3%
 * (worst 32%), because plain bilinear aliases when a large crop shrinks.
 * Measured against torchvision's PIL pipeline: 0.7-2.8% relative L2 for eval, 1-5% for crops
 * (test_transform prints each image). */
typedef struct transform_params {
  int augment; /* 0: evaluation transform, 1: training augmentation */
  int resize;  /* eval only: the shorter side after resizing (256) */
  int crop;    /* the output is (3, crop, crop) (224) */
  double scale[2], ratio[2]; /* RandomResizedCrop's bounds ((0.08, 1), (3/4, 4/3)) */
  double flip_p;             /* RandomHorizontalFlip's probability (0.5) */
  float mean[3], std[3];     /* RGB: (0.485, 0.456, 0.406), (0.229, 0.224, 0.225) */
} transform_params;

transform_params transform_eval_defaults(void);
transform_params transform_train_defaults(void);

/* The eval transform for a model whose input is (in_c, in_h, in_w): Resize(in_h * 256 / 224,
 * rounded down), CenterCrop(in_h); CLTRAIN_ERR_UNSUPPORTED, naming `fn`, unless the input is
 * square with 3 channels. The one place that decides it: predict, the public folder reader and
 * the training loop's validation (its training crop too) all call it. */
cltrain_status transform_eval_for_input(cltrain_context *cx, const char *fn, int in_c, int in_h, int in_w,
                                       transform_params *t);

/* torchvision's Resize(size) output for an h x w image (int(size * long / short) on the long
 * side). */
void transform_resized_size(int h, int w, int size, int *out_h, int *out_w);

/* The evaluation transform (t->augment 0) of an 8-bit BGR image in memory (height x width,
 * rows `stride` bytes apart, as cv::Mat CV_8UC3), the same as transform_image of a file that
 * decodes to it; `name` names it in errors. out is (3, t->crop, t->crop). */
cltrain_status transform_eval_bgr(cltrain_context *cx, const unsigned char *bgr, int height, int width,
                                  size_t stride, const char *name, const transform_params *t, float *out);

/* A crop box: top row i, left column j, height h, width w. */
typedef struct crop_box {
  int i, j, h, w;
} crop_box;

/* RandomResizedCrop.get_params of torchvision 0.14 for an height x width image, with its
 * random numbers drawn from r: 10 tries of (area * U(scale), exp(U(log ratio))), then the
 * centred fallback with the ratio clamped to its bounds. */
crop_box transform_rrc_params(int height, int width, const double scale[2], const double ratio[2],
                              cltrain_rng *r);

/* The augmentation stream of image `index` in `epoch`: a pure function of (seed, epoch, index),
 * so batches do not depend on which worker thread prepares which image. Each image owns 256
 * draws of the RNG_STREAM_AUGMENT stream of a key mixed from (seed, epoch). */
cltrain_rng transform_augment_rng(uint64_t seed, uint32_t epoch, uint32_t index);

/* The random choices the augmentation makes for an height x width image: the crop box, then the
 * flip, in that order from r. */
void transform_draw(int height, int width, const transform_params *t, cltrain_rng *r,
                    crop_box *box, int *flip);

/* Reads and decodes `path` to 8-bit BGR (grey, alpha, 16-bit and palette images included; EXIF
 * orientation ignored, as PIL does), then applies `t`; out is (3, crop, crop) floats, RGB.
 * r is used only when t->augment (else may be NULL). Errors name the file: CLTRAIN_ERR_IO
 * (cannot open or read), CLTRAIN_ERR_FORMAT (empty, undecodable, or a JPEG with no end-of-image
 * marker after its last scan, i.e. truncated: OpenCV would decode it partially, grey-filled).
 * Thread-safe. */
cltrain_status transform_image(cltrain_context *cx, const char *path, const transform_params *t,
                               cltrain_rng *r, float *out);

/* The augmentation with its random choices given: crop `box` (inside the image), resize to
 * (crop, crop), flip when `flip`, normalise. transform_image(augment) is transform_draw + this. */
cltrain_status transform_image_at(cltrain_context *cx, const char *path, const transform_params *t,
                                  const crop_box *box, int flip, float *out);

/* ---- the batch loader ------------------------------------------------------------------ */

typedef struct loader_options {
  int batch_size; /* images per batch (the last batch of an epoch may be shorter) */
  int workers;    /* decoding threads; 0: hardware threads - 1, at least 1 */
  int prefetch;   /* batches prepared ahead of the consumer; 0: 3 */
  int shuffle;    /* 1: a new permutation per epoch from (seed, epoch), RNG_STREAM_SHUFFLE */
  int drop_last;  /* 1: drop a last batch shorter than batch_size */
  int skip_bad;   /* 1: leave out images that fail to load and count them, instead of failing */
  uint64_t seed;  /* shuffling and augmentation */
  /* Data-parallel training: this process takes positions rank, rank+ranks, ... of the epoch's
   * order, as torch's DistributedSampler; with pad, the order first repeats its start up to a
   * multiple of ranks so every rank has the same count. ranks 0 or 1: the whole order. */
  int rank, ranks, pad;
} loader_options;

loader_options loader_defaults(void); /* batch 4, workers 0, prefetch 0, no shuffle, seed 0 */

typedef struct loader loader;

/* A loader over `f` (which must outlive it) with transform `t`. Starts the worker threads,
 * which stay idle until loader_start_epoch(). */
cltrain_status loader_create(cltrain_context *cx, const imagefolder *f, const transform_params *t,
                             const loader_options *o, loader **out);
void loader_destroy(loader *l); /* accepts NULL; stops and joins the workers */

/* Begins epoch `epoch` (its permutation and augmentation draws depend on it), abandoning what
 * is left of the previous one. */
cltrain_status loader_start_epoch(loader *l, uint32_t epoch);

/* The next batch of the epoch, in order: *x is (n, 3, crop, crop), *labels is (n), both owned
 * by the loader and valid until the next call. *n is 0 at the end of the epoch. With skip_bad
 * a batch holds only the images that loaded, and a batch where none did is passed over.
 * A failed image fails the call with its status and a message naming the file; the epoch can
 * go on with the next call. Not thread-safe: one consumer. */
cltrain_status loader_next(loader *l, const float **x, const int32_t **labels, int *n);
int loader_done(const loader *l); /* 1 once every batch of the epoch has been returned */

/* The ImageFolder indices of the images of the batch the last loader_next returned (its *n of
 * them, in order), valid as long as that batch. */
const int32_t *loader_batch_indices(const loader *l);

/* The order loader_start_epoch(epoch) goes through the images in: loader_epoch_images() indices
 * into `order` (batches are consecutive runs of batch_size of them). */
cltrain_status loader_epoch_order(const loader *l, uint32_t epoch, int32_t *order);
int loader_epoch_images(const loader *l); /* this rank's share: imagefolder_size() for one rank */

int loader_num_batches(const loader *l);   /* per epoch */
int loader_workers(const loader *l);       /* threads actually started */
double loader_wait_seconds(const loader *l); /* time loader_next spent waiting, since create */
int loader_skipped(const loader *l);       /* images left out (skip_bad), since create */
const char *loader_last_skipped(const loader *l); /* the latest skip's message, or "" */

#ifdef __cplusplus
}
#endif
#endif
