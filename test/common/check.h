/* check.h: a tiny assertion library for cltrain's C tests: value checks with stated tolerances,
 * relative-L2 comparisons, seeded random fills, and the closing "N passed, N failed" line. */
#ifndef CLTRAIN_CHECK_H
#define CLTRAIN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* Records one check; prints a line for every failure (and for every pass when verbose). */
int check_true(int ok, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
#define CHECK(cond, ...) check_true(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* ||got - ref||_2 / ||ref||_2 (ref all zero: ||got||_2). */
double rel_l2(const float *got, const float *ref, size_t n);
double rel_l2_f64(const float *got, const double *ref, size_t n);
double max_abs_diff(const float *got, const float *ref, size_t n);

/* Checks rel_l2(got, ref) <= tol and prints the error reached, so logs show the margin. */
#define CHECK_REL(what, got, ref, n, tol) check_rel(__FILE__, __LINE__, what, got, ref, n, tol)
int check_rel(const char *file, int line, const char *what, const float *got, const float *ref,
              size_t n, double tol);

/* The same against a float64 reference, for an op test's case and tensor ("layer1", "dx"). */
#define CHECK_REL64(case_name, what, got, ref, n, tol) \
  check_rel_f64(__FILE__, __LINE__, case_name, what, got, ref, n, tol)
int check_rel_f64(const char *file, int line, const char *case_name, const char *what, const float *got,
                  const double *ref, size_t n, double tol);

/* Checks a call returned `want`; prints cltrain_last_error() on a mismatch. */
#define CHECK_STATUS(call, want) check_status(__FILE__, __LINE__, #call, (call), (want))
int check_status(const char *file, int line, const char *what, cltrain_status got, cltrain_status want);
#define CHECK_OK(call) CHECK_STATUS(call, CLTRAIN_OK)

/* Uniform in [lo, hi), from a fixed-seed generator (splitmix64), so tests repeat exactly. */
void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* The device given by $CLTRAIN_DEVICE (default device otherwise); exits the test on failure. */
cltrain_context *test_context(void);

/* For training tests: a new folder /tmp/NAME.XXXXXX (its path in tmpdir, cap bytes) whose
 * train/ and val/ are symlinks to the refs' imagefolder/good (3 classes, 14 images of many
 * formats), and in model the refs' whole_r18_bn.onnx. Exits the test when $CLTRAIN_REF_DIR is
 * unset or the folder cannot be made. */
void test_train_folder(const char *name, char *tmpdir, size_t cap, char *model, size_t model_cap);

/* "dir/name" in one of 16 static buffers used in turn (valid for 16 more calls). */
char *test_path(const char *dir, const char *name);

/* Allocates a device buffer holding `n` floats copied from host (host may be NULL). */
buf test_upload(cltrain_context *cx, const float *host, size_t n);
/* Reads n floats back (blocking); the returned memory is the caller's to free. */
float *test_download(cltrain_context *cx, buf b, size_t n);

/* Prints "N passed, N failed" and returns the process exit code. */
int check_done(void);

#endif
