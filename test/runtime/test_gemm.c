/* test_gemm.c: SGEMM through the GEMM wrapper (whichever backend $CLTRAIN_GEMM gives: ctest runs
 * it with both) against a double CPU product, at shapes that are not multiples of the tile
 * sizes, with transposes and non-zero offsets; and its errors, the backend choice's among them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/gemm_native.h"
#include "check.h"

static void ref_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                     const float *b, int ldb, float beta, const float *c0, double *c, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++)
        s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * n + j] = alpha * s + beta * (double)c0[i * ldc + j];
    }
}

static void one(cltrain_context *cx, int ta, int tb, int m, int n, int k, size_t off, float beta) {
  int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2; /* padded leading dims */
  size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb, nc = (size_t)m * ldc;
  float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4);
  double *ref = malloc(sizeof(double) * m * n);
  fill_uniform(a, na, 10 + m, -1, 1);
  fill_uniform(b, nb, 20 + n, -1, 1);
  fill_uniform(c, nc, 30 + k, -1, 1);
  buf da = test_upload(cx, NULL, na + off), db = test_upload(cx, NULL, nb + 2 * off),
      dc = test_upload(cx, NULL, nc + 3 * off);
  rt_write(cx, buf_at(da, off), a, na * 4);
  rt_write(cx, buf_at(db, 2 * off), b, nb * 4);
  rt_write(cx, buf_at(dc, 3 * off), c, nc * 4);
  float alpha = 0.75f;
  ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ref, ldc);
  CHECK_OK(blas_sgemm(cx, ta, tb, m, n, k, alpha, buf_at(da, off), lda, buf_at(db, 2 * off), ldb,
                      beta, buf_at(dc, 3 * off), ldc));
  float *got = test_download(cx, buf_at(dc, 3 * off), nc);
  float *packed = malloc(sizeof(float) * m * n);
  for (int i = 0; i < m; i++) memcpy(packed + i * n, got + i * ldc, sizeof(float) * n);
  double e = rel_l2_f64(packed, ref, (size_t)m * n);
  /* float32 products summed over k <= 600 terms: about 1e-7 relative L2; 1e-6 is a tight bound
   * that still allows any summation order, and catches a wrong offset or layout (error ~1). */
  printf("  sgemm ta=%d tb=%d %4dx%4dx%4d off=%zu beta=%.1f  rel L2 %.2e\n", ta, tb, m, n, k, off, beta, e);
  CHECK(e <= 1e-6, "sgemm %dx%dx%d ta=%d tb=%d: rel L2 %.2e > 1e-6", m, n, k, ta, tb, e);
  /* The padding columns of C must not be touched. */
  int pad_ok = 1;
  for (int i = 0; i < m; i++)
    for (int j = n; j < ldc; j++) pad_ok &= got[i * ldc + j] == c[i * ldc + j];
  CHECK(pad_ok, "sgemm leaves C's padding columns alone");
  free(a), free(b), free(c), free(ref), free(got), free(packed);
  rt_free(da.mem), rt_free(db.mem), rt_free(dc.mem);
}

/* `batch` GEMMs C_i (m,n) = A_i (m,k) x B_i (k,n): A_i is columns [i*k, i*k + k) of one
 * (m, batch*k + extra) matrix (lda past k when extra > 0, as for slices of a long product),
 * B_i (rows ldb apart), C_i packed one after another; every operand starts `off` floats into
 * its buffer. */
static void batched_ldb(cltrain_context *cx, int m, int n, int k, int extra, size_t off, int batch,
                        size_t ldb) {
  size_t lda = extra ? (size_t)batch * k + extra : (size_t)k, stride_a = extra ? (size_t)k : (size_t)m * k;
  size_t na = extra ? m * lda : (size_t)batch * m * k, nb = (size_t)batch * k * ldb, nc = (size_t)batch * m * n;
  float *a = malloc(na * 4), *b = malloc(nb * 4), *zero = calloc((size_t)m * n, 4);
  double *ref = malloc(sizeof(double) * m * n);
  fill_uniform(a, na, 5 + m, -1, 1);
  fill_uniform(b, nb, 6 + n, -1, 1);
  buf da = test_upload(cx, NULL, na + off), db = test_upload(cx, NULL, nb + off),
      dc = test_upload(cx, NULL, nc + off);
  rt_write(cx, buf_at(da, off), a, na * 4);
  rt_write(cx, buf_at(db, off), b, nb * 4);
  CHECK_OK(blas_sgemm_batched(cx, 0, 0, m, n, k, 1.0f, buf_at(da, off), lda, stride_a,
                              buf_at(db, off), ldb, (size_t)k * ldb, 0.0f, buf_at(dc, off), n,
                              (size_t)m * n, batch));
  float *got = test_download(cx, buf_at(dc, off), nc);
  for (int i = 0; i < batch; i++) {
    ref_gemm(0, 0, m, n, k, 1.0f, a + i * stride_a, (int)lda, b + (size_t)i * k * ldb, (int)ldb,
             0.0f, zero, ref, n);
    double e = rel_l2_f64(got + (size_t)i * m * n, ref, (size_t)m * n);
    /* as for sgemm above: float32 sums of k <= 300 terms */
    CHECK(e <= 1e-6, "batched %dx%dx%d lda %zu off %zu item %d: rel L2 %.2e > 1e-6", m, n, k, lda,
          off, i, e);
  }
  free(a), free(b), free(zero), free(ref), free(got);
  rt_free(da.mem), rt_free(db.mem), rt_free(dc.mem);
}

static void batched(cltrain_context *cx, int m, int n, int k, int extra, size_t off, int batch) {
  batched_ldb(cx, m, n, k, extra, off, batch, (size_t)n);
}

int main(void) {
  cltrain_context *cx = test_context();
  printf("GEMM backend: %s; CLBlast tuning on this device: %s\n", blas_backend_name(cx),
         blas_tuning_name(cx) ? blas_tuning_name(cx) : "defaults or unused");
  const char *lib = getenv("CLTRAIN_OPENBLAS");
  if (cx->gemm_native) {
    /* cltrain restarted OpenBLAS's threads with OPENBLAS_THREAD_TIMEOUT set (unless the
     * environment set it), and left the environment as it found it. */
    int timeout = gemm_native_thread_timeout();
    printf("OpenBLAS thread timeout: %d; OPENBLAS_THREAD_TIMEOUT %s\n", timeout,
           getenv("OPENBLAS_THREAD_TIMEOUT") ? getenv("OPENBLAS_THREAD_TIMEOUT") : "unset");
    if (!getenv("OPENBLAS_THREAD_TIMEOUT"))
      CHECK(timeout == 4, "OpenBLAS read the thread timeout cltrain set: %d", timeout);
  } else if (lib && *lib && gemm_native_device_ok(cx) && !getenv("CLTRAIN_GEMM")) {
    /* $CLTRAIN_OPENBLAS names a file that is not there (ctest's test_gemm_no_openblas): auto
     * falls back to CLBlast and says why, naming the file. */
    CHECK(gemm_native_load_error() && strstr(gemm_native_load_error(), lib),
          "the load error names the file: %s", gemm_native_load_error());
    CHECK(strstr(blas_backend_name(cx), "CLBlast (OpenBLAS could not be loaded") != NULL,
          "the backend's name says why it is CLBlast: %s", blas_backend_name(cx));
  }
  one(cx, 0, 0, 64, 64, 64, 0, 0.0f);
  one(cx, 0, 0, 37, 129, 61, 5, 0.0f);  /* no tile multiple anywhere, offsets */
  one(cx, 0, 0, 1, 1, 1, 1, 1.0f);
  one(cx, 1, 0, 33, 70, 45, 7, 0.5f);   /* transposed A (weight-gradient layout) */
  one(cx, 0, 1, 66, 17, 100, 3, 1.0f);  /* transposed B (linear layer layout), accumulate */
  one(cx, 1, 1, 19, 23, 29, 0, 0.0f);
  one(cx, 0, 0, 64, 3136, 576, 11, 0.0f); /* ResNet layer1 conv, one image */

  /* Strided-batched: packed operands; operands that are slices of wider matrices at an
   * offset (the weight gradient's partial products), at tile multiples and not; an inner
   * dimension past the 256-term chunking. */
  batched(cx, 9, 13, 7, 0, 0, 3);
  batched(cx, 64, 128, 32, 40, 96, 3);
  batched(cx, 64, 128, 32, 0, 96, 3);
  batched(cx, 64, 128, 32, 40, 0, 3);
  batched(cx, 37, 70, 45, 13, 5, 2);
  batched(cx, 16, 24, 300, 0, 7, 2);
  /* Tile multiples at an offset, B's rows blas_batched_ld() apart: one CLBlast call. */
  batched_ldb(cx, 64, 128, 32, 0, 96, 3, blas_batched_ld(128));

  buf small = test_upload(cx, NULL, 4);
  if (cx->gemm_native) {
    /* The native kernel would read and write host memory past a too-small buffer, so operands
     * are checked before it is enqueued, each error naming the operand. */
    CHECK_STATUS(blas_sgemm(cx, 0, 0, 4, 4, 4, 1.0f, small, 4, small, 4, 0.0f, small, 4), CLTRAIN_ERR_ARG);
    CHECK(strstr(cltrain_last_error(cx), "matrix A") && strstr(cltrain_last_error(cx), "holds 4"),
          "message names the operand and its buffer's size: %s", cltrain_last_error(cx));
    CHECK_STATUS(blas_sgemm(cx, 0, 0, 1, 1, 4, 1.0f, small, 2, small, 1, 0.0f, small, 1), CLTRAIN_ERR_ARG);
    CHECK(strstr(cltrain_last_error(cx), "leading dimension 2") != NULL, "lda < k: %s", cltrain_last_error(cx));
    CHECK_STATUS(blas_sgemm_batched(cx, 0, 0, 1, 1, 1, 1.0f, small, 1, 1, small, 1, 1, 0.0f,
                                    small, 1, 2, 3), CLTRAIN_ERR_ARG);
    CHECK(strstr(cltrain_last_error(cx), "matrix C") != NULL, "C's last item past the end: %s",
          cltrain_last_error(cx));
  } else {
    /* A CLBlast failure becomes CLTRAIN_ERR_CLBLAST with CLBlast's code in the message. */
    CHECK_STATUS(blas_sgemm(cx, 0, 0, 4, 4, 4, 1.0f, small, 4, small, 4, 0.0f, small, 4), CLTRAIN_ERR_CLBLAST);
    CHECK(strstr(cltrain_last_error(cx), "-1011") != NULL && strstr(cltrain_last_error(cx), "SGEMM") != NULL,
          "message carries CLBlast's status (-1011, matrix A too small): %s", cltrain_last_error(cx));
    CHECK_STATUS(blas_sgemm(cx, 0, 0, 4, 4, 4, 1.0f, small, 2, small, 4, 0.0f, small, 4), CLTRAIN_ERR_CLBLAST);
  }
  rt_free(small.mem);

  /* Closing another context clears CLBlast's process-wide cache, tuning included: a CLBlast
   * context applies its tuning again before its next GEMM (blas.c), and still computes right. */
  unsigned gen = cx->blas_generation;
  cltrain_context_destroy(test_context());
  one(cx, 0, 0, 37, 129, 61, 5, 0.0f);
  if (!cx->gemm_native)
    CHECK(cx->blas_generation != gen, "tuning re-applied after another context closed (generation %u, was %u)",
          cx->blas_generation, gen);

  /* $CLTRAIN_GEMM: a bad value, and native where the device cannot run it, fail naming the
   * value or the device; clblast and auto always open. */
  const char *saved = getenv("CLTRAIN_GEMM");
  char *keep = saved ? strdup(saved) : NULL;
  cltrain_context *other = NULL;
  char sel[32]; /* cx's own device */
  snprintf(sel, sizeof sel, "%d:%d", cx->info.platform_index, cx->info.device_index);
  setenv("CLTRAIN_GEMM", "fast", 1);
  CHECK_STATUS(cltrain_context_create(sel, &other), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(NULL), "'fast'") != NULL, "bad value named: %s", cltrain_last_error(NULL));
  setenv("CLTRAIN_GEMM", "native", 1);
  cltrain_status st = cltrain_context_create(sel, &other);
  if (gemm_native_possible(cx)) {
    CHECK(st == CLTRAIN_OK && other->gemm_native, "CLTRAIN_GEMM=native opens on '%s'", cx->info.name);
  } else {
    CHECK(st == CLTRAIN_ERR_UNSUPPORTED && strstr(cltrain_last_error(NULL), cx->info.name),
          "CLTRAIN_GEMM=native on a device without native kernels names it: %s", cltrain_last_error(NULL));
    if (gemm_native_device_ok(cx))
      CHECK(strstr(cltrain_last_error(NULL), "OpenBLAS could not be loaded") &&
                strstr(cltrain_last_error(NULL), lib ? lib : ""),
            "CLTRAIN_GEMM=native without OpenBLAS names the file: %s", cltrain_last_error(NULL));
  }
  cltrain_context_destroy(other), other = NULL;
  setenv("CLTRAIN_GEMM", "clblast", 1);
  CHECK_OK(cltrain_context_create(sel, &other));
  CHECK(other && !other->gemm_native, "CLTRAIN_GEMM=clblast runs CLBlast");
  cltrain_context_destroy(other);
  if (keep) setenv("CLTRAIN_GEMM", keep, 1), free(keep);
  else unsetenv("CLTRAIN_GEMM");
  cltrain_context_destroy(cx);
  return check_done();
}
