/* test_loader.c: the threaded batch loader: eval batches equal the cv2 reference in order,
 * shuffled augmented batches are bitwise the same with 1 and 3 workers, bad files fail or are
 * skipped, epochs restart; and the speed on the photo-like JPEG set with 1 and 2 workers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "data/data.h"
#include "reftensor.h"

#define IMG ((size_t)3 * 224 * 224)

static char path_buf[4096];
static const char *refpath(const char *rel) {
  snprintf(path_buf, sizeof path_buf, "%s/imagefolder/%s", getenv("CLTRAIN_REF_DIR"), rel);
  return path_buf;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Every batch of one epoch, concatenated: x (n, 3, 224, 224) and labels (n); returns n. */
static int run_epoch(loader *l, uint32_t epoch, float *x, int32_t *labels, int *batches) {
  int total = 0;
  *batches = 0;
  if (!CHECK_OK(loader_start_epoch(l, epoch))) return -1;
  for (;;) {
    const float *bx;
    const int32_t *bl;
    int n;
    if (!CHECK_OK(loader_next(l, &bx, &bl, &n))) return -1;
    if (n == 0) break;
    memcpy(x + (size_t)total * IMG, bx, n * IMG * sizeof(float));
    memcpy(labels + total, bl, n * sizeof(int32_t));
    total += n;
    (*batches)++;
  }
  CHECK(loader_done(l), "loader_done after the last batch");
  return total;
}

static void test_eval_order(imagefolder *f) {
  ref_set *ref = ref_load("data_eval");
  const float *x_cv = ref_f32(ref, "x_cv", NULL);
  int count = imagefolder_size(f);
  float *x = malloc(count * IMG * sizeof(float));
  int32_t *labels = malloc(count * sizeof(int32_t));
  transform_params t = transform_eval_defaults();
  loader_options o = loader_defaults();
  o.batch_size = 4, o.workers = 2, o.prefetch = 2;
  loader *l = NULL;
  if (!CHECK_OK(loader_create(NULL, f, &t, &o, &l))) return;
  CHECK(loader_num_batches(l) == (count + 3) / 4 && loader_workers(l) == 2, "%d batches, 2 workers",
        loader_num_batches(l));
  int batches, n = run_epoch(l, 0, x, labels, &batches);
  CHECK(n == count && batches == (count + 3) / 4, "one epoch: %d images in %d batches", n, batches);
  CHECK_REL("eval batches vs cv2 reference, in order", x, x_cv, count * IMG, 1e-6);
  int same = 1;
  for (int i = 0; i < count; i++) same &= labels[i] == imagefolder_label(f, i);
  CHECK(same, "labels in ImageFolder order");
  /* a second epoch, abandoned after one batch, then a full one: the same batches again */
  const float *bx;
  const int32_t *bl;
  int bn;
  CHECK_OK(loader_start_epoch(l, 1));
  CHECK_OK(loader_next(l, &bx, &bl, &bn));
  memset(x, 0, count * IMG * sizeof(float));
  n = run_epoch(l, 2, x, labels, &batches);
  CHECK(n == count, "an epoch restarted mid-way delivers all %d images", n);
  CHECK_REL("restarted epoch vs cv2 reference", x, x_cv, count * IMG, 1e-6);
  printf("  consumer waited %.3f s\n", loader_wait_seconds(l));
  CHECK(loader_wait_seconds(l) >= 0, "wait time measured");
  loader_destroy(l);

  o.drop_last = 1;
  CHECK_OK(loader_create(NULL, f, &t, &o, &l));
  n = run_epoch(l, 0, x, labels, &batches);
  CHECK(n == count / 4 * 4 && batches == count / 4, "drop_last: %d images in %d full batches", n, batches);
  loader_destroy(l);
  loader_destroy(NULL);
  o.batch_size = 0;
  CHECK_STATUS(loader_create(NULL, f, &t, &o, &l), CLTRAIN_ERR_ARG);
  free(x);
  free(labels);
  ref_free(ref);
}

static void test_determinism(imagefolder *f) {
  int count = imagefolder_size(f);
  size_t bytes = count * IMG * sizeof(float);
  float *x1 = malloc(bytes), *x3 = malloc(bytes), *xe = malloc(bytes);
  int32_t *l1 = malloc(count * 4), *l3 = malloc(count * 4), *le = malloc(count * 4);
  transform_params t = transform_train_defaults();
  loader_options o = loader_defaults();
  o.batch_size = 3, o.shuffle = 1, o.seed = 1234;
  loader *a = NULL, *b = NULL;
  o.workers = 1;
  CHECK_OK(loader_create(NULL, f, &t, &o, &a));
  o.workers = 3, o.prefetch = 2;
  CHECK_OK(loader_create(NULL, f, &t, &o, &b));
  if (!a || !b) return;
  for (uint32_t epoch = 0; epoch < 2; epoch++) {
    int nb1, nb3;
    int n1 = run_epoch(a, epoch, x1, l1, &nb1), n3 = run_epoch(b, epoch, x3, l3, &nb3);
    CHECK(n1 == count && n3 == count && nb1 == nb3, "epoch %u: %d and %d images", epoch, n1, n3);
    CHECK(!memcmp(x1, x3, bytes) && !memcmp(l1, l3, count * 4),
          "epoch %u: 1 and 3 workers give bitwise equal batches", epoch);
    int hist[3] = {0, 0, 0}, in_order = 1;
    for (int i = 0; i < count; i++) {
      if (l1[i] >= 0 && l1[i] < 3) hist[l1[i]]++;
      in_order &= l1[i] == imagefolder_label(f, i);
    }
    CHECK(hist[0] == 3 && hist[1] == 7 && hist[2] == 4 && !in_order,
          "epoch %u: shuffled, every image once (labels %d/%d/%d)", epoch, hist[0], hist[1], hist[2]);
    if (epoch == 0) {
      memcpy(xe, x1, bytes);
      memcpy(le, l1, count * 4);
    } else {
      CHECK(memcmp(xe, x1, bytes) != 0, "epoch 1's batches differ from epoch 0's");
    }
  }
  int nb;
  run_epoch(b, 0, x3, l3, &nb); /* epoch 0 again, after epoch 1: the same */
  CHECK(!memcmp(xe, x3, bytes) && !memcmp(le, l3, count * 4), "epoch 0 repeats exactly");
  loader_destroy(a);
  loader_destroy(b);
  free(x1), free(x3), free(xe), free(l1), free(l3), free(le);
}

static void test_bad(void) {
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("bad_text"), &f))) return;
  transform_params t = transform_eval_defaults();
  loader_options o = loader_defaults();
  o.batch_size = 1, o.workers = 2; /* ok.png, then readme.jpg */
  loader *l = NULL;
  CHECK_OK(loader_create(NULL, f, &t, &o, &l));
  const float *x;
  const int32_t *lab;
  int n;
  CHECK_OK(loader_start_epoch(l, 0));
  CHECK_OK(loader_next(l, &x, &lab, &n));
  CHECK(n == 1, "the good image first");
  CHECK_STATUS(loader_next(l, &x, &lab, &n), CLTRAIN_ERR_FORMAT);
  CHECK(strstr(cltrain_last_error(NULL), "readme.jpg") != NULL, "the worker's error names the file: %s",
        cltrain_last_error(NULL));
  CHECK_OK(loader_next(l, &x, &lab, &n));
  CHECK(n == 0, "then the epoch ends");
  loader_destroy(l);

  o.batch_size = 2, o.skip_bad = 1;
  CHECK_OK(loader_create(NULL, f, &t, &o, &l));
  CHECK_OK(loader_start_epoch(l, 0));
  CHECK_OK(loader_next(l, &x, &lab, &n));
  CHECK(n == 1 && loader_skipped(l) == 1 && strstr(loader_last_skipped(l), "readme.jpg"),
        "skip_bad: a batch of the 1 good image, 1 skipped: %s", loader_last_skipped(l));
  CHECK_OK(loader_next(l, &x, &lab, &n));
  CHECK(n == 0, "skip_bad: then the epoch ends");
  loader_destroy(l);
  imagefolder_close(f);

  CHECK_STATUS(loader_create(NULL, NULL, &t, &o, &l), CLTRAIN_ERR_ARG);
  CHECK_STATUS(loader_next(NULL, &x, &lab, &n), CLTRAIN_ERR_ARG);
}

/* The photo-like JPEG set (imagefolder/photos, 11 ants and 13 bees): every image once with 1
 * and 2 workers, the same first batch, and the speed for the record. */
static void test_photos(void) {
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("photos"), &f))) return;
  transform_params t = transform_eval_defaults();
  float *first = malloc(16 * IMG * sizeof(float));
  for (int workers = 1; workers <= 2; workers++) {
    loader_options o = loader_defaults();
    o.batch_size = 16, o.workers = workers;
    loader *l = NULL;
    if (!CHECK_OK(loader_create(NULL, f, &t, &o, &l))) break;
    double t0 = now();
    CHECK_OK(loader_start_epoch(l, 0));
    int total = 0, bees = 0, batch = 0, same = 1;
    const float *x;
    const int32_t *lab;
    int n;
    while (CHECK_OK(loader_next(l, &x, &lab, &n)) && n > 0) {
      for (int k = 0; k < n; k++) bees += lab[k] == 1;
      if (batch == 0 && workers == 1) memcpy(first, x, n * IMG * sizeof(float));
      if (batch == 0 && workers == 2) same = !memcmp(first, x, n * IMG * sizeof(float));
      total += n, batch++;
    }
    double dt = now() - t0;
    printf("photos, eval transform, %d worker(s): %d images in %.2f s, %.1f images/s "
           "(consumer waited %.2f s)\n", workers, total, dt, total / dt, loader_wait_seconds(l));
    CHECK(total == 24 && bees == 13, "all 24 photos (13 bees: %d)", bees);
    CHECK(same, "the first batch is the same with %d workers", workers);
    loader_destroy(l);
  }
  free(first);
  imagefolder_close(f);

  /* the training side: augmentation, shuffled, 1 worker */
  if (!CHECK_OK(imagefolder_open(NULL, refpath("photos"), &f))) return;
  t = transform_train_defaults();
  loader_options o = loader_defaults();
  o.batch_size = 16, o.workers = 1, o.shuffle = 1, o.seed = 1;
  loader *l = NULL;
  if (CHECK_OK(loader_create(NULL, f, &t, &o, &l))) {
    double t0 = now();
    CHECK_OK(loader_start_epoch(l, 0));
    int total = 0, n;
    const float *x;
    const int32_t *lab;
    while (CHECK_OK(loader_next(l, &x, &lab, &n)) && n > 0) total += n;
    double dt = now() - t0;
    printf("photos, augmentation, 1 worker: %d images in %.2f s, %.1f images/s\n", total, dt, total / dt);
    CHECK(total == 24, "all 24 photos augmented (%d)", total);
    loader_destroy(l);
  }
  imagefolder_close(f);
}

int main(void) {
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("good"), &f))) return check_done();
  test_eval_order(f);
  test_determinism(f);
  imagefolder_close(f);
  test_bad();
  test_photos();
  return check_done();
}
