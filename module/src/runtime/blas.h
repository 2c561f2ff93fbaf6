/* blas.h: the one GEMM wrapper: row-major SGEMM on (buffer, offset) operands, run by OpenBLAS as
 * a native kernel on CPU devices that allow it and by CLBlast elsewhere ($CLTRAIN_GEMM), and the
 * per-device table of tuned CLBlast Xgemm parameters applied when a context opens. */
#ifndef CLTRAIN_BLAS_H
#define CLTRAIN_BLAS_H

#include "runtime/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Summing K products in one float32 accumulator loses accuracy as K grows (relative error
 * ~ sqrt(K) eps): at ResNet's K = 2304..4608 a conv came out 4x less accurate than PyTorch's
 * (8e-7 against 2e-7), enough to flip ReLUs near zero in deep networks. So long sums run in
 * chunks of at most GEMM_K_CHUNK terms, each chunk's partial sum added to C (beta = 1): the
 * error then stays at PyTorch's level for a few extra passes over C. Both backends do this:
 * OpenBLAS's own K blocking alone measured 3.3e-7 against CLBlast-chunked 3.0e-7 on one
 * 512x784x4608 GEMM, yet trained upto:layer3 for 4 steps 3.4x further from float64 than
 * PyTorch-float32 did (test_train's bound is 3x), where chunked it stays within. */
#define GEMM_K_CHUNK 256

/* Chooses cx's GEMM backend: $CLTRAIN_GEMM = auto (or unset: native where the device runs
 * native kernels, else CLBlast), native (CLTRAIN_ERR_UNSUPPORTED naming the device where it
 * cannot run) or clblast. For CLBlast, applies the override table entry for cx's device, if
 * there is one and $CLTRAIN_GEMM_TUNING is not "0" (CLBlast keys that state by device). */
cltrain_status blas_init(cltrain_context *cx);

/* Clears CLBlast's process-wide cache (its programs hold their context alive), on context
 * destroy; other contexts re-apply their tuning before their next GEMM. */
void blas_release(void);

/* "CLBlast", or the native backend's name with the kernels OpenBLAS picked. */
const char *blas_backend_name(const cltrain_context *cx);

/* 1 when a GEMM's operand layout costs nothing: on the native backend, where OpenBLAS packs
 * both operands into its own panels whatever their layout and transposition, and a call (or a
 * batch item) costs microseconds. 0 on CLBlast, which on PoCL ran GEMMs with a transposed
 * operand twice as slow (a padded, transposed copy per call) and pays launches per call.
 * Callers with a choice of layout use it to skip a transposing or regrouping kernel. */
int blas_layout_free(const cltrain_context *cx);

/* Name of the tuning entry applied to this device, or NULL for CLBlast's defaults. */
const char *blas_tuning_name(const cltrain_context *cx);

/* C(m,n) = alpha * op(A) * op(B) + beta * C, all row-major. op(A) is (m,k): A is (m,k) with
 * leading dimension lda, or (k,m) when trans_a. op(B) is (k,n): B is (k,n), or (n,k) when
 * trans_b. Enqueued on cx's queue; nothing is waited for. */
cltrain_status blas_sgemm(cltrain_context *cx, int trans_a, int trans_b, size_t m, size_t n,
                          size_t k, float alpha, buf a, size_t lda, buf b, size_t ldb, float beta,
                          buf c, size_t ldc);

/* `batch` independent SGEMMs whose operands are `stride_*` elements apart, the inner dimension
 * in chunks like blas_sgemm's. An operand at an offset, or strided, whose leading dimension
 * equals its width would hit a CLBlast 1.5.3 bug (see blas.c) and runs as one SGEMM per item
 * instead; give such operands the leading dimension blas_batched_ld(width) to keep one call. */
cltrain_status blas_sgemm_batched(cltrain_context *cx, int trans_a, int trans_b, size_t m,
                                  size_t n, size_t k, float alpha, buf a, size_t lda,
                                  size_t stride_a, buf b, size_t ldb, size_t stride_b, float beta,
                                  buf c, size_t ldc, size_t stride_c, size_t batch);

/* A leading dimension for a row of `width` floats that keeps blas_sgemm_batched in one call. */
size_t blas_batched_ld(size_t width);

#ifdef __cplusplus
}
#endif
#endif
