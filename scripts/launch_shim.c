/* launch_shim.c: an LD_PRELOAD library for scripts/count-launches. It counts every
 * clEnqueueNDRangeKernel and clEnqueueNativeKernel of the process (cltrain's and CLBlast's
 * alike), by kernel name, and writes the counts to $LAUNCH_SHIM_OUT when the process exits. */
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NAMES = 512 };
static struct { char name[64]; unsigned long n; } names[MAX_NAMES];
static int nnames;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void count(const char *name) {
  pthread_mutex_lock(&lock);
  int i = 0;
  while (i < nnames && strcmp(names[i].name, name)) i++;
  if (i == nnames && nnames < MAX_NAMES) snprintf(names[nnames++].name, sizeof names[0].name, "%s", name);
  if (i < nnames) names[i].n++;
  pthread_mutex_unlock(&lock);
}

typedef cl_int (*ndrange_fn)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                             const size_t *, cl_uint, const cl_event *, cl_event *);
typedef cl_int (*native_fn)(cl_command_queue, void (*)(void *), void *, size_t, cl_uint,
                            const cl_mem *, const void **, cl_uint, const cl_event *, cl_event *);

cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
                              const size_t *global, const size_t *local, cl_uint nw,
                              const cl_event *wait, cl_event *ev) {
  static ndrange_fn next;
  if (!next) next = (ndrange_fn)dlsym(RTLD_NEXT, "clEnqueueNDRangeKernel");
  char name[64] = "?";
  clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
  count(name);
  return next(q, k, dims, off, global, local, nw, wait, ev);
}

cl_int clEnqueueNativeKernel(cl_command_queue q, void (*fn)(void *), void *args, size_t cb,
                             cl_uint nmem, const cl_mem *mems, const void **locs, cl_uint nw,
                             const cl_event *wait, cl_event *ev) {
  static native_fn next;
  if (!next) next = (native_fn)dlsym(RTLD_NEXT, "clEnqueueNativeKernel");
  count("(native kernel)");
  return next(q, fn, args, cb, nmem, mems, locs, nw, wait, ev);
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("LAUNCH_SHIM_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  if (!f) return;
  for (int i = 0; i < nnames; i++) fprintf(f, "%lu %s\n", names[i].n, names[i].name);
  fclose(f);
}
