/* context.c: listing OpenCL devices, choosing one by selector, and the context's lifetime. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/blas.h"
#include "runtime/runtime.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

typedef struct found_device {
  cl_platform_id platform;
  cl_device_id device;
  cltrain_device_info info;
} found_device;

static void info_string(cl_device_id d, cl_device_info what, char *out, size_t cap) {
  out[0] = 0;
  if (clGetDeviceInfo(d, what, cap, out, NULL) != CL_SUCCESS) snprintf(out, cap, "?");
  out[cap - 1] = 0;
}

static void describe(cl_platform_id p, cl_device_id d, int pi, int di, cltrain_device_info *o) {
  memset(o, 0, sizeof *o);
  o->platform_index = pi;
  o->device_index = di;
  if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof o->platform, o->platform, NULL) != CL_SUCCESS)
    snprintf(o->platform, sizeof o->platform, "?");
  info_string(d, CL_DEVICE_NAME, o->name, sizeof o->name);
  info_string(d, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
  info_string(d, CL_DEVICE_VERSION, o->version, sizeof o->version);
  info_string(d, CL_DEVICE_OPENCL_C_VERSION, o->c_version, sizeof o->c_version);
  cl_device_type t = 0;
  cl_uint cu = 0;
  cl_ulong mem = 0, alloc = 0;
  clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
  clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
  o->type = (t & CL_DEVICE_TYPE_GPU)           ? CLTRAIN_DEVICE_GPU
            : (t & CL_DEVICE_TYPE_CPU)         ? CLTRAIN_DEVICE_CPU
            : (t & CL_DEVICE_TYPE_ACCELERATOR) ? CLTRAIN_DEVICE_ACCELERATOR
                                               : CLTRAIN_DEVICE_OTHER;
  o->compute_units = cu;
  o->global_mem_bytes = mem;
  o->max_alloc_bytes = alloc;
}


/* ---- CLTRAIN_DEVICE_LIMITS: lower limits, for tests ----
 * "mem=BYTES,alloc=BYTES,wg=N,local=BYTES,fp64=0|1", each key optional, sizes with an optional
 * K, M or G (binary) suffix. A test can then run as on a device with less memory, smaller work
 * groups, less local memory or no fp64 than the machine's. Values only lower what the device
 * reports: a limit above the device's is ignored. */
typedef struct env_limits {
  uint64_t mem, alloc, wg, local; /* 0: not set */
  int fp64;                       /* -1: not set */
} env_limits;

static int parse_size(const char *s, size_t len, uint64_t *out) {
  char tmp[32];
  if (len == 0 || len >= sizeof tmp) return 0;
  memcpy(tmp, s, len);
  tmp[len] = 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(tmp, &end, 10);
  if (errno || end == tmp || tmp[0] == '-') return 0;
  int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
  if (shift) end++;
  if (*end || v == 0 || v > (UINT64_MAX >> shift)) return 0;
  *out = (uint64_t)v << shift;
  return 1;
}

static cltrain_status read_env_limits(env_limits *l) {
  l->mem = l->alloc = l->wg = l->local = 0;
  l->fp64 = -1;
  const char *e = getenv("CLTRAIN_DEVICE_LIMITS");
  if (!e || !*e) return CLTRAIN_OK;
  for (const char *p = e; *p;) {
    size_t len = strcspn(p, ","), klen = strcspn(p, "=");
    uint64_t v = 0;
    int ok = klen < len && parse_size(p + klen + 1, len - klen - 1, &v);
    if (ok && klen == 3 && !strncmp(p, "mem", 3)) l->mem = v;
    else if (ok && klen == 5 && !strncmp(p, "alloc", 5)) l->alloc = v;
    else if (ok && klen == 2 && !strncmp(p, "wg", 2)) l->wg = v;
    else if (ok && klen == 5 && !strncmp(p, "local", 5)) l->local = v;
    else if (klen == 4 && !strncmp(p, "fp64", 4) && len == 6 && (p[5] == '0' || p[5] == '1'))
      l->fp64 = p[5] - '0';
    else
      return rt_fail(NULL, CLTRAIN_ERR_ARG,
                     "CLTRAIN_DEVICE_LIMITS: cannot read '%.*s' (expected mem=, alloc=, local= "
                     "with a byte count and an optional K/M/G, wg=N, fp64=0|1, comma-separated)",
                     (int)len, p);
    p += len;
    if (*p == ',') p++;
  }
  return CLTRAIN_OK;
}

static uint64_t lower(uint64_t device, uint64_t cap) { return cap && cap < device ? cap : device; }

static void lower_memory(cltrain_device_info *o, const env_limits *l) {
  o->global_mem_bytes = lower(o->global_mem_bytes, l->mem);
  o->max_alloc_bytes = lower(o->max_alloc_bytes, l->alloc);
}

/* The limits kernels must respect, for cx's device, lowered by CLTRAIN_DEVICE_LIMITS. */
static void query_limits(cltrain_context *cx, const env_limits *l) {
  size_t wg = 0;
  cl_ulong local = 0;
  cl_device_exec_capabilities exec = 0;
  char ext[4096] = "";
  clGetDeviceInfo(cx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  clGetDeviceInfo(cx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
  clGetDeviceInfo(cx->device, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof exec, &exec, NULL);
  if (clGetDeviceInfo(cx->device, CL_DEVICE_EXTENSIONS, sizeof ext, ext, NULL) != CL_SUCCESS) ext[0] = 0;
  ext[sizeof ext - 1] = 0;
  cx->limits.max_work_group = (size_t)lower(wg ? wg : 1, l->wg);
  cx->limits.local_mem_bytes = (size_t)lower(local, l->local);
  cx->limits.fp64 = strstr(ext, "cl_khr_fp64") != NULL && l->fp64 != 0;
  cx->limits.native_kernels = (exec & CL_EXEC_NATIVE_KERNEL) != 0;
}

/* Fills `out` with every device; *n is their count. No platform is CLTRAIN_ERR_DEVICE. */
static cltrain_status enumerate(found_device *out, int *n) {
  *n = 0;
  env_limits lim;
  TRY(read_env_limits(&lim));
  cl_platform_id plats[MAX_PLATFORMS];
  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
    return rt_fail(NULL, CLTRAIN_ERR_DEVICE,
                   "no OpenCL platform found: install an OpenCL driver (ICD), e.g. "
                   "pocl-opencl-icd for the CPU, and check /etc/OpenCL/vendors");
  if (err != CL_SUCCESS) return rt_cl_fail(NULL, err, "clGetPlatformIDs", __FILE__, __LINE__);
  if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
  int first_gpu = -1, first_cpu = -1;
  for (cl_uint p = 0; p < np; p++) {
    cl_device_id devs[MAX_DEVICES];
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS) continue;
    for (cl_uint d = 0; d < nd && d < MAX_DEVICES && *n < MAX_DEVICES; d++) {
      found_device *f = &out[(*n)++];
      f->platform = plats[p];
      f->device = devs[d];
      describe(plats[p], devs[d], (int)p, (int)d, &f->info);
      lower_memory(&f->info, &lim);
      if (f->info.type == CLTRAIN_DEVICE_GPU && first_gpu < 0) first_gpu = *n - 1;
      if (f->info.type == CLTRAIN_DEVICE_CPU && first_cpu < 0) first_cpu = *n - 1;
    }
  }
  if (*n == 0)
    return rt_fail(NULL, CLTRAIN_ERR_DEVICE, "OpenCL platforms exist but report no devices");
  int def = first_gpu >= 0 ? first_gpu : first_cpu >= 0 ? first_cpu : 0;
  out[def].info.is_default = 1;
  return CLTRAIN_OK;
}

cltrain_status cltrain_devices(cltrain_device_info *out, int cap, int *count) {
  if (!count || (cap > 0 && !out) || cap < 0)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_devices: count is NULL, or out is NULL with cap > 0");
  found_device found[MAX_DEVICES];
  int n = 0;
  cltrain_status st = enumerate(found, &n);
  *count = n;
  if (st != CLTRAIN_OK) return st;
  for (int i = 0; i < n && i < cap; i++) out[i] = found[i].info;
  return CLTRAIN_OK;
}

static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
    if (i == n) return 1;
  }
  return n == 0;
}

static int type_of(const char *sel) {
  if (!strcasecmp(sel, "gpu")) return CLTRAIN_DEVICE_GPU;
  if (!strcasecmp(sel, "cpu")) return CLTRAIN_DEVICE_CPU;
  if (!strcasecmp(sel, "accelerator")) return CLTRAIN_DEVICE_ACCELERATOR;
  return 0;
}

/* Index into found[] of the device `sel` names, or -1. */
static int select_device(const found_device *found, int n, const char *sel) {
  if (!sel || !*sel || !strcasecmp(sel, "default")) {
    for (int i = 0; i < n; i++)
      if (found[i].info.is_default) return i;
    return -1;
  }
  int p, d, used = 0;
  if (sscanf(sel, "%d:%d%n", &p, &d, &used) == 2 && sel[used] == 0) {
    for (int i = 0; i < n; i++)
      if (found[i].info.platform_index == p && found[i].info.device_index == d) return i;
    return -1;
  }
  int t = type_of(sel);
  for (int i = 0; i < n; i++) {
    if (t ? (int)found[i].info.type == t
          : contains_nocase(found[i].info.name, sel) || contains_nocase(found[i].info.platform, sel))
      return i;
  }
  return -1;
}

static const char *type_name(cltrain_device_type t) {
  return t == CLTRAIN_DEVICE_GPU ? "GPU" : t == CLTRAIN_DEVICE_CPU ? "CPU"
         : t == CLTRAIN_DEVICE_ACCELERATOR ? "ACCELERATOR" : "OTHER";
}

static cltrain_status open_queue(cltrain_context *cx) {
  cl_int err;
  cx->ctx = clCreateContext(NULL, 1, &cx->device, NULL, NULL, &err);
  if (err != CL_SUCCESS) return rt_cl_fail(cx, err, "clCreateContext", __FILE__, __LINE__);
  rt_count_live(+1);
  cx->queue = clCreateCommandQueue(cx->ctx, cx->device, 0, &err);
  if (err != CL_SUCCESS) return rt_cl_fail(cx, err, "clCreateCommandQueue", __FILE__, __LINE__);
  rt_count_live(+1);
  return CLTRAIN_OK;
}

/* The kernel shapes `value` (CLTRAIN_OPT_KERNEL_SHAPE) means on cx's device. */
static int resolve_shape(const cltrain_context *cx, int value) {
  if (value != CLTRAIN_KERNEL_SHAPE_AUTO) return value;
  return cx->info.type == CLTRAIN_DEVICE_GPU || cx->info.type == CLTRAIN_DEVICE_ACCELERATOR
             ? CLTRAIN_KERNEL_SHAPE_GPU
             : CLTRAIN_KERNEL_SHAPE_CPU;
}

/* The default kernel shapes: $CLTRAIN_KERNEL_SHAPE (auto, cpu or gpu), auto when unset. */
static cltrain_status choose_kernel_shape(cltrain_context *cx) {
  const char *e = getenv("CLTRAIN_KERNEL_SHAPE");
  int v = CLTRAIN_KERNEL_SHAPE_AUTO;
  if (e && *e && strcasecmp(e, "auto") != 0) {
    if (!strcasecmp(e, "cpu")) v = CLTRAIN_KERNEL_SHAPE_CPU;
    else if (!strcasecmp(e, "gpu")) v = CLTRAIN_KERNEL_SHAPE_GPU;
    else return rt_fail(cx, CLTRAIN_ERR_ARG, "CLTRAIN_KERNEL_SHAPE='%s': expected auto, cpu or gpu", e);
  }
  cx->kernel_shape = resolve_shape(cx, v);
  return CLTRAIN_OK;
}

cltrain_status cltrain_context_create(const char *selector, cltrain_context **out) {
  if (!out) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_create: out is NULL");
  *out = NULL;
  const char *sel = selector && *selector ? selector : getenv("CLTRAIN_DEVICE");
  found_device found[MAX_DEVICES];
  int n = 0;
  TRY(enumerate(found, &n));
  int i = select_device(found, n, sel);
  if (i < 0) {
    char list[4096];
    size_t len = 0;
    for (int k = 0; k < n && len < sizeof list; k++)
      len += (size_t)snprintf(list + len, sizeof list - len, "\n  %d:%d  %s  %s (%s)",
                              found[k].info.platform_index, found[k].info.device_index,
                              type_name(found[k].info.type), found[k].info.name,
                              found[k].info.platform);
    return rt_fail(NULL, CLTRAIN_ERR_DEVICE,
                   "no OpenCL device matches '%s'%s; the devices are:%s", sel ? sel : "",
                   selector && *selector ? "" : " (from CLTRAIN_DEVICE)", list);
  }
  cltrain_context *cx = calloc(1, sizeof *cx);
  if (!cx) return rt_fail(NULL, CLTRAIN_ERR_OUT_OF_MEMORY, "cltrain_context_create: out of host memory");
  cx->platform = found[i].platform;
  cx->device = found[i].device;
  cx->info = found[i].info;
  env_limits lim;
  read_env_limits(&lim); /* enumerate() above has checked it */
  query_limits(cx, &lim);
  cltrain_status st = choose_kernel_shape(cx);
  if (st == CLTRAIN_OK) st = open_queue(cx);
  if (st == CLTRAIN_OK) st = blas_init(cx);
  if (st != CLTRAIN_OK) {
    cltrain_context_destroy(cx);
    return st;
  }
  *out = cx;
  return CLTRAIN_OK;
}

cltrain_status cltrain_context_create_from_cl(void *cl_ctx, void *cl_queue, cltrain_context **out) {
  if (!out) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_create_from_cl: out is NULL");
  *out = NULL;
  if (!cl_ctx || !cl_queue)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_create_from_cl: NULL OpenCL context or queue");
  env_limits lim;
  TRY(read_env_limits(&lim));
  cltrain_context *cx = calloc(1, sizeof *cx);
  if (!cx) return rt_fail(NULL, CLTRAIN_ERR_OUT_OF_MEMORY, "cltrain_context_create_from_cl: out of host memory");
  cl_command_queue q = (cl_command_queue)cl_queue;
  cl_context c = (cl_context)cl_ctx, qc = NULL;
  cl_command_queue_properties props = 0;
  cl_int err = clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof qc, &qc, NULL);
  if (err == CL_SUCCESS) err = clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof cx->device, &cx->device, NULL);
  if (err == CL_SUCCESS) err = clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
  if (err == CL_SUCCESS) err = clGetDeviceInfo(cx->device, CL_DEVICE_PLATFORM, sizeof cx->platform, &cx->platform, NULL);
  if (err != CL_SUCCESS) {
    free(cx);
    return rt_cl_fail(NULL, err, "clGetCommandQueueInfo", __FILE__, __LINE__);
  }
  if (qc != c || (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)) {
    free(cx);
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_create_from_cl: the queue %s",
                   qc != c ? "belongs to another context" : "is out-of-order; cltrain needs an in-order queue");
  }
  clRetainContext(c);
  clRetainCommandQueue(q);
  rt_count_live(+2);
  cx->ctx = c;
  cx->queue = q;
  describe(cx->platform, cx->device, -1, -1, &cx->info);
  lower_memory(&cx->info, &lim);
  query_limits(cx, &lim);
  cltrain_status st = choose_kernel_shape(cx);
  if (st == CLTRAIN_OK) st = blas_init(cx);
  if (st != CLTRAIN_OK) {
    cltrain_context_destroy(cx);
    return st;
  }
  *out = cx;
  return CLTRAIN_OK;
}

void rt_release_programs(cltrain_context *cx); /* program.c */

void cltrain_context_destroy(cltrain_context *cx) {
  if (!cx) return;
  if (cx->queue) clFinish(cx->queue);
  rt_release_programs(cx);
  /* CLBlast caches its programs per context, and they hold the context alive: let them go. */
  blas_release();
  if (cx->queue) {
    clReleaseCommandQueue(cx->queue);
    rt_count_live(-1);
  }
  if (cx->ctx) {
    clReleaseContext(cx->ctx);
    rt_count_live(-1);
  }
  free(cx);
}

/* ---- live OpenCL objects ---- */

static atomic_long live_objects;

void rt_count_live(int delta) { atomic_fetch_add(&live_objects, delta); }

long cltrain_debug_live_objects(void) { return atomic_load(&live_objects); }

cltrain_status cltrain_context_device(const cltrain_context *cx, cltrain_device_info *out) {
  if (!cx || !out) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_device: NULL argument");
  *out = cx->info;
  return CLTRAIN_OK;
}

cltrain_status cltrain_context_set_option(cltrain_context *cx, cltrain_context_option opt, int value) {
  if (!cx) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_set_option: cx is NULL");
  switch (opt) {
  case CLTRAIN_OPT_CONV_WINOGRAD:
    if (value < -1 || value > 2)
      return rt_fail(cx, CLTRAIN_ERR_ARG, "the Winograd option is %d: it takes -1 (off), 0 (the "
                     "device's default), 1 (inputs with >= 256 channels) or 2 (every 3x3 stride-1 "
                     "convolution)", value);
    cx->conv_winograd = value;
    return CLTRAIN_OK;
  case CLTRAIN_OPT_PROFILE:
    if (value < 0 || value > 1)
      return rt_fail(cx, CLTRAIN_ERR_ARG, "the profile option is %d: it takes 0 (off) or 1 (on)", value);
    cx->profile = value;
    return CLTRAIN_OK;
  case CLTRAIN_OPT_KERNEL_SHAPE:
    if (value < CLTRAIN_KERNEL_SHAPE_AUTO || value > CLTRAIN_KERNEL_SHAPE_GPU)
      return rt_fail(cx, CLTRAIN_ERR_ARG, "the kernel-shape option is %d: it takes 0 (auto: by "
                     "device type), 1 (cpu) or 2 (gpu)", value);
    cx->kernel_shape = resolve_shape(cx, value);
    return CLTRAIN_OK;
  }
  return rt_fail(cx, CLTRAIN_ERR_ARG, "unknown context option %d", (int)opt);
}

cltrain_status cltrain_context_get_option(const cltrain_context *cx, cltrain_context_option opt, int *value) {
  if (!cx || !value) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_get_option: NULL argument");
  switch (opt) {
  case CLTRAIN_OPT_CONV_WINOGRAD: *value = cx->conv_winograd; return CLTRAIN_OK;
  case CLTRAIN_OPT_PROFILE: *value = cx->profile; return CLTRAIN_OK;
  case CLTRAIN_OPT_KERNEL_SHAPE: *value = cx->kernel_shape; return CLTRAIN_OK;
  }
  return rt_fail(NULL, CLTRAIN_ERR_ARG, "unknown context option %d", (int)opt);
}

cltrain_status rt_options_in(cltrain_context *cx, const char *type, const void *in, void *full,
                             const size_t *sizes, int nsizes) {
  size_t size;
  memcpy(&size, in, sizeof size);
  for (int i = 0; i < nsizes; i++)
    if (size == sizes[i]) {
      memcpy(full, in, size);
      memcpy(full, &sizes[nsizes - 1], sizeof size);
      return CLTRAIN_OK;
    }
  return rt_fail(cx, CLTRAIN_ERR_ARG,
                 "%s.size is %zu, which this library (cltrain %s) does not know (it reads %zu): start "
                 "the struct from its *_defaults() function, and build against the cltrain.h of the "
                 "library you run with", type, size, CLTRAIN_VERSION_STRING, sizes[nsizes - 1]);
}

cltrain_status cltrain_context_finish(cltrain_context *cx) {
  if (!cx) return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_context_finish: cx is NULL");
  CL_CHECK(cx, clFinish(cx->queue));
  return CLTRAIN_OK;
}

/* ---- buffers ---- */

cltrain_status rt_alloc(cltrain_context *cx, size_t bytes, cl_mem *out) {
  return rt_alloc_named(cx, "a buffer", bytes, out);
}

cltrain_status rt_alloc_named(cltrain_context *cx, const char *what, size_t bytes, cl_mem *out) {
  if (bytes > cx->info.max_alloc_bytes) {
    *out = NULL;
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "%s of %zu bytes (%.1f MiB) is more than device '%s' allows in "
                   "one buffer (%.1f MiB)", what, bytes, bytes / 1048576.0, cx->info.name, cx->info.max_alloc_bytes / 1048576.0);
  }
  cl_int err;
  *out = clCreateBuffer(cx->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
  if (err != CL_SUCCESS) {
    *out = NULL;
    return rt_cl_fail(cx, err, "clCreateBuffer", __FILE__, __LINE__);
  }
  rt_count_live(+1);
  return CLTRAIN_OK;
}

cltrain_status rt_sub_buffer(cltrain_context *cx, cl_mem parent, size_t off, size_t bytes, cl_mem *out) {
  cl_buffer_region region = {off, bytes};
  cl_int err;
  *out = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
  if (err != CL_SUCCESS) {
    *out = NULL;
    return rt_cl_fail(cx, err, "clCreateSubBuffer", __FILE__, __LINE__);
  }
  rt_count_live(+1);
  return CLTRAIN_OK;
}

void rt_free(cl_mem m) {
  if (m) {
    clReleaseMemObject(m);
    rt_count_live(-1);
  }
}

cltrain_status rt_write(cltrain_context *cx, buf dst, const void *src, size_t bytes) {
  if (bytes == 0) return CLTRAIN_OK;
  CL_CHECK(cx, clEnqueueWriteBuffer(cx->queue, dst.mem, CL_TRUE, dst.off * 4, bytes, src, 0, NULL, NULL));
  return CLTRAIN_OK;
}

cltrain_status rt_write_async(cltrain_context *cx, buf dst, const void *src, size_t bytes) {
  if (bytes == 0) return CLTRAIN_OK;
  CL_CHECK(cx, clEnqueueWriteBuffer(cx->queue, dst.mem, CL_FALSE, dst.off * 4, bytes, src, 0, NULL, NULL));
  return CLTRAIN_OK;
}

cltrain_status rt_read(cltrain_context *cx, void *dst, buf src, size_t bytes) {
  if (bytes == 0) return CLTRAIN_OK;
  CL_CHECK(cx, clEnqueueReadBuffer(cx->queue, src.mem, CL_TRUE, src.off * 4, bytes, dst, 0, NULL, NULL));
  return CLTRAIN_OK;
}
