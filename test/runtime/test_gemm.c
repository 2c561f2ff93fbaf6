/* test_gemm.c: SGEMM through the CLBlast wrapper against a double CPU product, at shapes that
 * are not multiples of the tile sizes, with transposes and non-zero offsets; and its errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
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

int main(void) {
  cltrain_context *cx = test_context();
  printf("CLBlast tuning on this device: %s\n", blas_tuning_name(cx) ? blas_tuning_name(cx) : "defaults");
  one(cx, 0, 0, 64, 64, 64, 0, 0.0f);
  one(cx, 0, 0, 37, 129, 61, 5, 0.0f);  /* no tile multiple anywhere, offsets */
  one(cx, 0, 0, 1, 1, 1, 1, 1.0f);
  one(cx, 1, 0, 33, 70, 45, 7, 0.5f);   /* transposed A (weight-gradient layout) */
  one(cx, 0, 1, 66, 17, 100, 3, 1.0f);  /* transposed B (linear layer layout), accumulate */
  one(cx, 1, 1, 19, 23, 29, 0, 0.0f);
  one(cx, 0, 0, 64, 3136, 576, 11, 0.0f); /* ResNet layer1 conv, one image */

  /* Strided-batched. */
  {
    int m = 9, n = 13, k = 7, batch = 3;
    float a[3 * 9 * 7], b[3 * 7 * 13];
    double ref[9 * 13];
    float zero[9 * 13] = {0};
    fill_uniform(a, sizeof a / 4, 5, -1, 1);
    fill_uniform(b, sizeof b / 4, 6, -1, 1);
    buf da = test_upload(cx, a, sizeof a / 4), db = test_upload(cx, b, sizeof b / 4),
        dc = test_upload(cx, NULL, (size_t)batch * m * n);
    CHECK_OK(blas_sgemm_batched(cx, 0, 0, m, n, k, 1.0f, da, k, m * k, db, n, k * n, 0.0f, dc, n,
                                m * n, batch));
    float *got = test_download(cx, dc, (size_t)batch * m * n);
    for (int i = 0; i < batch; i++) {
      ref_gemm(0, 0, m, n, k, 1.0f, a + i * m * k, k, b + i * k * n, n, 0.0f, zero, ref, n);
      double e = rel_l2_f64(got + i * m * n, ref, (size_t)m * n);
      CHECK(e <= 1e-6, "batched gemm item %d: rel L2 %.2e > 1e-6", i, e);
    }
    free(got);
    rt_free(da.mem), rt_free(db.mem), rt_free(dc.mem);
  }

  /* A CLBlast failure becomes CLTRAIN_ERR_CLBLAST with CLBlast's code in the message. */
  buf small = test_upload(cx, NULL, 4);
  CHECK_STATUS(blas_sgemm(cx, 0, 0, 4, 4, 4, 1.0f, small, 4, small, 4, 0.0f, small, 4), CLTRAIN_ERR_CLBLAST);
  CHECK(strstr(cltrain_last_error(cx), "-1011") != NULL && strstr(cltrain_last_error(cx), "SGEMM") != NULL,
        "message carries CLBlast's status (-1011, matrix A too small): %s", cltrain_last_error(cx));
  CHECK_STATUS(blas_sgemm(cx, 0, 0, 4, 4, 4, 1.0f, small, 2, small, 4, 0.0f, small, 4), CLTRAIN_ERR_CLBLAST);
  rt_free(small.mem);
  cltrain_context_destroy(cx);
  return check_done();
}
