/* blas.c: the one GEMM wrapper. CPU devices that run native kernels get OpenBLAS
 * (gemm_native.c); other devices, or CLTRAIN_GEMM=clblast, get CLBlast with a per-device table
 * of Xgemm overrides. */
#include <clblast_c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blas.h"
#include "runtime/gemm_native.h"

/* Tuned Xgemm parameters for devices CLBlast's own database does not know well. The PoCL entry
 * is the best of a 20-point sweep on a 2-core AMD EPYC Zen4 (shared/docs/environment.md): it
 * lifts SGEMM from about 20 to 45-127 GFLOP/s. Local memory (SA/SB=1) hurts on PoCL, where it
 * is emulated in global memory. */
static const char *const xgemm_names[] = {"GEMMK", "KREG", "KWG",  "KWI",  "MDIMA", "MDIMC",
                                          "MWG",   "NDIMB", "NDIMC", "NWG", "SA",    "SB",
                                          "STRM",  "STRN", "VWM",  "VWN"};
enum { XGEMM_NPARAMS = sizeof xgemm_names / sizeof xgemm_names[0] };

typedef struct gemm_tuning {
  const char *name;
  const char *platform_substr; /* matched against the platform name */
  cltrain_device_type type;
  size_t values[XGEMM_NPARAMS];
} gemm_tuning;

static const gemm_tuning tunings[] = {
    {"pocl-cpu", "Portable Computing Language", CLTRAIN_DEVICE_CPU,
     /* GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN */
     {0, 1, 16, 2, 4, 4, 64, 4, 4, 64, 0, 0, 0, 0, 8, 8}},
};

#ifndef XGEMM_MIN_INDIRECT_SIZE
#define XGEMM_MIN_INDIRECT_SIZE 64
#endif

static const gemm_tuning *tuning_for(const cltrain_context *cx) {
  for (size_t i = 0; i < sizeof tunings / sizeof tunings[0]; i++)
    if (cx->info.type == tunings[i].type && strstr(cx->info.platform, tunings[i].platform_substr))
      return &tunings[i];
  return NULL;
}

static int tuning_enabled(void) {
  const char *e = getenv("CLTRAIN_GEMM_TUNING");
  return !(e && !strcmp(e, "0"));
}

const char *blas_tuning_name(const cltrain_context *cx) {
  if (cx->gemm_native) return NULL;
  const gemm_tuning *t = tuning_enabled() ? tuning_for(cx) : NULL;
  return t ? t->name : NULL;
}

static cltrain_status clblast_fail(cltrain_context *cx, CLBlastStatusCode code, const char *what) {
  if (code == CLBlastOpenCLOutOfHostMemory || code == CLBlastOpenCLOutOfResources ||
      code == CLBlastTempBufferAllocFailure || code == CLBlastInsufficientMemoryTemp)
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "CLBlast %s: error %d (out of memory) on device '%s'",
                   what, (int)code, cx->info.name);
  /* CLBlast reuses OpenCL's codes for OpenCL errors, so name those. */
  const char *name = code > -1000 ? rt_cl_error_name((cl_int)code) : "CLBlast-specific, see clblast_c.h";
  return rt_fail(cx, CLTRAIN_ERR_CLBLAST, "CLBlast %s failed with CLBlast status %d (%s) on device '%s'",
                 what, (int)code, name, cx->info.name);
}

/* CLBlast keeps its tuning overrides in the same process-wide cache as its compiled programs,
 * and blas_release clears that cache when a context closes. Each clear starts a new generation;
 * a context whose overrides are from an older one applies them again before its next GEMM, so
 * closing one context never leaves another running CLBlast's untuned defaults. */
static atomic_uint blas_generation = 1;

void blas_release(void) {
  CLBlastClearCache();
  atomic_fetch_add(&blas_generation, 1);
}

/* The backend $CLTRAIN_GEMM asks for on cx's device: auto (or unset) picks the native one
 * wherever the device can run it and OpenBLAS loads. OpenBLAS is not loaded for clblast. */
static cltrain_status choose_backend(cltrain_context *cx) {
  const char *e = getenv("CLTRAIN_GEMM");
  int want_native = !e || !*e || !strcmp(e, "auto") || !strcmp(e, "native");
  if (want_native) {
    int device_ok = gemm_native_device_ok(cx);
    const char *load_error = device_ok ? gemm_native_load_error() : NULL;
    cx->gemm_native = device_ok && !load_error;
    if (cx->gemm_native || strcmp(e ? e : "", "native")) return CLTRAIN_OK;
    if (load_error)
      return rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED,
                     "CLTRAIN_GEMM=native on device '%s': %s (Debian's libopenblas0-pthread); "
                     "use CLTRAIN_GEMM=clblast or auto", cx->info.name, load_error);
    return rt_fail(cx, CLTRAIN_ERR_UNSUPPORTED,
                   "CLTRAIN_GEMM=native: device '%s' (%s) cannot run it: native kernels need a "
                   "CPU device with CL_EXEC_NATIVE_KERNEL; use CLTRAIN_GEMM=clblast or auto",
                   cx->info.name, cx->info.platform);
  }
  if (strcmp(e, "clblast"))
    return rt_fail(cx, CLTRAIN_ERR_ARG, "CLTRAIN_GEMM='%s': expected clblast, native or auto", e);
  cx->gemm_native = 0;
  return CLTRAIN_OK;
}

int blas_layout_free(const cltrain_context *cx) { return cx->gemm_native; }

const char *blas_backend_name(const cltrain_context *cx) {
  if (cx->gemm_native) return gemm_native_name();
  /* auto on a device that could run OpenBLAS but could not load it: say why it is CLBlast
   * (the library prints nothing itself; `cltrain devices` and `bench` print this). */
  const char *e = getenv("CLTRAIN_GEMM");
  int was_auto = !e || !*e || !strcmp(e, "auto");
  if (was_auto && gemm_native_device_ok(cx) && gemm_native_load_error()) {
    static _Thread_local char name[600];
    snprintf(name, sizeof name, "CLBlast (%s)", gemm_native_load_error());
    return name;
  }
  return "CLBlast";
}

cltrain_status blas_init(cltrain_context *cx) {
  cx->blas_generation = atomic_load(&blas_generation);
  TRY(choose_backend(cx));
  if (cx->gemm_native) {
    gemm_native_init(cx);
    return CLTRAIN_OK; /* CLBlast never runs on this context: no tuning to apply */
  }
  const gemm_tuning *t = tuning_for(cx);
  if (!t || !tuning_enabled()) return CLTRAIN_OK;
  const char *names[XGEMM_NPARAMS];
  memcpy(names, xgemm_names, sizeof names);
  CLBlastStatusCode s = CLBlastOverrideParameters(cx->device, "Xgemm", CLBlastPrecisionSingle,
                                                  XGEMM_NPARAMS, names, t->values);
  if (s != CLBlastSuccess) return clblast_fail(cx, s, "OverrideParameters(Xgemm)");
  /* Below m*n*k = XGEMM_MIN_INDIRECT_SIZE^3 CLBlast runs its untuned XgemmDirect kernel, which
   * ran at 3-7 GFLOP/s on PoCL for one-image conv GEMMs (64x3136x576: 71 ms, against 29 ms for
   * a problem 8x larger through the tuned Xgemm). Send everything but tiny GEMMs to Xgemm. */
  const char *routine_names[1] = {"XGEMM_MIN_INDIRECT_SIZE"};
  size_t routine_values[1] = {XGEMM_MIN_INDIRECT_SIZE};
  s = CLBlastOverrideParameters(cx->device, "GemmRoutine", CLBlastPrecisionSingle, 1, routine_names,
                                routine_values);
  if (s != CLBlastSuccess) return clblast_fail(cx, s, "OverrideParameters(GemmRoutine)");
  return CLTRAIN_OK;
}

static CLBlastTranspose tr(int t) { return t ? CLBlastTransposeYes : CLBlastTransposeNo; }


/* One CLBlast call: a plain SGEMM when batch is 0, else `batch` of them stride_* apart. */
static cltrain_status sgemm_once(cltrain_context *cx, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, float alpha, buf a, size_t lda, size_t stride_a, buf b,
                                 size_t ldb, size_t stride_b, float beta, buf c, size_t ldc,
                                 size_t stride_c, size_t batch) {
  CLBlastStatusCode s =
      batch ? CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, tr(trans_a), tr(trans_b), m, n, k,
                                         alpha, a.mem, a.off, lda, stride_a, b.mem, b.off, ldb,
                                         stride_b, beta, c.mem, c.off, ldc, stride_c, batch,
                                         &cx->queue, NULL)
            : CLBlastSgemm(CLBlastLayoutRowMajor, tr(trans_a), tr(trans_b), m, n, k, alpha, a.mem,
                           a.off, lda, b.mem, b.off, ldb, beta, c.mem, c.off, ldc, &cx->queue, NULL);
  if (s != CLBlastSuccess) {
    char what[160];
    snprintf(what, sizeof what, "SGEMM%s(m=%zu n=%zu k=%zu ta=%d tb=%d batch=%zu)",
             batch ? " batched" : "", m, n, k, trans_a, trans_b, batch);
    return clblast_fail(cx, s, what);
  }
  return CLTRAIN_OK;
}

/* sgemm_once over the inner dimension in equal chunks of at most GEMM_K_CHUNK, so none is left
 * tiny, each chunk's product added to C. */
static cltrain_status sgemm_chunked(cltrain_context *cx, int trans_a, int trans_b, size_t m,
                                    size_t n, size_t k, float alpha, buf a, size_t lda,
                                    size_t stride_a, buf b, size_t ldb, size_t stride_b, float beta,
                                    buf c, size_t ldc, size_t stride_c, size_t batch) {
  if (cx->blas_generation != atomic_load(&blas_generation)) TRY(blas_init(cx));
  size_t chunks = k > GEMM_K_CHUNK ? (k + GEMM_K_CHUNK - 1) / GEMM_K_CHUNK : 1;
  size_t step = (k + chunks - 1) / chunks, k0 = 0;
  do { /* once when k is 0 (C = beta * C) */
    size_t kk = k - k0 < step ? k - k0 : step;
    /* Column k0 of op(A) and row k0 of op(B), in each operand's storage layout. */
    buf ak = buf_at(a, trans_a ? k0 * lda : k0), bk = buf_at(b, trans_b ? k0 : k0 * ldb);
    TRY(sgemm_once(cx, trans_a, trans_b, m, n, kk, alpha, ak, lda, stride_a, bk, ldb, stride_b,
                   k0 ? 1.0f : beta, c, ldc, stride_c, batch));
    k0 += step;
  } while (k0 < k);
  return CLTRAIN_OK;
}

cltrain_status blas_sgemm(cltrain_context *cx, int trans_a, int trans_b, size_t m, size_t n,
                          size_t k, float alpha, buf a, size_t lda, buf b, size_t ldb, float beta,
                          buf c, size_t ldc) {
  if (m == 0 || n == 0) return CLTRAIN_OK;
  if (cx->gemm_native)
    return gemm_native_sgemm(cx, trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c,
                             ldc, 0, 0);
  return sgemm_chunked(cx, trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 0);
}

/* CLBlast 1.5.3's strided-batched SGEMM uses an operand in place when its sizes are multiples
 * of the GEMM kernel's tiles and its leading dimension equals its width, and then reads item i
 * at i * rows * width from the buffer's start: its offset and stride are ignored (the results
 * are silently wrong; test_gemm.c has such cases). Such an operand is "at risk". */
static int at_risk(buf x, size_t rows, size_t width, size_t ld, size_t stride, size_t batch) {
  return ld == width && (x.off != 0 || (batch > 1 && stride != rows * width));
}

size_t blas_batched_ld(size_t width) { return width + 1; }

cltrain_status blas_sgemm_batched(cltrain_context *cx, int trans_a, int trans_b, size_t m,
                                  size_t n, size_t k, float alpha, buf a, size_t lda,
                                  size_t stride_a, buf b, size_t ldb, size_t stride_b, float beta,
                                  buf c, size_t ldc, size_t stride_c, size_t batch) {
  if (m == 0 || n == 0 || batch == 0) return CLTRAIN_OK;
  if (cx->gemm_native)
    return gemm_native_sgemm(cx, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb,
                             stride_b, beta, c, ldc, stride_c, batch);
  if (at_risk(a, trans_a ? k : m, trans_a ? m : k, lda, stride_a, batch) ||
      at_risk(b, trans_b ? n : k, trans_b ? k : n, ldb, stride_b, batch) ||
      at_risk(c, m, n, ldc, stride_c, batch)) {
    for (size_t i = 0; i < batch; i++) /* one SGEMM per item: correct, slower */
      TRY(sgemm_chunked(cx, trans_a, trans_b, m, n, k, alpha, buf_at(a, i * stride_a), lda, 0,
                        buf_at(b, i * stride_b), ldb, 0, beta, buf_at(c, i * stride_c), ldc, 0, 0));
    return CLTRAIN_OK;
  }
  return sgemm_chunked(cx, trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b,
                       beta, c, ldc, stride_c, batch);
}
