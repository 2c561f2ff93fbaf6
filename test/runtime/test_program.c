/* test_program.c: the program cache (hits, keys), checked launches, OpenCL error names, and the
 * build-failure path that must carry the compiler's log. */
#include <stdio.h>
#include <string.h>

#include "check.h"

static const char *good_src =
    "__kernel void twice(__global float *y, int y_off, int n) {\n"
    "  int i = get_global_id(0); if (i < n) y[y_off + i] *= SCALE; }\n";
static const char *bad_src =
    "__kernel void broken(__global float *y) { y[0] = undefined_identifier_q7; }\n";

int main(void) {
  cltrain_context *cx = test_context();
  rt_program *p1, *p2, *p3;
  unsigned long builds0 = cx->program_builds;
  CHECK_OK(rt_build(cx, "twice", good_src, "-DSCALE=2.0f", &p1));
  CHECK_OK(rt_build(cx, "twice", good_src, "-DSCALE=2.0f", &p2));
  CHECK(p1 == p2, "the same source and options hit the cache");
  CHECK(cx->program_builds == builds0 + 1 && cx->program_hits >= 1,
        "one build, one hit (builds %lu, hits %lu)", cx->program_builds - builds0, cx->program_hits);
  CHECK_OK(rt_build(cx, "twice", good_src, "-DSCALE=3.0f", &p3));
  CHECK(p3 != p1, "other options make another program");

  /* A kernel from an embedded file, launched through the checked call path. */
  float h[37];
  fill_uniform(h, 37, 1, 1.0f, 2.0f);
  buf y = test_upload(cx, NULL, 40);
  CHECK_OK(rt_write(cx, buf_at(y, 3), h, sizeof h));
  rt_call c;
  CHECK_OK(rt_kernel(cx, "util.cl", "", "fill", &c));
  arg_buf(&c, y);
  arg_float(&c, -1.5f);
  arg_int(&c, 3);
  size_t g = 3;
  CHECK_OK(rt_run(&c, 1, &g, NULL));
  CHECK_OK(rt_kernel(cx, "util.cl", "", "axpy", &c));
  arg_buf(&c, buf_at(y, 3));
  arg_buf(&c, buf_at(y, 3));
  arg_float(&c, 1.0f);
  arg_int(&c, 37);
  g = 37;
  size_t local = 16; /* rounds the global size up: the kernel's bound check matters */
  CHECK_OK(rt_run(&c, 1, &g, &local));
  float *out = test_download(cx, y, 40);
  int ok = out[0] == -1.5f && out[2] == -1.5f;
  for (int i = 0; i < 37; i++) ok &= out[3 + i] == 2 * h[i];
  CHECK(ok, "fill and axpy at offsets give exact values");
  free(out);

  /* A missing embedded file and a missing kernel name. */
  CHECK_STATUS(rt_kernel(cx, "nope.cl", "", "x", &c), CLTRAIN_ERR_INTERNAL);
  CHECK_STATUS(rt_kernel(cx, "util.cl", "", "no_such_kernel", &c), CLTRAIN_ERR_OPENCL);
  CHECK(strstr(cltrain_last_error(cx), "no_such_kernel") != NULL, "message names the kernel");

  /* A wrong argument is reported at launch, with the kernel's name and the error's name. */
  CHECK_OK(rt_kernel(cx, "util.cl", "", "fill", &c));
  arg_buf(&c, y);
  arg_mem(&c, NULL); /* a cl_mem where a float belongs: wrong size */
  arg_int(&c, 3);
  CHECK_STATUS(rt_run(&c, 1, &g, NULL), CLTRAIN_ERR_OPENCL);
  CHECK(strstr(cltrain_last_error(cx), "fill") && strstr(cltrain_last_error(cx), "CL_INVALID_ARG_SIZE"),
        "message names the kernel and CL_INVALID_ARG_SIZE: %s", cltrain_last_error(cx));

  /* A failing build returns CLTRAIN_ERR_BUILD with the compiler's log. */
  rt_program *pb = NULL;
  CHECK_STATUS(rt_build(cx, "broken.cl", bad_src, "-DFOO=1", &pb), CLTRAIN_ERR_BUILD);
  const char *msg = cltrain_last_error(cx);
  CHECK(strstr(msg, "broken.cl") && strstr(msg, "undefined_identifier_q7") && strstr(msg, "-DFOO=1"),
        "build failure names the file, options and the log's culprit: %s", msg);
  CHECK(!strcmp(msg, cltrain_last_error(NULL)), "the thread's last error matches the context's");

  /* Error names. */
  CHECK(!strcmp(rt_cl_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES"), "error name");
  CHECK(!strcmp(rt_cl_error_name(-12345), "CL_UNKNOWN_ERROR"), "unknown error name");
  CHECK(rt_cl_fail(cx, CL_MEM_OBJECT_ALLOCATION_FAILURE, "clX", "a/b.c", 7) == CLTRAIN_ERR_OUT_OF_MEMORY,
        "allocation failure maps to CLTRAIN_ERR_OUT_OF_MEMORY");
  CHECK(strstr(cltrain_last_error(cx), "b.c:7") != NULL, "the call site is named");

  rt_free(y.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
