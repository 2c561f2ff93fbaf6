/* test_leaks.c: cltrain releases every OpenCL object it makes. 50 times over: a context, the
 * refs' tiny model (conv -> relu -> global pool -> fc) loaded, a forward, a loss/gradient pass
 * and an SGD step, then model and context destroyed. The live-object counter
 * (cltrain_debug_live_objects) must be above 0 while they live, the same in every round (no
 * growth), and 0 after each destroy. Then ResNet-18 at 32x32 (every op's kernels) the same way,
 * 3 times. Last, a context made from the test's own cl_context and queue: after
 * cltrain_context_destroy() their reference counts must be back to 1 (the test's own), so that
 * nothing in cltrain, or in CLBlast's program cache, still holds them. (Reference counts are read
 * only on objects the test still holds, where they can be trusted.) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"

static char model_path[1024];

/* One round: context (given, or opened here), model, forward, loss/grad, SGD step, destroy.
 * Returns the live-object count seen just before the destroy, or -1 if a call failed. */
static long round_trip(cltrain_context *cx, const char *model, int size, int in_c, int classes) {
  if (!cx) cx = test_context();
  long alive = -1;
  cltrain_model *m = NULL;
  enum { N = 2 };
  size_t npix = (size_t)N * in_c * size * size;
  float *images = malloc(npix * sizeof(float)), *logits = malloc(N * classes * sizeof(float)), loss = 0;
  int labels[N] = {0, classes - 1};
  fill_uniform(images, npix, 7, -1.0f, 1.0f);
  cltrain_sgd_options sgd = cltrain_sgd_defaults();
  sgd.lr = 0.01;
  snprintf(model_path, sizeof model_path, "%s/%s", getenv("CLTRAIN_REF_DIR"), model);
  if (CHECK_OK(cltrain_model_load_onnx(cx, model_path, &m)) &&
      CHECK_OK(cltrain_model_set_input_size(m, size, size)) && CHECK_OK(cltrain_model_set_train(m, 1)) &&
      CHECK_OK(cltrain_model_forward(m, images, N, logits)) &&
      CHECK_OK(cltrain_model_loss_grad(m, images, labels, N, &loss, NULL)) &&
      CHECK_OK(cltrain_model_sgd_step(m, &sgd)) && CHECK_OK(cltrain_context_finish(cx)))
    alive = cltrain_debug_live_objects();
  cltrain_model_destroy(m);
  cltrain_context_destroy(cx);
  free(images);
  free(logits);
  return alive;
}

/* `rounds` round trips; checks the count while alive (positive, steady) and after each destroy. */
static void repeat(const char *model, int size, int in_c, int classes, int rounds) {
  long first = 0;
  int steady = 1, released = 1;
  for (int i = 0; i < rounds; i++) {
    long alive = round_trip(NULL, model, size, in_c, classes), after = cltrain_debug_live_objects();
    if (i == 0) first = alive;
    if (alive != first) steady = 0, printf("  round %d: %ld objects alive, round 0 had %ld\n", i, alive, first);
    if (after != 0) released = 0, printf("  round %d: %ld objects left after destroy\n", i, after);
  }
  /* a context and a queue, plus the model's buffers, programs and kernels */
  CHECK(first > 4, "%s: the counter counts (%ld objects alive with a model)", model, first);
  CHECK(steady, "%s: the same count alive in all %d rounds (%ld)", model, rounds, first);
  CHECK(released, "%s: 0 objects after each of %d destroys", model, rounds);
}

static cl_uint ref_count(cl_context c, cl_command_queue q, int of_queue) {
  cl_uint n = 0;
  if (of_queue) clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof n, &n, NULL);
  else clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL);
  return n;
}

/* The reference count once it has come down to 1, or what it still is after 5 s. */
static cl_uint settled_count(cl_context c, cl_command_queue q, int of_queue) {
  cl_uint n = ref_count(c, q, of_queue);
  for (int i = 0; i < 100 && n != 1; i++) {
    usleep(50000);
    n = ref_count(c, q, of_queue);
  }
  return n;
}

/* test_leaks [ROUNDS]: ROUNDS (default 50) with the tiny model, ROUNDS/16 (at least 1) with
 * ResNet-18; the sanitizer subset runs it with 2 (test_leaks_short). */
int main(int argc, char **argv) {
  if (!getenv("CLTRAIN_REF_DIR")) {
    fprintf(stderr, "CLTRAIN_REF_DIR is not set\n");
    return 1;
  }
  int rounds = argc > 1 ? atoi(argv[1]) : 50;
  CHECK(cltrain_debug_live_objects() == 0, "no objects before any context");
  repeat("tiny_ok.onnx", 8, 2, 3, rounds);
  repeat("whole_r18_bn.onnx", 32, 3, 2, rounds / 16 > 1 ? rounds / 16 : 1);

  /* A context around the test's own OpenCL context and queue. */
  cltrain_context *probe = test_context();
  cl_device_id dev = probe->device;
  cltrain_context_destroy(probe);
  cl_int err;
  cl_context c = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  cl_command_queue q = err == CL_SUCCESS ? clCreateCommandQueue(c, dev, 0, &err) : NULL;
  if (!CHECK(err == CL_SUCCESS, "the test's own context and queue: %s", rt_cl_error_name(err))) return check_done();
  cltrain_context *cx = NULL;
  CHECK_OK(cltrain_context_create_from_cl(c, q, &cx));
  CHECK(cx && ref_count(c, q, 1) > 1, "cltrain holds the queue (%u references)", ref_count(c, q, 1));
  long alive = cx ? round_trip(cx, "whole_r18_bn.onnx", 32, 3, 2) : -1;
  CHECK(alive > 2, "objects alive on a shared context: %ld", alive);
  CHECK(cltrain_debug_live_objects() == 0, "0 objects after destroying it (%ld)", cltrain_debug_live_objects());
  /* PoCL drops its internal events' references a little after the commands finish: wait. */
  cl_uint nq = settled_count(c, q, 1);
  CHECK(nq == 1, "queue: 1 reference left, the test's (%u)", nq);
  clReleaseCommandQueue(q); /* a queue holds its context: release it before counting those */
  cl_uint nc = settled_count(c, q, 0);
  CHECK(nc == 1, "context: 1 reference left, the test's (%u)", nc);
  clReleaseContext(c);
  return check_done();
}
