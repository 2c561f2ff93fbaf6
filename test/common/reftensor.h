/* reftensor.h: reads the reference tensors that test/ref/gen.py (PyTorch) writes once per build
 * into $CLTRAIN_REF_DIR/<case>.ref. Format: a "CLTREF 1" line, then per tensor a header line
 * "name dtype ndim d0 .. dn-1" (dtype f32, f64 or i32) followed by its raw little-endian data. */
#ifndef CLTRAIN_REFTENSOR_H
#define CLTRAIN_REFTENSOR_H

#include <stddef.h>

typedef enum { REF_F32, REF_F64, REF_I32 } ref_dtype;

/* Tensors one case may hold (a whole DenseNet-121 trajectory, its changes and errors: ~1200). */
enum { REF_MAX_TENSORS = 2048 };

typedef struct ref_tensor {
  char name[128];
  ref_dtype dtype;
  int ndim;
  long dims[8];
  size_t n; /* element count */
  void *data;
} ref_tensor;

typedef struct ref_set ref_set;

/* Loads $CLTRAIN_REF_DIR/<case_name>.ref; exits the test with a message if it is missing. */
ref_set *ref_load(const char *case_name);
void ref_free(ref_set *s);
/* The tensor `name`; exits the test with a message if it is missing. */
const ref_tensor *ref_get(const ref_set *s, const char *name);
/* Typed access: exits if the dtype differs. *n (may be NULL) gets the element count. */
const float *ref_f32(const ref_set *s, const char *name, size_t *n);
const double *ref_f64(const ref_set *s, const char *name, size_t *n);
const int *ref_i32(const ref_set *s, const char *name, size_t *n);
/* A scalar stored as a 1-element tensor of any dtype. */
double ref_scalar(const ref_set *s, const char *name);
int ref_has(const ref_set *s, const char *name);

#endif
