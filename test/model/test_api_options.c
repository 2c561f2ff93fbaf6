/* test_api_options.c: the ABI that can grow (cltrain.h, "Stability") and the context options.
 * Options structs carry their size: *_defaults() set it, an unknown size is refused naming the
 * struct, and an older caller's smaller struct reads with the defaults for what it lacks
 * (rt_options_in, on a two-version struct made for the test). cltrain_model_sgd_step steps at
 * o->lr. Context options: set, read back, bad values refused. Model: the refs' tiny one. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Version 1 of an options struct, and version 2 with one field added at the end. */
typedef struct v1 { size_t size; int a; double b; } v1;
typedef struct v2 { size_t size; int a; double b; int c; } v2;

static void check_grow(cltrain_context *cx) {
  const size_t sizes[] = {RT_SIZE_THROUGH(v2, b), sizeof(v2)};
  CHECK(sizes[0] == sizeof(v1), "the size through v2.b is v1's sizeof (%zu, %zu)", sizes[0], sizeof(v1));
  v1 old = {sizeof old, 7, 2.5};
  v2 full = {sizeof full, 1, 1.0, 42}; /* the defaults */
  CHECK_OK(rt_options_in(cx, "v2", &old, &full, sizes, 2));
  CHECK(full.a == 7 && full.b == 2.5 && full.c == 42 && full.size == sizeof(v2),
        "an older struct's fields are read, the new field keeps its default (%d %g %d %zu)", full.a,
        full.b, full.c, full.size);
  v2 now = {sizeof now, 3, 4.0, 5};
  CHECK_OK(rt_options_in(cx, "v2", &now, &full, sizes, 2));
  CHECK(full.a == 3 && full.c == 5, "the current struct is read whole");
  v2 odd = now;
  odd.size = sizeof(v2) + 8; /* a newer caller's */
  CHECK_STATUS(rt_options_in(cx, "v2", &odd, &full, sizes, 2), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "v2.size is") != NULL, "the message names the struct: %s",
        cltrain_last_error(cx));
}

static int params_equal(cltrain_model *m, const float *before, size_t n) {
  float *now = malloc(n * sizeof(float));
  cltrain_model_get_param(m, "fc.weight", now, n, NULL);
  int same = memcmp(now, before, n * sizeof(float)) == 0;
  free(now);
  return same;
}

int main(void) {
  if (!getenv("CLTRAIN_REF_DIR")) return fprintf(stderr, "CLTRAIN_REF_DIR is not set\n"), 1;
  cltrain_context *cx = test_context();
  check_grow(cx);

  /* Defaults carry their size. */
  cltrain_train_options t = cltrain_train_defaults();
  cltrain_sgd_options s = cltrain_sgd_defaults();
  cltrain_head_options h = cltrain_head_defaults();
  CHECK(t.size == sizeof t && t.sgd.size == sizeof s && s.size == sizeof s && h.size == sizeof h,
        "*_defaults() set the sizes");
  CHECK(h.num_classes == 2 && h.num_hidden == 0 && h.hidden == NULL && h.dropout == 0 && h.seed == 0,
        "cltrain_head_defaults: 2 classes, no hidden layers, no dropout, seed 0");

  cltrain_model *m = NULL;
  CHECK_OK(cltrain_model_load_onnx(cx, test_path(getenv("CLTRAIN_REF_DIR"), "tiny_ok.onnx"), &m));
  CHECK_OK(cltrain_model_set_input_size(m, 8, 8));

  /* A struct not made by *_defaults() (size 0), and one from a newer header, are refused. */
  cltrain_head_options zero;
  memset(&zero, 0, sizeof zero);
  zero.num_classes = 3;
  CHECK_STATUS(cltrain_model_replace_head(m, &zero), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "cltrain_head_options.size is 0") != NULL, "head: %s", cltrain_last_error(cx));
  h.num_classes = 3, h.seed = 9;
  h.size = sizeof h + 16;
  CHECK_STATUS(cltrain_model_replace_head(m, &h), CLTRAIN_ERR_ARG);
  h.size = sizeof h;
  CHECK_OK(cltrain_model_replace_head(m, &h));

  s.size = 0;
  CHECK_STATUS(cltrain_model_sgd_step(m, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "cltrain_sgd_options.size is 0") != NULL, "sgd: %s", cltrain_last_error(cx));
  t.size = 3;
  t.model_path = "x.onnx", t.data_dir = "x", t.out_path = "y.onnx";
  CHECK_STATUS(cltrain_train_run(cx, &t, NULL), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "cltrain_train_options.size is 3") != NULL, "train: %s", cltrain_last_error(cx));
  t.size = sizeof t, t.sgd.size = 0;
  CHECK_STATUS(cltrain_train_run(cx, &t, NULL), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "cltrain_train_options.sgd.size is 0") != NULL, "train.sgd: %s",
        cltrain_last_error(cx));

  /* sgd_step steps at o->lr: 0 leaves the weights, a positive lr moves them, a negative or NaN
   * one is refused in API terms. */
  enum { N = 2 };
  float x[N * 3 * 8 * 8], loss;
  int labels[N] = {0, 2};
  fill_uniform(x, sizeof x / sizeof x[0], 3, -1, 1);
  size_t nw = 0;
  CHECK_OK(cltrain_model_get_param(m, "fc.weight", NULL, 0, &nw));
  float *w0 = malloc(nw * sizeof(float));
  CHECK_OK(cltrain_model_get_param(m, "fc.weight", w0, nw, NULL));
  CHECK_OK(cltrain_model_loss_grad(m, x, labels, N, &loss, NULL));
  s = cltrain_sgd_defaults();
  s.lr = 0, s.momentum = 0;
  CHECK_OK(cltrain_model_sgd_step(m, &s));
  CHECK(params_equal(m, w0, nw), "a step at o->lr = 0 leaves the weights");
  s.lr = 0.5;
  CHECK_OK(cltrain_model_sgd_step(m, &s));
  CHECK(!params_equal(m, w0, nw), "a step at o->lr = 0.5 moves them");
  s.lr = -1;
  CHECK_STATUS(cltrain_model_sgd_step(m, &s), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "the learning rate (-1)") && !strstr(cltrain_last_error(cx), "--"),
        "API terms, no CLI flag: %s", cltrain_last_error(cx));
  s.lr = NAN;
  CHECK_STATUS(cltrain_model_sgd_step(m, &s), CLTRAIN_ERR_ARG);
  free(w0);

  /* cltrain_model_predict_images: bad arguments name the image (equality with the files' path
   * is python/tests' test_predict_images_equal_files_bitwise). */
  unsigned char px[4 * 5 * 3] = {0};
  cltrain_image im[2] = {{px, 4, 5, 15}, {px, 4, 5, 14}};
  float lg[2 * 3];
  CHECK_STATUS(cltrain_model_predict_images(m, NULL, 1, lg), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_predict_images(m, im, 0, lg), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_predict_images(NULL, im, 1, lg), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_model_predict_images(m, im, 2, lg), CLTRAIN_ERR_UNSUPPORTED); /* 2-channel input */
  cltrain_model_destroy(m);
  CHECK_OK(cltrain_model_load_onnx(cx, test_path(getenv("CLTRAIN_REF_DIR"), "whole_r18_bn.onnx"), &m));
  CHECK_OK(cltrain_model_set_input_size(m, 8, 8));
  CHECK_OK(cltrain_model_replace_head(m, &h));
  CHECK_STATUS(cltrain_model_predict_images(m, im, 2, lg), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "images[1]") != NULL, "names the image: %s", cltrain_last_error(cx));
  im[1].stride = 15;
  CHECK_OK(cltrain_model_predict_images(m, im, 2, lg));
  CHECK(!memcmp(lg, lg + 3, 3 * sizeof(float)), "the same pixels give the same logits");
  cltrain_model_destroy(m);

  /* Context options. */
  int v = -1;
  CHECK_OK(cltrain_context_get_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, &v));
  CHECK(v == 0, "Winograd is off by default");
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, 2));
  CHECK_OK(cltrain_context_get_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, &v));
  CHECK(v == 2, "Winograd reads back 2");
  CHECK_STATUS(cltrain_context_set_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, 3), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "Winograd option is 3"), "%s", cltrain_last_error(cx));
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, -1));
  CHECK_OK(cltrain_context_get_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, &v));
  CHECK(v == -1, "Winograd reads back -1 (off on every backend)");
  CHECK_STATUS(cltrain_context_set_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, -2), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "Winograd option is -2"), "%s", cltrain_last_error(cx));
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_CONV_WINOGRAD, 2));
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_PROFILE, 1));
  CHECK_OK(cltrain_context_get_option(cx, CLTRAIN_OPT_PROFILE, &v));
  CHECK(v == 1, "profile reads back 1");
  CHECK_STATUS(cltrain_context_set_option(cx, CLTRAIN_OPT_PROFILE, -1), CLTRAIN_ERR_ARG);
  /* Kernel shapes: auto resolves by device type (this test's PoCL CPU device: cpu, unless
   * $CLTRAIN_KERNEL_SHAPE asked otherwise), and reads back as the shapes in use. */
  cltrain_device_info dev;
  CHECK_OK(cltrain_context_device(cx, &dev));
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, CLTRAIN_KERNEL_SHAPE_AUTO));
  CHECK_OK(cltrain_context_get_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, &v));
  CHECK(v == (dev.type == CLTRAIN_DEVICE_CPU ? CLTRAIN_KERNEL_SHAPE_CPU : CLTRAIN_KERNEL_SHAPE_GPU),
        "auto kernel shapes follow the device type, got %d", v);
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, CLTRAIN_KERNEL_SHAPE_GPU));
  CHECK_OK(cltrain_context_get_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, &v));
  CHECK(v == CLTRAIN_KERNEL_SHAPE_GPU, "kernel shapes read back gpu, got %d", v);
  CHECK_STATUS(cltrain_context_set_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, 3), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "kernel-shape option is 3"), "%s", cltrain_last_error(cx));
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, CLTRAIN_KERNEL_SHAPE_AUTO));
  {
    /* A bad $CLTRAIN_KERNEL_SHAPE stops the context opening, naming the variable. */
    const char *old = getenv("CLTRAIN_KERNEL_SHAPE");
    char *saved = old ? strdup(old) : NULL;
    setenv("CLTRAIN_KERNEL_SHAPE", "fast", 1);
    cltrain_context *bad = NULL;
    CHECK_STATUS(cltrain_context_create(NULL, &bad), CLTRAIN_ERR_ARG);
    CHECK(bad == NULL && strstr(cltrain_last_error(NULL), "CLTRAIN_KERNEL_SHAPE='fast'"), "%s",
          cltrain_last_error(NULL));
    setenv("CLTRAIN_KERNEL_SHAPE", "GPU", 1);
    CHECK_OK(cltrain_context_create(NULL, &bad));
    CHECK_OK(cltrain_context_get_option(bad, CLTRAIN_OPT_KERNEL_SHAPE, &v));
    CHECK(v == CLTRAIN_KERNEL_SHAPE_GPU, "CLTRAIN_KERNEL_SHAPE=GPU opens with gpu shapes, got %d", v);
    cltrain_context_destroy(bad);
    if (saved) setenv("CLTRAIN_KERNEL_SHAPE", saved, 1);
    else unsetenv("CLTRAIN_KERNEL_SHAPE");
    free(saved);
  }
  CHECK_STATUS(cltrain_context_set_option(cx, (cltrain_context_option)99, 1), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "unknown context option 99"), "%s", cltrain_last_error(cx));
  CHECK_STATUS(cltrain_context_get_option(cx, (cltrain_context_option)99, &v), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_set_option(NULL, CLTRAIN_OPT_PROFILE, 1), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_get_option(cx, CLTRAIN_OPT_PROFILE, NULL), CLTRAIN_ERR_ARG);
  cltrain_context_destroy(cx);
  return check_done();
}
