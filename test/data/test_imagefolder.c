/* test_imagefolder.c: ImageFolder's classes and sample order against torchvision's own
 * ImageFolder on the reference folder, its error paths, and the photo-like JPEG set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/data.h"
#include "reftensor.h"

/* The reference's i32 bytes as a string of '\n'-separated lines (caller frees). */
static char *ref_string(const ref_set *s, const char *name) {
  size_t n;
  const int *b = ref_i32(s, name, &n);
  char *out = malloc(n + 1);
  for (size_t k = 0; k < n; k++) out[k] = (char)b[k];
  out[n] = 0;
  return out;
}

static char path_buf[4096];
static const char *refpath(const char *rel) {
  snprintf(path_buf, sizeof path_buf, "%s/imagefolder/%s", getenv("CLTRAIN_REF_DIR"), rel);
  return path_buf;
}

/* The call fails with `want`, and the message names `needle` (a file or folder). */
static void check_fails(const char *rel, cltrain_status want, const char *needle) {
  imagefolder *f = (imagefolder *)1;
  CHECK_STATUS(imagefolder_open(NULL, refpath(rel), &f), want);
  CHECK(f == NULL, "%s: *out is NULL after a failure", rel);
  CHECK(strstr(cltrain_last_error(NULL), needle) != NULL, "%s: message names '%s': %s", rel, needle,
        cltrain_last_error(NULL));
}

static void test_order(void) {
  ref_set *ref = ref_load("data_imagefolder");
  char *paths = ref_string(ref, "paths"), *classes = ref_string(ref, "classes");
  size_t nlabels;
  const int *labels = ref_i32(ref, "labels", &nlabels);
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("good"), &f))) exit(check_done());

  CHECK(imagefolder_size(f) == (int)nlabels, "%d samples, torchvision %zu", imagefolder_size(f), nlabels);
  int k = 0, same = 1;
  for (char *line = strtok(classes, "\n"); line; line = strtok(NULL, "\n"), k++) {
    const char *got = imagefolder_class_name(f, k);
    same &= got && !strcmp(got, line);
  }
  CHECK(same && k == imagefolder_num_classes(f), "class names and order equal torchvision's (%d classes)", k);
  k = 0, same = 1;
  for (char *line = strtok(paths, "\n"); line; line = strtok(NULL, "\n"), k++) {
    const char *got = imagefolder_path(f, k);
    if (!got || strcmp(got, line) || imagefolder_label(f, k) != labels[k]) {
      same = 0;
      printf("  sample %d: got '%s' label %d, torchvision '%s' label %d\n", k, got ? got : "(null)",
             imagefolder_label(f, k), line, labels[k]);
    }
  }
  CHECK(same && k == (int)nlabels, "paths (nested, spaces, upper-case extensions) and labels in "
        "torchvision's order (%d samples)", k);
  CHECK(imagefolder_class_name(f, -1) == NULL && imagefolder_class_name(f, 3) == NULL &&
            imagefolder_path(f, 14) == NULL && imagefolder_label(f, -1) == -1,
        "out-of-range accessors give NULL / -1");
  CHECK(!strcmp(imagefolder_root(f), refpath("good")), "root is the folder as given");
  CHECK_OK(imagefolder_same_classes(NULL, f, f));
  imagefolder_close(f);
  imagefolder_close(NULL);
  free(paths);
  free(classes);
  ref_free(ref);
}

static void test_errors(void) {
  check_fails("no_such_folder", CLTRAIN_ERR_IO, "no_such_folder");
  check_fails("good/stray.jpg", CLTRAIN_ERR_IO, "stray.jpg"); /* a file, not a folder */
  check_fails("bad_noclass", CLTRAIN_ERR_FORMAT, "bad_noclass");
  check_fails("bad_emptyclass", CLTRAIN_ERR_FORMAT, "bad_emptyclass/hollow");
  CHECK_STATUS(imagefolder_open(NULL, NULL, NULL), CLTRAIN_ERR_ARG);

  imagefolder *tr = NULL, *va = NULL;
  char train[4096], val[4096];
  snprintf(train, sizeof train, "%s", refpath("mismatch/train"));
  snprintf(val, sizeof val, "%s", refpath("mismatch/val"));
  CHECK_OK(imagefolder_open(NULL, train, &tr));
  CHECK_OK(imagefolder_open(NULL, val, &va));
  if (tr && va) {
    CHECK_STATUS(imagefolder_same_classes(NULL, tr, va), CLTRAIN_ERR_FORMAT);
    const char *msg = cltrain_last_error(NULL);
    CHECK(strstr(msg, train) && strstr(msg, val) && strstr(msg, "bees") && strstr(msg, "wasps"),
          "mismatch message names both folders and the classes: %s", msg);
  }
  CHECK_STATUS(imagefolder_same_classes(NULL, tr, NULL), CLTRAIN_ERR_ARG);
  imagefolder_close(tr);
  imagefolder_close(va);
}

/* The photo-like set (test/ref/ref_data.py write_photos): two classes of JPEGs, names with
 * spaces and brackets, one .jpeg; what the tutorial's data set would check, without it. */
static void test_photos(void) {
  imagefolder *f = NULL;
  if (!CHECK_OK(imagefolder_open(NULL, refpath("photos"), &f))) return;
  CHECK(imagefolder_size(f) == 24, "24 photos (%d)", imagefolder_size(f));
  CHECK(imagefolder_num_classes(f) == 2 && !strcmp(imagefolder_class_name(f, 0), "ants") &&
            !strcmp(imagefolder_class_name(f, 1), "bees"),
        "classes ants, bees");
  CHECK_OK(imagefolder_same_classes(NULL, f, f));
  int ants = 0, spaces = 0, jpeg = 0;
  for (int i = 0; i < imagefolder_size(f); i++) {
    ants += imagefolder_label(f, i) == 0;
    spaces += strstr(imagefolder_path(f, i), " (2)") != NULL;
    jpeg += strstr(imagefolder_path(f, i), ".jpeg") != NULL;
  }
  CHECK(ants == 11, "11 ants (%d)", ants);
  CHECK(spaces == 2 && jpeg == 1, "names with spaces and brackets (%d) and the one .jpeg (%d) are listed", spaces, jpeg);
  imagefolder_close(f);
}

int main(void) {
  test_order();
  test_errors();
  test_photos();
  return check_done();
}
