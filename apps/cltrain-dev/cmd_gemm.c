/* cmd_gemm.c: `cltrain gemm-check`, which checks SGEMM through cltrain's CLBlast wrapper against
 * a double-precision CPU product and times it (median of --reps runs). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/blas.h"
#include "dev.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Relative L2 error of C = A(m,k) B(k,n) against a double product, over `rows` sampled rows. */
static double check(const float *a, const float *b, const float *c, int m, int n, int k) {
  double num = 0, den = 0;
  int step = m > 64 ? m / 64 : 1;
  double *row = malloc(sizeof(double) * (size_t)n);
  for (int i = 0; i < m; i += step) {
    for (int j = 0; j < n; j++) row[j] = 0;
    for (int p = 0; p < k; p++) {
      double av = a[(size_t)i * k + p];
      const float *bp = b + (size_t)p * n;
      for (int j = 0; j < n; j++) row[j] += av * bp[j];
    }
    for (int j = 0; j < n; j++) {
      double d = c[(size_t)i * n + j] - row[j];
      num += d * d;
      den += row[j] * row[j];
    }
  }
  free(row);
  return sqrt(num / den);
}

static int run_shape(cltrain_context *cx, int m, int n, int k, int reps, double *worst) {
  size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
  float *ha = malloc(na * 4), *hb = malloc(nb * 4), *hc = malloc(nc * 4);
  cl_mem da = NULL, db = NULL, dc = NULL;
  int rc = 1;
  srand(1234);
  for (size_t i = 0; i < na; i++) ha[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < nb; i++) hb[i] = (float)rand() / RAND_MAX - 0.5f;
  cltrain_status st = rt_alloc(cx, na * 4, &da);
  if (!st) st = rt_alloc(cx, nb * 4, &db);
  if (!st) st = rt_alloc(cx, nc * 4, &dc);
  if (!st) st = rt_write(cx, (buf){da, 0}, ha, na * 4);
  if (!st) st = rt_write(cx, (buf){db, 0}, hb, nb * 4);
  double times[64];
  if (reps > 64) reps = 64;
  for (int r = -1; r < reps && !st; r++) { /* r = -1 warms up (kernel compilation) */
    double t0 = now_s();
    st = blas_sgemm(cx, 0, 0, (size_t)m, (size_t)n, (size_t)k, 1.0f, (buf){da, 0}, (size_t)k,
                    (buf){db, 0}, (size_t)n, 0.0f, (buf){dc, 0}, (size_t)n);
    if (!st) st = cltrain_context_finish(cx);
    if (r >= 0) times[r] = now_s() - t0;
  }
  if (!st) st = rt_read(cx, hc, (buf){dc, 0}, nc * 4);
  if (st) {
    cli_fail(cx, st);
  } else {
    qsort(times, (size_t)reps, sizeof times[0], cmp_double);
    double med = times[reps / 2], err = check(ha, hb, hc, m, n, k);
    if (err > *worst) *worst = err;
    printf("  %5d x %6d x %5d   %8.1f GFLOP/s   %8.2f ms   rel L2 err %.1e\n", m, n, k,
           2.0 * m * n * k / med * 1e-9, med * 1e3, err);
    rc = 0;
  }
  rt_free(da);
  rt_free(db);
  rt_free(dc);
  free(ha);
  free(hb);
  free(hc);
  return rc;
}

/* "M,N,K" into mnk, each through cli_int (which prints what is wrong with it). */
static int parse_shape(const char *v, int mnk[3]) {
  char part[3][32];
  const char *p = v;
  for (int k = 0; k < 3; k++) {
    const char *end = k < 2 ? strchr(p, ',') : p + strlen(p);
    if (!end || end - p >= (long)sizeof part[k]) return 0;
    memcpy(part[k], p, (size_t)(end - p));
    part[k][end - p] = 0;
    long long x;
    if (!cli_int("gemm-check", "--shape", part[k], 1, 65536, &x)) return 0;
    mnk[k] = (int)x;
    p = end + 1;
  }
  return 1;
}

int cmd_gemm(int argc, char **argv) {
  const char *device = NULL, *v = NULL;
  int reps = 5, bad = 0, shapes[16][3], nshapes = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_flag(argc, argv, &i, "--help", NULL, &bad)) {
      printf("usage: cltrain gemm-check [--device SEL] [--reps R] [--shape M,N,K]...\n\n"
             "Runs row-major SGEMM C=A*B through cltrain's CLBlast wrapper, checks it against a\n"
             "double CPU product (relative L2 <= 1e-5) and prints the median GFLOP/s.\n"
             "Default shapes: 1024,1024,1024 and 64,50176,576 (ResNet-18's layer1 conv).\n"
             "Set CLTRAIN_GEMM_TUNING=0 to run with CLBlast's default parameters.\n");
      return 0;
    } else if (cli_flag(argc, argv, &i, "--device", &v, &bad)) {
      device = v;
    } else if (cli_flag(argc, argv, &i, "--reps", &v, &bad)) {
      long long r;
      if (!bad && !cli_int("gemm-check", "--reps", v, 1, 1000000, &r)) return 2;
      if (!bad) reps = (int)r;
    } else if (cli_flag(argc, argv, &i, "--shape", &v, &bad)) {
      if (bad) return 2;
      if (nshapes == 16 || !parse_shape(v, shapes[nshapes])) {
        fprintf(stderr, "cltrain gemm-check: bad --shape '%s' (want M,N,K, each 1..65536, at most 16 shapes)\n", v);
        return 2;
      }
      nshapes++;
    } else {
      fprintf(stderr, "cltrain gemm-check: unknown option '%s'\n", argv[i]);
      return 2;
    }
    if (bad) return 2;
  }
  if (reps < 1) reps = 1;
  if (nshapes == 0) {
    int def[2][3] = {{1024, 1024, 1024}, {64, 50176, 576}};
    memcpy(shapes, def, sizeof def);
    nshapes = 2;
  }
  if (cli_parse_only) return 0;
  cltrain_context *cx = NULL;
  cltrain_status st = cli_context(device, &cx);
  if (st) return cli_fail(NULL, st);
  const char *tuning = blas_tuning_name(cx);
  printf("SGEMM on '%s', CLBlast parameters: %s\n", cx->info.name,
         tuning ? tuning : "CLBlast defaults");
  double worst = 0;
  int rc = 0;
  for (int s = 0; s < nshapes && !rc; s++)
    rc = run_shape(cx, shapes[s][0], shapes[s][1], shapes[s][2], reps, &worst);
  cltrain_context_destroy(cx);
  /* float32 accumulation over K <= ~4k terms stays near 1e-7 relative L2; 1e-5 leaves margin
   * for any summation order while still catching a wrong layout or offset. */
  if (!rc && worst > 1e-5) {
    fprintf(stderr, "cltrain gemm-check: error %.2e exceeds 1e-5\n", worst);
    rc = 1;
  }
  if (!rc) printf("gemm-check: ok\n");
  return rc;
}
