/* runtime.h: cltrain's OpenCL runtime: the context, error reporting, the program/kernel cache
 * and checked kernel launches. Every other part of the library talks to OpenCL through this. */
#ifndef CLTRAIN_RUNTIME_H
#define CLTRAIN_RUNTIME_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>

#include "opencv2/cltrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A device buffer and an offset into it, counted in elements (floats or ints). Ops take these
 * and never allocate. */
typedef struct buf {
  cl_mem mem;
  size_t off;
} buf;

static inline buf buf_at(buf b, size_t off) {
  b.off += off;
  return b;
}

typedef struct rt_program rt_program; /* one built program, in the context's cache */
typedef struct rt_prebuild rt_prebuild; /* program.c: programs being built ahead, or NULL */

/* What the device allows, queried when the context opens. Kernels and launches read these and
 * never assume PoCL's generous values. CLTRAIN_DEVICE_LIMITS can lower them (context.c), so
 * tests can run as on a small GPU. */
typedef struct rt_limits {
  size_t max_work_group;  /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
  size_t local_mem_bytes; /* CL_DEVICE_LOCAL_MEM_SIZE */
  int fp64;               /* cl_khr_fp64 is available */
  int native_kernels;     /* CL_EXEC_NATIVE_KERNEL: clEnqueueNativeKernel runs host functions */
} rt_limits;

/* Slots for per-op profile totals (model.c checks its op count fits). */
enum { RT_PROFILE_OPS = 32 };

struct cltrain_context {
  cl_platform_id platform;
  cl_device_id device;
  cl_context ctx;
  cl_command_queue queue;
  cltrain_device_info info; /* global_mem_bytes/max_alloc_bytes are lowered by CLTRAIN_DEVICE_LIMITS */
  rt_limits limits;
  rt_program *programs; /* linked list: the cache, keyed by source + options (one device) */
  unsigned long program_builds, program_hits;
  rt_prebuild *prebuild; /* only this struct is shared with helper threads, under its lock */
  unsigned blas_generation; /* blas.c: the CLBlast cache generation its tuning was applied in */
  int gemm_native;          /* blas.c: 1 when GEMMs run on the host BLAS as native kernels */
  /* cltrain_context_set_option: CLTRAIN_OPT_CONV_WINOGRAD (0, 1, 2) and CLTRAIN_OPT_PROFILE */
  int conv_winograd, profile;
  /* CLTRAIN_OPT_KERNEL_SHAPE as resolved for the device: CLTRAIN_KERNEL_SHAPE_CPU or _GPU */
  int kernel_shape;
  /* With profile on, seconds and calls per node op and pass (0 forward, 1 backward); model.c
   * (model_profile_*) owns the indexing. Per context, so threads never share them. */
  double profile_seconds[RT_PROFILE_OPS][2];
  long profile_calls[RT_PROFILE_OPS][2];
  char last_error[8192];
};

/* ---- errors ---- */

/* Name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES". */
const char *rt_cl_error_name(cl_int err);

/* Records a failure on cx (may be NULL) and on this thread, then returns st. printf-style. */
cltrain_status rt_fail(cltrain_context *cx, cltrain_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Turns an OpenCL error into a status naming the call and its site. CL_OUT_OF_*_MEMORY and
 * CL_MEM_OBJECT_ALLOCATION_FAILURE become CLTRAIN_ERR_OUT_OF_MEMORY. */
cltrain_status rt_cl_fail(cltrain_context *cx, cl_int err, const char *call, const char *file,
                          int line);

/* Checks one OpenCL call that returns a cl_int, inside a function returning cltrain_status. */
#define CL_CHECK(cx, call)                                                 \
  do {                                                                     \
    cl_int cl_check_err_ = (call);                                         \
    if (cl_check_err_ != CL_SUCCESS)                                       \
      return rt_cl_fail((cx), cl_check_err_, #call, __FILE__, __LINE__);   \
  } while (0)

/* Propagates a failed status. */
#define TRY(expr)                       \
  do {                                  \
    cltrain_status try_st_ = (expr);    \
    if (try_st_ != CLTRAIN_OK)          \
      return try_st_;                   \
  } while (0)

/* ---- options structs that can grow (cltrain.h, "Stability") ---- */

/* The size an options struct T had when `last` was its last field: the offset past `last`,
 * rounded up to T's alignment as sizeof rounds it. When a field is added at the end of T,
 * sizes[] lists RT_SIZE_THROUGH(T, <the old last field>) before sizeof(T). */
#define RT_SIZE_THROUGH(T, last) \
  ((offsetof(T, last) + sizeof(((T *)0)->last) + _Alignof(T) - 1) / _Alignof(T) * _Alignof(T))

/* Reads a caller's options struct `in` of type `type` (named in errors) into `full`, which
 * holds the defaults and is sizes[nsizes - 1] bytes (this library's sizeof): in's first field
 * is its size, which must be one of sizes[] (each an older version's, ascending); the fields
 * an older struct lacks keep their defaults. full's size field ends up the full size. */
cltrain_status rt_options_in(cltrain_context *cx, const char *type, const void *in, void *full,
                             const size_t *sizes, int nsizes);

/* ---- live OpenCL objects: a debug counter (cltrain_debug_live_objects) ---- */

/* Counts OpenCL objects cltrain holds: +1 after each successful clCreate* or clRetain*, -1 with
 * each clRelease*. Every such call in cltrain goes with one of these, so that a leak test can
 * see the count return to 0 (reference counts read back after a release can't be trusted). */
void rt_count_live(int delta);

/* ---- buffers ---- */

cltrain_status rt_alloc(cltrain_context *cx, size_t bytes, cl_mem *out);
/* rt_alloc, refusing a buffer over the device's largest allocation (cx->info.max_alloc_bytes,
 * lowered by CLTRAIN_DEVICE_LIMITS) with CLTRAIN_ERR_OUT_OF_MEMORY naming `what`, before
 * clCreateBuffer sees it (drivers differ: an error, or a failure only when it is touched). */
cltrain_status rt_alloc_named(cltrain_context *cx, const char *what, size_t bytes, cl_mem *out);
/* Bytes [off, off + bytes) of parent as a buffer of its own; off a multiple of the device's
 * CL_DEVICE_MEM_BASE_ADDR_ALIGN. Release it (rt_free) before the parent. */
cltrain_status rt_sub_buffer(cltrain_context *cx, cl_mem parent, size_t off, size_t bytes, cl_mem *out);
void rt_free(cl_mem m); /* accepts NULL */
cltrain_status rt_write(cltrain_context *cx, buf dst, const void *src, size_t bytes);
/* Enqueues the write and returns: src must stay valid until the queue has finished it (a later
 * blocking read or clFinish on the same in-order queue). */
cltrain_status rt_write_async(cltrain_context *cx, buf dst, const void *src, size_t bytes);
cltrain_status rt_read(cltrain_context *cx, void *dst, buf src, size_t bytes);

/* ---- programs and kernels ---- */

/* The text of an embedded kernels/NAME (e.g. "conv2d.cl"), or NULL. */
const char *rt_kernel_source(const char *name);
/* The name of the i-th embedded kernel file (i from 0), NULL past the last. */
const char *rt_kernel_file(int i);

/* Builds (or finds in the cache) `source` with `options`; *out is owned by the cache.
 * A failed build returns CLTRAIN_ERR_BUILD with the compiler log in the message. */
cltrain_status rt_build(cltrain_context *cx, const char *source_name, const char *source,
                        const char *options, rt_program **out);

/* Prebuilding (PoCL only; CLTRAIN_PREBUILD=0 turns it off). Between rt_record_begin (1 when
 * recording started) and rt_record_end nothing is enqueued: cx->queue is NULL, rt_kernel notes
 * the program and returns a call that rt_run ignores, and other enqueues fail (so don't call
 * CLBlast then: it prints its errors).
 * rt_record_end starts building the noted programs on helper threads; rt_build waits for one
 * being built. rt_prebuild_stats: programs noted and built by helpers in the last round. */
int rt_record_begin(cltrain_context *cx);
void rt_record_end(cltrain_context *cx);
void rt_prebuild_note(cltrain_context *cx, const char *file, const char *options); /* while recording */
void rt_prebuild_stats(const cltrain_context *cx, int *noted, unsigned long *built);

/* A kernel launch being prepared: rt_kernel() finds the kernel, arg_*() set its arguments in
 * order and remember the first failure, and rt_run() enqueues it (or reports that failure). */
typedef struct rt_call {
  cltrain_context *cx;
  cl_kernel kernel;
  const char *name;
  cl_uint nargs;
  cl_int err;
  unsigned long *runs; /* the kernel's launch count, which rt_run advances */
} rt_call;

/* Finds kernel `kernel` in kernels/`file` built with `options` ("" for none). */
cltrain_status rt_kernel(cltrain_context *cx, const char *file, const char *options,
                         const char *kernel, rt_call *call);
void arg_buf(rt_call *c, buf b); /* sets two arguments: the cl_mem and its offset (int) */
void arg_mem(rt_call *c, cl_mem m);
void arg_int(rt_call *c, int v);
void arg_float(rt_call *c, float v);
void arg_uint(rt_call *c, unsigned v);
/* Enqueues over `dims` dimensions; `local` may be NULL. Global sizes are rounded up to a
 * multiple of local sizes, so kernels must bound-check. Nothing is waited for. */
cltrain_status rt_run(rt_call *c, cl_uint dims, const size_t *global, const size_t *local);
/* Kernels rt_run has enqueued in this process (cltrain's own; CLBlast's are not counted:
 * scripts/count-launches counts every launch). */
unsigned long rt_launch_count(void);
/* Launches rt_run enqueued on cx of kernel `kernel` (from any file, built with any options):
 * test/oclgrind/test_kernels.c checks that it runs every kernel in kernels/. */
unsigned long rt_kernel_runs(const cltrain_context *cx, const char *kernel);

/* ---- explicit work-group sizes (util.c) ----
 * Launches name their local size instead of leaving it to the driver (which picks badly for
 * sizes with factors of 7 or a prime), within CL_KERNEL_WORK_GROUP_SIZE and limits.max_work_group. */

/* The width of a work-group reduction tree (a power of 2, at most 256) that fits the device's
 * work-group and local-memory limits. Kernels receive it as -DWG=... */
size_t rt_reduce_width(const cltrain_context *cx);
/* A tree for `len` terms: the smallest power of 2 >= len, at most rt_reduce_width(cx). */
size_t rt_reduce_width_for(const cltrain_context *cx, size_t len);
/* "-cl-fp32-correctly-rounded-divide-sqrt" where the device supports it, else "" (OpenCL 1.2
 * leaves the option undefined elsewhere): for kernels whose few divisions and square roots
 * scale everything after them (BN's mean and 1/sqrt(var + eps)). */
const char *rt_exact_div_sqrt(const cltrain_context *cx);
/* A local size for c's kernel: a power-of-2 multiple of its preferred work-group multiple, at
 * most `want`, CL_KERNEL_WORK_GROUP_SIZE and limits.max_work_group. */
size_t rt_local_size(rt_call *c, size_t want);
/* Enqueues n work-items in one dimension, in work-groups of rt_local_size(c, 256). */
cltrain_status rt_run_items(rt_call *c, size_t n);
/* Enqueues a 3-D range (groups * width, dim1, dim2) in work-groups of (width, 1, 1), for kernels
 * that reduce over a work-group of exactly `width` items; fails naming the kernel if the device
 * cannot run groups that wide for it. dim1 and dim2 should stay within 65535 (GPU limits). */
cltrain_status rt_run_groups(rt_call *c, size_t width, size_t groups, size_t dim1, size_t dim2);

/* 1 when cx runs the GPU-shaped launches (CLTRAIN_OPT_KERNEL_SHAPE): a work-item per element,
 * coalesced, reductions as work-group trees; 0 for the CPU shapes (contiguous runs). */
static inline int rt_gpu_shapes(const cltrain_context *cx) {
  return cx->kernel_shape == CLTRAIN_KERNEL_SHAPE_GPU;
}

/* ---- small buffer kernels (kernels/util.cl) ---- */

/* y[0..n) = value */
cltrain_status rt_fill(cltrain_context *cx, buf y, float value, size_t n);
/* y[0..n) = x[0..n) */
cltrain_status rt_copy(cltrain_context *cx, buf y, buf x, size_t n);

#ifdef __cplusplus
}
#endif
#endif
