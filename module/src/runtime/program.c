/* program.c: building OpenCL programs once per (source, options, device), launching their
 * kernels with checked arguments, and prebuilding a model's programs on background threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime.h"

typedef struct rt_kernel_entry {
  struct rt_kernel_entry *next;
  char name[64];
  cl_kernel kernel;
  unsigned long runs; /* launches rt_run enqueued (rt_kernel_runs) */
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

/* The options every build gets: -cl-std=CL1.2 keeps every kernel within OpenCL 1.2, whatever
 * the device offers. A prebuild must pass the same string, or the driver's cache misses. */
static void full_options(char *full, size_t cap, const char *options) {
  snprintf(full, cap, "-cl-std=CL1.2 %s", options);
}

static void prebuild_claim(cltrain_context *cx, const char *source_name, const char *options);
static int recording(const cltrain_context *cx);
static cltrain_status prebuild_note(cltrain_context *cx, const char *file, const char *source,
                                    const char *options);

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
  prebuild_claim(cx, source_name, options); /* a background build of it is waited for */
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
  char full[1024];
  full_options(full, sizeof full, options);
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

static void prebuild_stop(cltrain_context *cx);

void rt_release_programs(cltrain_context *cx) {
  prebuild_stop(cx);
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
  if (recording(cx)) { /* note the program; the call does nothing */
    call->cx = cx;
    call->name = kernel;
    return prebuild_note(cx, file, src, options);
  }
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
  call->runs = &k->runs;
  return CLTRAIN_OK;
}

static void set_arg(rt_call *c, size_t size, const void *v) {
  if (!c->kernel) return; /* a recorded call (rt_record_begin) */
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

static atomic_ulong launches; /* every kernel rt_run enqueued, process-wide */

unsigned long rt_launch_count(void) { return atomic_load(&launches); }

cltrain_status rt_run(rt_call *c, cl_uint dims, const size_t *global, const size_t *local) {
  if (c->err != CL_SUCCESS)
    return rt_fail(c->cx, CLTRAIN_ERR_OPENCL, "clSetKernelArg for kernel %s: %s", c->name,
                   rt_cl_error_name(c->err));
  if (!c->kernel) return CLTRAIN_OK; /* a recorded call (rt_record_begin) */
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
  atomic_fetch_add(&launches, 1);
  (*c->runs)++;
  return CLTRAIN_OK;
}

unsigned long rt_kernel_runs(const cltrain_context *cx, const char *kernel) {
  unsigned long n = 0;
  for (const rt_program *p = cx->programs; p; p = p->next)
    for (const rt_kernel_entry *k = p->kernels; k; k = k->next)
      if (!strcmp(k->name, kernel)) n += k->runs;
  return n;
}

/* ---- prebuilding: a model's programs compiled on other cores while its first step runs ----
 *
 * rt_record_begin/rt_record_end bracket a walk over a model's pass in which nothing runs: the
 * queue is NULL, rt_kernel only notes each (file, options) it is asked for, and rt_run does
 * nothing. rt_record_end then starts helper threads
 * that build the noted programs, each in a cl_context of its own: PoCL compiles under one lock
 * per cl_context (so threads sharing cx->ctx would take turns, and wait for CLBlast's long
 * build too), and it caches what it builds on disk keyed by source, options and device. When
 * the step reaches a program, rt_build waits for a helper that is building it (or takes it
 * over if none has started) and then builds it in cx->ctx from the warm cache in milliseconds.
 * The helpers' programs never leave their thread, so the kernels that run are built exactly
 * as without prebuilding: the results are the same bits. */

enum { KEY_WAITING, KEY_BUILDING, KEY_DONE };

typedef struct prebuild_key {
  const char *file, *source; /* embedded: static */
  char *options;
  int state;
} prebuild_key;

struct rt_prebuild {
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a key became KEY_DONE */
  prebuild_key *keys;
  int nkeys, capkeys;
  int recording;
  int stop;                 /* context going away: helpers take no new key */
  pthread_t threads[2];
  int nthreads;
  cl_command_queue queue;   /* cx->queue, put aside while recording */
  char last_error[sizeof ((cltrain_context *)0)->last_error]; /* likewise cx->last_error */
  unsigned long built;      /* keys a helper built (rt_prebuild_stats) */
};

/* Prebuilding pays only where the driver keeps a disk cache shared between contexts: PoCL with
 * its kernel cache on. CLTRAIN_PREBUILD=0 turns it off (tests compare both ways). */
static int prebuild_wanted(const cltrain_context *cx) {
  const char *e = getenv("CLTRAIN_PREBUILD");
  if (e && !strcmp(e, "0")) return 0;
  const char *cache = getenv("POCL_KERNEL_CACHE");
  if (cache && !strcmp(cache, "0")) return 0;
  return strstr(cx->info.platform, "Portable Computing Language") != NULL;
}

static int recording(const cltrain_context *cx) { return cx->prebuild && cx->prebuild->recording; }

static prebuild_key *find_key(rt_prebuild *b, const char *file, const char *options) {
  for (int i = 0; i < b->nkeys; i++)
    if (!strcmp(b->keys[i].file, file) && !strcmp(b->keys[i].options, options)) return &b->keys[i];
  return NULL;
}

void rt_prebuild_note(cltrain_context *cx, const char *file, const char *options) {
  const char *src = rt_kernel_source(file);
  if (recording(cx) && src) (void)prebuild_note(cx, file, src, options);
}

static cltrain_status prebuild_note(cltrain_context *cx, const char *file, const char *source,
                                    const char *options) {
  rt_prebuild *b = cx->prebuild;
  if (!options) options = "";
  if (find_key(b, file, options)) return CLTRAIN_OK;
  uint64_t h = fnv1a(source);
  for (rt_program *p = cx->programs; p; p = p->next)
    if (p->source_hash == h && p->device == cx->device && !strcmp(p->options, options)) return CLTRAIN_OK;
  if (b->nkeys == b->capkeys) {
    int cap = b->capkeys ? 2 * b->capkeys : 32;
    prebuild_key *k = realloc(b->keys, (size_t)cap * sizeof *k);
    if (!k) return CLTRAIN_OK; /* only a lost head start */
    b->keys = k, b->capkeys = cap;
  }
  char *o = strdup(options);
  if (!o) return CLTRAIN_OK;
  b->keys[b->nkeys++] = (prebuild_key){file, source, o, KEY_WAITING};
  return CLTRAIN_OK;
}

/* One helper: builds waiting keys in its own context until none is left. A failed build is
 * left to the step, which builds the program again and reports the compiler's log. */
static void *prebuild_thread(void *arg) {
  cltrain_context *cx = arg;
  rt_prebuild *b = cx->prebuild;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cx->platform, 0};
  cl_int err;
  cl_context ctx = clCreateContext(props, 1, &cx->device, NULL, NULL, &err);
  pthread_mutex_lock(&b->lock);
  for (;;) {
    prebuild_key *k = NULL;
    for (int i = 0; i < b->nkeys && !k && !b->stop && err == CL_SUCCESS; i++)
      if (b->keys[i].state == KEY_WAITING) k = &b->keys[i];
    if (!k) break;
    k->state = KEY_BUILDING;
    const char *source = k->source;
    char full[1024];
    full_options(full, sizeof full, k->options);
    pthread_mutex_unlock(&b->lock);
    /* Objects of this thread's own, released here: not counted by rt_count_live. */
    cl_program p = clCreateProgramWithSource(ctx, 1, &source, NULL, &err);
    if (err == CL_SUCCESS) {
      clBuildProgram(p, 1, &cx->device, full, NULL, NULL);
      clReleaseProgram(p);
    }
    err = CL_SUCCESS;
    pthread_mutex_lock(&b->lock); /* keys[] grows only while recording, before any helper */
    k->state = KEY_DONE;
    b->built++;
    pthread_cond_broadcast(&b->changed);
  }
  pthread_mutex_unlock(&b->lock);
  if (ctx) clReleaseContext(ctx);
  return NULL;
}

/* Called by rt_build before it builds (source_name, options) itself. */
static void prebuild_claim(cltrain_context *cx, const char *source_name, const char *options) {
  rt_prebuild *b = cx->prebuild;
  if (!b || b->recording) return;
  pthread_mutex_lock(&b->lock);
  prebuild_key *k = find_key(b, source_name, options);
  if (k && k->state == KEY_WAITING) k->state = KEY_DONE; /* nobody started it: build it here */
  while (k && k->state == KEY_BUILDING) pthread_cond_wait(&b->changed, &b->lock);
  pthread_mutex_unlock(&b->lock);
}

/* Joins the helpers (those building finish their program; the rest is dropped) and frees. */
static void prebuild_stop(cltrain_context *cx) {
  rt_prebuild *b = cx->prebuild;
  if (!b) return;
  pthread_mutex_lock(&b->lock);
  b->stop = 1;
  pthread_mutex_unlock(&b->lock);
  for (int i = 0; i < b->nthreads; i++) pthread_join(b->threads[i], NULL);
  for (int i = 0; i < b->nkeys; i++) free(b->keys[i].options);
  free(b->keys);
  pthread_mutex_destroy(&b->lock);
  pthread_cond_destroy(&b->changed);
  free(b);
  cx->prebuild = NULL;
}

int rt_record_begin(cltrain_context *cx) {
  if (!prebuild_wanted(cx)) return 0;
  prebuild_stop(cx); /* an earlier round is done with or not needed any more */
  rt_prebuild *b = calloc(1, sizeof *b);
  if (!b) return 0;
  pthread_mutex_init(&b->lock, NULL);
  pthread_cond_init(&b->changed, NULL);
  b->recording = 1;
  b->queue = cx->queue;
  memcpy(b->last_error, cx->last_error, sizeof b->last_error);
  cx->queue = NULL;
  cx->prebuild = b;
  return 1;
}

void rt_record_end(cltrain_context *cx) {
  rt_prebuild *b = cx->prebuild;
  if (!b || !b->recording) return;
  cx->queue = b->queue;
  memcpy(cx->last_error, b->last_error, sizeof b->last_error); /* the walk's failures aren't news */
  b->recording = 0;
  /* The step itself keeps one core busy (CLBlast's build, or programs it reaches first). */
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int want = cores > 2 ? 2 : 1;
  if (want > b->nkeys) want = b->nkeys;
  for (int i = 0; i < want; i++)
    if (pthread_create(&b->threads[b->nthreads], NULL, prebuild_thread, cx) == 0) b->nthreads++;
}

void rt_prebuild_stats(const cltrain_context *cx, int *noted, unsigned long *built) {
  rt_prebuild *b = cx->prebuild;
  *noted = 0, *built = 0;
  if (!b) return;
  pthread_mutex_lock(&b->lock);
  *noted = b->nkeys, *built = b->built;
  pthread_mutex_unlock(&b->lock);
}
