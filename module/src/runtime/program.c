/* program.c: building OpenCL programs once per (source, options, device) and launching their
 * kernels with checked arguments. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

typedef struct rt_kernel_entry {
  struct rt_kernel_entry *next;
  char name[64];
  cl_kernel kernel;
} rt_kernel_entry;

struct rt_program {
  rt_program *next;
  uint64_t source_hash;
  cl_device_id device;
  char *options;
  cl_program program;
  rt_kernel_entry *kernels;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

cltrain_status rt_build(cltrain_context *cx, const char *source_name, const char *source,
                        const char *options, rt_program **out) {
  if (!options) options = "";
  uint64_t h = fnv1a(source);
  for (rt_program *p = cx->programs; p; p = p->next) {
    if (p->source_hash == h && p->device == cx->device && !strcmp(p->options, options)) {
      cx->program_hits++;
      *out = p;
      return CLTRAIN_OK;
    }
  }
  rt_program *p = calloc(1, sizeof *p);
  char *opts = strdup(options);
  if (!p || !opts) {
    free(p);
    free(opts);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory building %s", source_name);
  }
  cl_int err;
  p->program = clCreateProgramWithSource(cx->ctx, 1, &source, NULL, &err);
  if (err != CL_SUCCESS) {
    free(p);
    free(opts);
    return rt_cl_fail(cx, err, "clCreateProgramWithSource", __FILE__, __LINE__);
  }
  rt_count_live(+1);
  /* -cl-std=CL1.2 keeps every kernel within OpenCL 1.2, whatever the device offers. */
  char full[1024];
  snprintf(full, sizeof full, "-cl-std=CL1.2 %s", options);
  err = clBuildProgram(p->program, 1, &cx->device, full, NULL, NULL);
  if (err != CL_SUCCESS) {
    size_t len = 0;
    clGetProgramBuildInfo(p->program, cx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
      log[0] = 0;
      clGetProgramBuildInfo(p->program, cx->device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
      log[len] = 0;
    }
    cltrain_status st = rt_fail(cx, CLTRAIN_ERR_BUILD, "%s failed to build (%s) with options '%s' on device '%s':\n%s",
                                source_name, rt_cl_error_name(err), options, cx->info.name,
                                log ? log : "(no build log)");
    free(log);
    clReleaseProgram(p->program);
    rt_count_live(-1);
    free(p);
    free(opts);
    return st;
  }
  p->source_hash = h;
  p->device = cx->device;
  p->options = opts;
  p->next = cx->programs;
  cx->programs = p;
  cx->program_builds++;
  *out = p;
  return CLTRAIN_OK;
}

void rt_release_programs(cltrain_context *cx) {
  rt_program *p = cx->programs;
  while (p) {
    rt_program *next = p->next;
    for (rt_kernel_entry *k = p->kernels, *kn; k; k = kn) {
      kn = k->next;
      clReleaseKernel(k->kernel);
      rt_count_live(-1);
      free(k);
    }
    clReleaseProgram(p->program);
    rt_count_live(-1);
    free(p->options);
    free(p);
    p = next;
  }
  cx->programs = NULL;
}

cltrain_status rt_kernel(cltrain_context *cx, const char *file, const char *options,
                         const char *kernel, rt_call *call) {
  memset(call, 0, sizeof *call);
  const char *src = rt_kernel_source(file);
  if (!src) return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "no embedded kernel file kernels/%s", file);
  rt_program *p;
  TRY(rt_build(cx, file, src, options, &p));
  rt_kernel_entry *k = p->kernels;
  while (k && strcmp(k->name, kernel)) k = k->next;
  if (!k) {
    k = calloc(1, sizeof *k);
    if (!k) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    cl_int err;
    k->kernel = clCreateKernel(p->program, kernel, &err);
    if (err != CL_SUCCESS) {
      free(k);
      return rt_fail(cx, CLTRAIN_ERR_OPENCL, "clCreateKernel(%s) in kernels/%s: %s", kernel, file,
                     rt_cl_error_name(err));
    }
    rt_count_live(+1);
    snprintf(k->name, sizeof k->name, "%s", kernel);
    k->next = p->kernels;
    p->kernels = k;
  }
  call->cx = cx;
  call->kernel = k->kernel;
  call->name = k->name;
  return CLTRAIN_OK;
}

static void set_arg(rt_call *c, size_t size, const void *v) {
  cl_int err = clSetKernelArg(c->kernel, c->nargs, size, v);
  if (err != CL_SUCCESS && c->err == CL_SUCCESS) c->err = err;
  c->nargs++;
}

void arg_mem(rt_call *c, cl_mem m) { set_arg(c, sizeof m, &m); }
void arg_int(rt_call *c, int v) { set_arg(c, sizeof v, &v); }
void arg_uint(rt_call *c, unsigned v) { set_arg(c, sizeof v, &v); }
void arg_float(rt_call *c, float v) { set_arg(c, sizeof v, &v); }
void arg_buf(rt_call *c, buf b) {
  arg_mem(c, b.mem);
  arg_int(c, (int)b.off);
}

cltrain_status rt_run(rt_call *c, cl_uint dims, const size_t *global, const size_t *local) {
  if (c->err != CL_SUCCESS)
    return rt_fail(c->cx, CLTRAIN_ERR_OPENCL, "clSetKernelArg for kernel %s: %s", c->name,
                   rt_cl_error_name(c->err));
  size_t g[3];
  for (cl_uint i = 0; i < dims; i++) {
    g[i] = global[i];
    if (g[i] == 0) return CLTRAIN_OK; /* nothing to do */
    if (local) g[i] = (g[i] + local[i] - 1) / local[i] * local[i];
  }
  cl_int err = clEnqueueNDRangeKernel(c->cx->queue, c->kernel, dims, NULL, g, local, 0, NULL, NULL);
  if (err != CL_SUCCESS) {
    char what[128];
    snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", c->name);
    return rt_cl_fail(c->cx, err, what, __FILE__, __LINE__);
  }
  return CLTRAIN_OK;
}
