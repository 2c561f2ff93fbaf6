/* gemm_native.h: SGEMM on a CPU device through the host's OpenBLAS, enqueued as an OpenCL native
 * kernel on the context's in-order queue (blas.c chooses it per device). */
#ifndef CLTRAIN_GEMM_NATIVE_H
#define CLTRAIN_GEMM_NATIVE_H

#include "runtime/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when cx's device runs native kernels (CL_EXEC_NATIVE_KERNEL) on the host's memory. */
int gemm_native_device_ok(const cltrain_context *cx);

/* Loads OpenBLAS once per process (by CMake's path, or $CLTRAIN_OPENBLAS) and restarts its
 * threads with a short spin (OPENBLAS_THREAD_TIMEOUT, unless the user set it; gemm_native.c):
 * NULL when it is there, else why not, naming the file. */
const char *gemm_native_load_error(void);

/* 1 when cx's device runs native kernels and OpenBLAS is loaded. */
int gemm_native_possible(const cltrain_context *cx);

/* The OPENBLAS_THREAD_TIMEOUT OpenBLAS's constructor read (0: unset, its default spin), or -1
 * when OpenBLAS is not loaded or does not say. */
int gemm_native_thread_timeout(void);

/* Fixes OpenBLAS's thread count for cx's device (process-wide; see gemm_native.c). */
void gemm_native_init(const cltrain_context *cx);

/* "OpenBLAS 0.3.21 ... (Haswell kernels)": the library and the kernels it picked. */
const char *gemm_native_name(void);

/* blas_sgemm_batched's contract (batch 0: one plain SGEMM), as one native kernel. The operands'
 * extents are checked against their buffers first: a bad one is CLTRAIN_ERR_ARG naming it. */
cltrain_status gemm_native_sgemm(cltrain_context *cx, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, float alpha, buf a, size_t lda, size_t stride_a, buf b,
                                 size_t ldb, size_t stride_b, float beta, buf c, size_t ldc,
                                 size_t stride_c, size_t batch);

/* The most buffers one native task reads or writes. */
enum { GEMM_NATIVE_MAX_BUFS = 4 };

/* A task run on the host by a native kernel: ptr[i] is the host address of bufs[i] (at its
 * offset), data what gemm_native_enqueue was given. */
typedef void (*gemm_native_fn)(void *data, float *const *ptr);

/* Enqueues fn on cx's queue as native kernel(s) over nbufs (1..GEMM_NATIVE_MAX_BUFS) buffers,
 * sub-buffers included. data (malloc'd) belongs to the task from here on, failure included:
 * it is freed once fn has run. */
cltrain_status gemm_native_enqueue(cltrain_context *cx, const buf *bufs, int nbufs,
                                   gemm_native_fn fn, void *data);

/* One row-major SGEMM on host arrays through OpenBLAS, with blas_sgemm's accuracy (the inner
 * dimension in chunks of GEMM_K_CHUNK): for native tasks only, on the host thread running one. */
void gemm_native_sgemm_host(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                            const float *a, size_t lda, const float *b, size_t ldb, float beta,
                            float *c, size_t ldc);

#ifdef __cplusplus
}
#endif
#endif
