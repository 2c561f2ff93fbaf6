/* gemm_native.c: SGEMM for CPU devices through OpenBLAS, run by the device's own queue as a
 * native kernel (clEnqueueNativeKernel): tensors stay cl_mem, ordering stays the queue's, and
 * the driver hands the callback the buffers' host addresses. OpenBLAS is loaded at run time, by
 * its own path, when the first context that can run it opens. */
#include <cblas.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/gemm_native.h"

/* The pthread build of OpenBLAS, by the path CMake found it at (its soname in that folder):
 * Debian's libblas.so.3 and libopenblas.so.0 are alternatives that may point at the reference
 * BLAS (30x slower) or the OpenMP build. $CLTRAIN_OPENBLAS names another file. */
#ifndef CLTRAIN_OPENBLAS_PATH
#define CLTRAIN_OPENBLAS_PATH "libopenblas.so.0"
#endif

/* After a GEMM, OpenBLAS's worker threads spin on sched_yield for 2^28 cycles (~0.1 s) before
 * they sleep, runnable through every PoCL kernel that follows and competing with PoCL's own
 * workers for the cores (16% of a batch-16 training step's CPU samples, docs/performance.md
 * section 12.1). OpenBLAS reads $OPENBLAS_THREAD_TIMEOUT (log2 of that spin, clamped to 4..30)
 * when it starts its threads: in its library constructor, and again when its thread pool is
 * shut down and started anew. OpenCV's core links libblas.so.3, which on Debian is usually this
 * same OpenBLAS, so it is loaded and its threads spin before main runs; cltrain therefore sets
 * the variable (unless the user set it) and restarts the pool. Section 15 measured it. */
static const char *const THREAD_TIMEOUT = "4";

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                         blasint, blasint, float, const float *, blasint, const float *, blasint,
                         float, float *, blasint);

static struct {
  sgemm_fn sgemm;
  void (*set_num_threads)(int);
  char *(*get_corename)(void);
  int (*thread_timeout)(void); /* what OpenBLAS read from the environment */
  char error[512];             /* why it could not be loaded, or "" */
} openblas;
static pthread_once_t openblas_once = PTHREAD_ONCE_INIT;

/* A symbol of lib as a function pointer (POSIX guarantees the conversion). */
static void (*symbol(void *lib, const char *name))(void) {
  void (*f)(void) = NULL;
  void *p = dlsym(lib, name);
  memcpy(&f, &p, sizeof f);
  return f;
}

/* Restarts OpenBLAS's thread pool with OPENBLAS_THREAD_TIMEOUT = THREAD_TIMEOUT unless the user
 * set it, through functions libopenblas exports (0.3.x) though cblas.h does not declare them:
 * openblas_read_env re-reads the environment, blas_thread_shutdown_ joins the pool's threads
 * and blas_thread_init starts them again with the new timeout. Without them nothing changes.
 * Runs once per process, when the first context that uses OpenBLAS opens: no cltrain GEMM can
 * be running then; a host thread inside OpenBLAS at that moment would not survive it. */
static void set_thread_timeout(void *lib) {
  void (*read_env)(void) = symbol(lib, "openblas_read_env");
  int (*shutdown)(void) = (int (*)(void))symbol(lib, "blas_thread_shutdown_");
  int (*init)(void) = (int (*)(void))symbol(lib, "blas_thread_init");
  if (getenv("OPENBLAS_THREAD_TIMEOUT") || !read_env || !shutdown || !init) return;
  setenv("OPENBLAS_THREAD_TIMEOUT", THREAD_TIMEOUT, 1);
  read_env();
  shutdown();
  init();
  unsetenv("OPENBLAS_THREAD_TIMEOUT");
}

/* Once per process. The environment is changed only inside set_thread_timeout, and restored;
 * a host that reads its environment from other threads meanwhile could see the extra variable. */
static void openblas_load(void) {
  const char *path = getenv("CLTRAIN_OPENBLAS");
  if (!path || !*path) path = CLTRAIN_OPENBLAS_PATH;
  /* Already loaded (through OpenCV, or by the host): the same library, its handle. */
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(openblas.error, sizeof openblas.error, "OpenBLAS could not be loaded from '%s': %s",
             path, dlerror());
    return;
  }
  /* The library stays loaded for the process: native kernels may still be queued anywhere. */
  openblas.sgemm = (sgemm_fn)symbol(lib, "cblas_sgemm");
  openblas.set_num_threads = (void (*)(int))symbol(lib, "openblas_set_num_threads");
  openblas.get_corename = (char *(*)(void))symbol(lib, "openblas_get_corename");
  openblas.thread_timeout = (int (*)(void))symbol(lib, "openblas_thread_timeout");
  if (!openblas.sgemm || !openblas.set_num_threads || !openblas.get_corename) {
    snprintf(openblas.error, sizeof openblas.error,
             "'%s' is not OpenBLAS: it lacks cblas_sgemm, openblas_set_num_threads or "
             "openblas_get_corename", path);
    return;
  }
  set_thread_timeout(lib);
}

const char *gemm_native_load_error(void) {
  pthread_once(&openblas_once, openblas_load);
  return openblas.error[0] ? openblas.error : NULL;
}

int gemm_native_thread_timeout(void) {
  if (gemm_native_load_error() || !openblas.thread_timeout) return -1;
  return openblas.thread_timeout();
}

int gemm_native_device_ok(const cltrain_context *cx) {
  cl_device_exec_capabilities caps = 0;
  if (clGetDeviceInfo(cx->device, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL) !=
      CL_SUCCESS)
    return 0;
  /* A native kernel runs on the host and reads buffers through host pointers: only a CPU
   * device shares that memory. */
  return (caps & CL_EXEC_NATIVE_KERNEL) && cx->info.type == CLTRAIN_DEVICE_CPU;
}

int gemm_native_possible(const cltrain_context *cx) {
  return gemm_native_device_ok(cx) && !gemm_native_load_error();
}

/* OpenBLAS splits a GEMM over M and N between its threads, never over K, so each element of C
 * is summed in the same order whatever the thread count; the count is still fixed here (one
 * thread per compute unit of the device, the cores PoCL's workers use) so that nothing about a
 * run depends on the environment's OPENBLAS_NUM_THREADS. While the native kernel runs, the
 * in-order queue gives PoCL's other workers nothing to do, so the two pools take turns on the
 * cores (OpenBLAS's workers sleep right after a GEMM: THREAD_TIMEOUT). */
void gemm_native_init(const cltrain_context *cx) {
  openblas.set_num_threads(cx->info.compute_units > 0 ? (int)cx->info.compute_units : 1);
}

const char *gemm_native_name(void) {
  static _Thread_local char name[96];
  snprintf(name, sizeof name, "OpenBLAS (%s kernels), native kernel", openblas.get_corename());
  return name;
}

/* A native task on the heap from enqueue to the last of its native kernels: the function to run,
 * its data (freed after it runs) and its buffers. mem[] receives the host address of each
 * distinct buffer among them (often one workspace); entry[i] is buffer i's entry in mem[]. */
typedef struct native_task {
  void *mem[GEMM_NATIVE_MAX_BUFS];
  int entry[GEMM_NATIVE_MAX_BUFS];
  size_t off[GEMM_NATIVE_MAX_BUFS]; /* in floats */
  int nbufs;
  gemm_native_fn fn;
  void *data;
} native_task;

/* A native kernel's argument block: which entry of t->mem its one buffer's address goes to, and
 * whether this is the task's last kernel, which runs it. clEnqueueNativeKernel copies the block
 * and replaces `mem` (the cl_mem when enqueued) with the buffer's host address.
 *
 * Each native kernel carries a single buffer because PoCL 3.1 hands a kernel's buffers to
 * args_mem_loc in its own order (sorted by object, not in mem_list's order: measured with three
 * buffers listed 0,3,2 arriving as 0,2,3), which put C's address where B's was expected. With
 * one buffer per kernel there is nothing to misorder; the addresses are the device's own
 * memory, which does not move on a CPU device, and the extra kernels cost microseconds. */
typedef struct native_arg {
  void *mem;
  native_task *t;
  int entry, last;
} native_arg;

static void CL_CALLBACK native_task_run(void *args) {
  const native_arg *arg = args;
  native_task *t = arg->t;
  t->mem[arg->entry] = arg->mem;
  if (!arg->last) return;
  float *ptr[GEMM_NATIVE_MAX_BUFS];
  for (int i = 0; i < t->nbufs; i++) ptr[i] = (float *)t->mem[t->entry[i]] + t->off[i];
  t->fn(t->data, ptr);
  free(t->data);
  free(t);
}

/* OpenBLAS's AVX-512 (SkylakeX/Cooperlake) kernels give a row of C a result that depends on
 * its position and on M, in the last bits: of 5 rows of a 5 x 3 x 512 product (the linear
 * head's shape) 3 differed from the same rows computed alone (its Haswell kernels: none). Where
 * rows are samples (the linear layer, m = batch), a sample's logits must not depend on the batch
 * it came in (test_cache gathers 2 of 5 cached rows and expects them bitwise), so small-m GEMMs
 * run one row per call. Convolutions (m = output channels, >= 64 in ResNets) are unaffected;
 * a linear layer fed batches above this size still gets batch-dependent last bits. */
enum { NATIVE_ROWWISE_MAX_M = 32 };

void gemm_native_sgemm_host(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            const float *a, size_t lda, const float *b, size_t ldb, float beta,
                            float *c, size_t ldc) {
  /* Rows one at a time when there are few of them; see NATIVE_ROWWISE_MAX_M. */
  size_t rows = m <= NATIVE_ROWWISE_MAX_M ? 1 : m;
  size_t a_row = trans_a ? 1 : lda; /* from one row of op(A) to the next */
  /* The inner dimension in equal chunks of at most GEMM_K_CHUNK, each added to C (blas.h). */
  size_t chunks = k > GEMM_K_CHUNK ? (k + GEMM_K_CHUNK - 1) / GEMM_K_CHUNK : 1;
  size_t step = (k + chunks - 1) / chunks;
  size_t a_col = trans_a ? lda : 1, b_row = trans_b ? 1 : ldb; /* k -> k+1 */
  for (size_t r = 0; r < m; r += rows) {
    size_t k0 = 0;
    do { /* once when k is 0 (C = beta * C) */
      size_t kk = k - k0 < step ? k - k0 : step;
      openblas.sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                     trans_b ? CblasTrans : CblasNoTrans, (blasint)rows, (blasint)n, (blasint)kk,
                     alpha, a + r * a_row + k0 * a_col, (blasint)lda, b + k0 * b_row, (blasint)ldb,
                     k0 ? 1.0f : beta, c + r * ldc, (blasint)ldc);
      k0 += step;
    } while (k0 < k);
  }
}

/* One GEMM's arguments (blas_sgemm_batched's; batch 0 is one plain GEMM). */
typedef struct native_gemm {
  size_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  int trans_a, trans_b;
  float alpha, beta;
} native_gemm;

static void native_gemm_run(void *data, float *const *ptr) {
  const native_gemm *g = data;
  size_t items = g->batch ? g->batch : 1;
  for (size_t i = 0; i < items; i++)
    gemm_native_sgemm_host(g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha,
                           ptr[0] + i * g->stride_a, g->lda, ptr[1] + i * g->stride_b, g->ldb,
                           g->beta, ptr[2] + i * g->stride_c, g->ldc);
}

/* CLTRAIN_OK when an operand of `rows` rows of `width` floats, ld apart, `items` of them stride
 * apart, lies inside x's buffer: a native kernel writing past it would corrupt host memory,
 * where CLBlast would have returned an error. */
static cltrain_status check_operand(cltrain_context *cx, const char *name, buf x, size_t rows,
                                    size_t width, size_t ld, size_t stride, size_t items) {
  if (!x.mem) return rt_fail(cx, CLTRAIN_ERR_ARG, "SGEMM: matrix %s is not a buffer", name);
  if (ld < (width ? width : 1))
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "SGEMM: matrix %s (%zu x %zu) has leading dimension %zu, less than its width",
                   name, rows, width, ld);
  size_t bytes = 0;
  CL_CHECK(cx, clGetMemObjectInfo(x.mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL));
  size_t end = rows && width ? x.off + (items - 1) * stride + (rows - 1) * ld + width : x.off;
  if (end > bytes / sizeof(float))
    return rt_fail(cx, CLTRAIN_ERR_ARG,
                   "SGEMM: matrix %s (%zu x %zu, ld %zu, %zu item(s)) at offset %zu needs %zu "
                   "floats, its buffer holds %zu",
                   name, rows, width, ld, items, x.off, end, bytes / sizeof(float));
  return CLTRAIN_OK;
}

/* A sub-buffer (the model's activations are ranges of one arena, model/plan.c) as its parent
 * and an offset: PoCL 3.1 does not hand a native kernel a sub-buffer's own address (through
 * sub-buffers, test_whole's logits were wrong on the native backend only, and right with this). */
static buf as_parent(buf x) {
  cl_mem parent = NULL;
  size_t origin = 0;
  if (clGetMemObjectInfo(x.mem, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL) == CL_SUCCESS && parent &&
      clGetMemObjectInfo(x.mem, CL_MEM_OFFSET, sizeof origin, &origin, NULL) == CL_SUCCESS)
    x.mem = parent, x.off += origin / sizeof(float);
  return x;
}

cltrain_status gemm_native_sgemm(cltrain_context *cx, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, float alpha, buf a, size_t lda, size_t stride_a, buf b,
                                 size_t ldb, size_t stride_b, float beta, buf c, size_t ldc,
                                 size_t stride_c, size_t batch) {
  size_t items = batch ? batch : 1;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "SGEMM: m=%zu n=%zu k=%zu exceed the BLAS's int sizes", m, n, k);
  TRY(check_operand(cx, "A", a, trans_a ? k : m, trans_a ? m : k, lda, stride_a, items));
  TRY(check_operand(cx, "B", b, trans_b ? n : k, trans_b ? k : n, ldb, stride_b, items));
  TRY(check_operand(cx, "C", c, m, n, ldc, stride_c, items));
  native_gemm *g = malloc(sizeof *g);
  if (!g) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "SGEMM: out of host memory");
  *g = (native_gemm){m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch,
                     trans_a, trans_b, alpha, beta};
  const buf bufs[3] = {a, b, c};
  return gemm_native_enqueue(cx, bufs, 3, native_gemm_run, g);
}

cltrain_status gemm_native_enqueue(cltrain_context *cx, const buf *bufs, int nbufs,
                                   gemm_native_fn fn, void *data) {
  if (nbufs < 1 || nbufs > GEMM_NATIVE_MAX_BUFS) {
    free(data);
    return rt_fail(cx, CLTRAIN_ERR_ARG, "native kernel: %d buffers, expected 1 to %d", nbufs,
                   GEMM_NATIVE_MAX_BUFS);
  }
  native_task *t = calloc(1, sizeof *t);
  if (!t) {
    free(data);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "native kernel: out of host memory");
  }
  t->nbufs = nbufs, t->fn = fn, t->data = data;
  cl_mem mems[GEMM_NATIVE_MAX_BUFS];
  int nmem = 0;
  for (int i = 0; i < nbufs; i++) {
    buf x = as_parent(bufs[i]);
    int j = 0;
    while (j < nmem && mems[j] != x.mem) j++;
    if (j == nmem) mems[nmem++] = x.mem;
    t->entry[i] = j, t->off[i] = x.off;
  }
  for (int j = 0; j < nmem; j++) {
    native_arg arg = {NULL, t, j, j == nmem - 1};
    const void *loc = &arg.mem;
    cl_int err = clEnqueueNativeKernel(cx->queue, native_task_run, &arg, sizeof arg, 1, &mems[j],
                                       &loc, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
      clFinish(cx->queue); /* the kernels already enqueued write into t */
      free(t->data);
      free(t);
      return rt_cl_fail(cx, err, "clEnqueueNativeKernel", __FILE__, __LINE__);
    }
  }
  return CLTRAIN_OK;
}
