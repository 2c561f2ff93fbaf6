/* test_tools_api.c: the public calls the cltrain tool is built on (cltrain.h, "for tools"):
 * context details, a model's nodes, the ImageFolder and its eval reader, the profiler's
 * totals and the launch count, the atomic file write. Each is checked against the internal function it wraps, and every error path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/data.h"
#include "graph/graph.h"

static char ref_dir[1024];

static const char *ref_path(const char *rel, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%s", ref_dir, rel);
  return buf;
}

static void test_details(cltrain_context *cx) {
  cltrain_context_details d = {.size = sizeof d};
  if (CHECK_OK(cltrain_context_get_details(cx, &d))) {
    CHECK(d.max_work_group == cx->limits.max_work_group && d.local_mem_bytes == cx->limits.local_mem_bytes &&
              d.max_alloc_bytes == cx->info.max_alloc_bytes && d.fp64 == cx->limits.fp64 &&
              d.native_kernels == cx->limits.native_kernels,
          "details equal the context's limits");
    CHECK(d.reduce_width == rt_reduce_width(cx), "reduce width %zu", d.reduce_width);
    CHECK(d.gemm_backend && d.gemm_backend[0], "a GEMM backend name");
    CHECK(d.max_work_items[0] >= 1, "work-item sizes queried: %zu", d.max_work_items[0]);
  }
  CHECK_STATUS(cltrain_context_get_details(NULL, &d), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_get_details(cx, NULL), CLTRAIN_ERR_ARG);
  cltrain_context_details old = {.size = sizeof old - 8}; /* a struct of another version */
  CHECK_STATUS(cltrain_context_get_details(cx, &old), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(NULL), "size"), "the size named: %s", cltrain_last_error(NULL));
}

static void test_nodes(cltrain_context *cx) {
  char path[1100];
  ref_path("whole_r18_bn.onnx", path, sizeof path);
  graph_desc g;
  if (!CHECK_OK(graph_import_onnx(NULL, path, &g))) return;
  int n = -1;
  /* without a device, as `cltrain info` runs */
  CHECK_OK(cltrain_onnx_nodes(NULL, path, NULL, 0, &n));
  CHECK(n == g.n, "count %d, the graph has %d nodes", n, g.n);
  cltrain_node_info *nodes = calloc((size_t)g.n, sizeof *nodes);
  if (nodes && CHECK_OK(cltrain_onnx_nodes(cx, path, nodes, g.n, &n))) {
    int same = 1, outputs = 0;
    size_t stored = 0;
    for (int i = 0; i < g.n; i++) {
      const graph_node *nd = &g.nodes[i];
      same &= !strcmp(nodes[i].name, nd->name) && !strcmp(nodes[i].op, graph_op_name(nd->op)) &&
              nodes[i].c == nd->c && nodes[i].h == nd->h && nodes[i].w == nd->w &&
              nodes[i].trainable == nd->ntrainable && nodes[i].stored == nd->nparams &&
              nodes[i].stage == (i == 0 ? -1 : nd->stage);
      outputs += nodes[i].is_output;
      stored += nodes[i].stored;
    }
    CHECK(same, "every node's name, op, shape, parameters and stage as the importer has them");
    CHECK(outputs == 1 && nodes[g.output].is_output && nodes[g.output].out_features == 2,
          "one output node, the 2-class classifier");
    CHECK(stored == g.nparams, "stored parameters %zu, the file holds %zu", stored, g.nparams);
    /* a short array: the first cap nodes, and the full count */
    cltrain_node_info two[2];
    CHECK_OK(cltrain_onnx_nodes(NULL, path, two, 2, &n));
    CHECK(n == g.n && !strcmp(two[1].name, g.nodes[1].name), "cap 2: count %d, node 1 '%s'", n, two[1].name);
  }
  free(nodes);
  graph_free(&g);
  CHECK_STATUS(cltrain_onnx_nodes(NULL, NULL, NULL, 0, &n), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_onnx_nodes(NULL, path, NULL, 0, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_onnx_nodes(NULL, path, NULL, 3, &n), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_onnx_nodes(NULL, path, NULL, -1, &n), CLTRAIN_ERR_ARG);
  char missing[1100], bad[1100];
  CHECK_STATUS(cltrain_onnx_nodes(NULL, ref_path("nope.onnx", missing, sizeof missing), NULL, 0, &n),
               CLTRAIN_ERR_IO);
  CHECK(strstr(cltrain_last_error(NULL), "nope.onnx"), "the file named: %s", cltrain_last_error(NULL));
  CHECK_STATUS(cltrain_onnx_nodes(cx, ref_path("bad_truncated.onnx", bad, sizeof bad), NULL, 0, &n),
               CLTRAIN_ERR_FORMAT);
  CHECK(strstr(cltrain_last_error(cx), "bad_truncated.onnx"), "the file named: %s", cltrain_last_error(cx));
}

static void test_folder(cltrain_context *cx, cltrain_model *m) {
  char dir[1100];
  ref_path("eval_folder", dir, sizeof dir);
  cltrain_folder *f = NULL;
  imagefolder *inner = NULL;
  if (!CHECK_OK(cltrain_folder_open(cx, dir, &f)) || !CHECK_OK(imagefolder_open(cx, dir, &inner))) {
    cltrain_folder_close(f);
    return;
  }
  int n = cltrain_folder_size(f), same = n == imagefolder_size(inner) && n > 0;
  CHECK(cltrain_folder_num_classes(f) == 2 && !strcmp(cltrain_folder_class_name(f, 1), "dog"),
        "2 classes, cat and dog");
  for (int i = 0; i < n; i++)
    same &= !strcmp(cltrain_folder_path(f, i), imagefolder_path(inner, i)) &&
            cltrain_folder_label(f, i) == imagefolder_label(inner, i);
  CHECK(same, "%d images, paths and labels as the internal ImageFolder", n);
  CHECK(!cltrain_folder_class_name(f, 2) && !cltrain_folder_path(f, n) && cltrain_folder_label(f, -1) == -1,
        "out of range: NULL and -1");
  CHECK(cltrain_folder_size(NULL) == 0 && cltrain_folder_num_classes(NULL) == 0 &&
            !cltrain_folder_path(NULL, 0) && cltrain_folder_label(NULL, 0) == -1,
        "a NULL folder is empty");

  /* The reader, batches of 4 from 2 threads: the same tensors as predict_files' transform,
   * so the logits are bitwise those of cltrain_model_predict_files on the same files. Both run
   * one image per forward: on some backends an image's logits round differently with the batch
   * around it (OpenBLAS's AVX2 kernels), and the tensors are what this compares. */
  cltrain_folder_reader *r = NULL;
  float *want = malloc(sizeof(float) * 2 * n), *got = malloc(sizeof(float) * 2 * n);
  const char **paths = malloc(sizeof *paths * n);
  char(*buf)[1200] = malloc(sizeof *buf * n);
  if (want && got && paths && buf && CHECK_OK(cltrain_folder_reader_create(cx, f, m, 4, 2, &r))) {
    for (int i = 0; i < n; i++) snprintf(buf[i], sizeof buf[i], "%s/%s", dir, cltrain_folder_path(f, i)), paths[i] = buf[i];
    for (int i = 0; i < n; i++) CHECK_OK(cltrain_model_predict_files(m, paths + i, 1, want + 2 * i));
    cltrain_model_info info;
    CHECK_OK(cltrain_model_get_info(m, &info));
    size_t pix = (size_t)info.in_c * info.in_h * info.in_w;
    int done = 0, nb = 0, labels_ok = 1, batches = 0;
    const float *x;
    const int *y;
    while (CHECK_OK(cltrain_folder_reader_next(r, &x, &y, &nb)) && nb > 0 && done + nb <= n) {
      for (int i = 0; i < nb; i++) CHECK_OK(cltrain_model_forward(m, x + i * pix, 1, got + 2 * (done + i)));
      for (int i = 0; i < nb; i++) labels_ok &= y[i] == cltrain_folder_label(f, done + i);
      done += nb, batches++;
    }
    CHECK(done == n && batches == (n + 3) / 4 && labels_ok, "%d of %d images in %d batches, labels in order",
          done, n, batches);
    CHECK(done == n && !memcmp(got, want, sizeof(float) * 2 * n), "the reader's logits equal predict_files' bitwise");
    CHECK(cltrain_folder_reader_wait_seconds(r) >= 0 && cltrain_folder_reader_wait_seconds(NULL) == 0,
          "wait seconds");
  }
  cltrain_folder_reader_destroy(r);
  cltrain_folder_reader_destroy(NULL);
  free(want), free(got), free(paths), free(buf);

  const float *x;
  const int *y;
  int nb;
  r = NULL;
  CHECK_STATUS(cltrain_folder_reader_create(cx, f, m, 0, 1, &r), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_folder_reader_create(cx, f, m, 4, -1, &r), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_folder_reader_create(cx, NULL, m, 4, 1, &r), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_folder_reader_create(cx, f, NULL, 4, 1, &r), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_folder_reader_create(cx, f, m, 4, 1, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_folder_reader_next(NULL, &x, &y, &nb), CLTRAIN_ERR_ARG);
  /* a model whose input is not square: the eval transform cannot feed it */
  if (CHECK_OK(cltrain_model_set_input_size(m, 64, 96))) {
    CHECK_STATUS(cltrain_folder_reader_create(cx, f, m, 4, 1, &r), CLTRAIN_ERR_UNSUPPORTED);
    CHECK(strstr(cltrain_last_error(cx), "3x64x96"), "the input named: %s", cltrain_last_error(cx));
    CHECK_OK(cltrain_model_set_input_size(m, 224, 224));
  }
  CHECK(r == NULL, "no reader after a failure");
  cltrain_folder_close(f);
  imagefolder_close(inner);

  /* an image that does not decode: named by the batch that holds it */
  if (CHECK_OK(cltrain_folder_open(cx, ref_path("eval_bad_folder", dir, sizeof dir), &f)) &&
      CHECK_OK(cltrain_folder_reader_create(cx, f, m, 2, 1, &r))) {
    cltrain_status st;
    while ((st = cltrain_folder_reader_next(r, &x, &y, &nb)) == CLTRAIN_OK && nb > 0) {
    }
    CHECK(st == CLTRAIN_ERR_FORMAT || st == CLTRAIN_ERR_IO, "broken.jpg fails (status %s)", cltrain_status_str(st));
    CHECK(strstr(cltrain_last_error(cx), "broken.jpg"), "the image named: %s", cltrain_last_error(cx));
  }
  cltrain_folder_reader_destroy(r);
  cltrain_folder_close(f);
  f = NULL;
  CHECK_STATUS(cltrain_folder_open(cx, ref_path("no_such_folder", dir, sizeof dir), &f), CLTRAIN_ERR_IO);
  CHECK(f == NULL && strstr(cltrain_last_error(cx), "no_such_folder"), "the folder named: %s",
        cltrain_last_error(cx));
  CHECK_STATUS(cltrain_folder_open(cx, ref_path("imagefolder/bad_noclass", dir, sizeof dir), &f),
               CLTRAIN_ERR_FORMAT);
  CHECK_STATUS(cltrain_folder_open(cx, NULL, &f), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_folder_open(cx, dir, NULL), CLTRAIN_ERR_ARG);
  cltrain_folder_close(NULL);
}

/* The profiler's totals and the launch count around one profiled forward pass. */
static void test_profile(cltrain_context *cx, cltrain_model *m) {
  float *x = malloc(sizeof(float) * 3 * 224 * 224), logits[2];
  if (!x) return;
  fill_uniform(x, 3 * 224 * 224, 5, -1, 1);
  int n = -1;
  cltrain_profile_entry e[16];
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_PROFILE, 1));
  CHECK_OK(cltrain_context_reset_profile(cx));
  CHECK_OK(cltrain_context_get_profile(cx, NULL, 0, &n));
  CHECK(n == 0, "nothing profiled after a reset: %d op kinds", n);
  unsigned long l0 = cltrain_debug_launch_count();
  CHECK_OK(cltrain_model_set_train(m, 0));
  CHECK_OK(cltrain_model_forward(m, x, 1, logits));
  CHECK(cltrain_debug_launch_count() > l0 + 20, "a forward pass launches kernels: %lu",
        cltrain_debug_launch_count() - l0);
  if (CHECK_OK(cltrain_context_get_profile(cx, e, 16, &n))) {
    int conv = -1;
    for (int i = 0; i < n && i < 16; i++)
      if (!strcmp(e[i].op, "conv")) conv = i;
    CHECK(n >= 4 && conv >= 0 && e[conv].calls[0] == 20 && e[conv].calls[1] == 0 && e[conv].seconds[0] > 0,
          "%d op kinds; ResNet-18's 20 convolutions ran forward once", n);
  }
  int two = -1;
  CHECK_OK(cltrain_context_get_profile(cx, e, 2, &two));
  CHECK(two == n, "a short array still counts every kind: %d", two);
  CHECK_OK(cltrain_context_set_option(cx, CLTRAIN_OPT_PROFILE, 0));
  CHECK_STATUS(cltrain_context_get_profile(NULL, e, 16, &n), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_get_profile(cx, NULL, 16, &n), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_get_profile(cx, e, 16, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_reset_profile(NULL), CLTRAIN_ERR_ARG);
  free(x);
}

static void test_write_file(void) {
  char path[] = "/tmp/cltrain-tools-XXXXXX";
  int fd = mkstemp(path);
  if (!CHECK(fd >= 0, "temporary file")) return;
  close(fd);
  const char text[] = "a,b\n1,2\n";
  char back[32] = "";
  if (CHECK_OK(cltrain_write_file(path, text, sizeof text - 1))) {
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(back, 1, sizeof back, f) : 0;
    if (f) fclose(f);
    CHECK(got == sizeof text - 1 && !memcmp(back, text, got), "the file holds what was written");
  }
  CHECK_OK(cltrain_write_file(path, NULL, 0)); /* an empty file */
  remove(path);
  CHECK_STATUS(cltrain_write_file("/proc/nope/x.csv", text, 3), CLTRAIN_ERR_IO);
  CHECK(strstr(cltrain_last_error(NULL), "cannot write '/proc/nope/x.csv'"), "the file named: %s",
        cltrain_last_error(NULL));
  CHECK(access("/proc/nope/x.csv", F_OK) != 0, "nothing written");
  CHECK_STATUS(cltrain_write_file(NULL, text, 3), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_write_file(path, NULL, 3), CLTRAIN_ERR_ARG);
}

int main(void) {
  const char *d = getenv("CLTRAIN_REF_DIR");
  if (!d) {
    fprintf(stderr, "CLTRAIN_REF_DIR is not set\n");
    return 1;
  }
  snprintf(ref_dir, sizeof ref_dir, "%s", d);
  cltrain_context *cx = test_context();
  char path[1100];
  cltrain_model *m = NULL;
  test_details(cx);
  test_nodes(cx);
  if (CHECK_OK(cltrain_model_load_onnx(cx, ref_path("whole_r18_bn.onnx", path, sizeof path), &m))) {
    test_folder(cx, m);
    test_profile(cx, m);
  }
  test_write_file();
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  return check_done();
}
