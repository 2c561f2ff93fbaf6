/* reftensor.c: see reftensor.h. */
#include "reftensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ref_set {
  char path[1024];
  char *bytes;
  int count;
  ref_tensor t[REF_MAX_TENSORS];
};

static void die(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "FAIL: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  exit(1);
}

ref_set *ref_load(const char *case_name) {
  const char *dir = getenv("CLTRAIN_REF_DIR");
  ref_set *s = calloc(1, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s/%s.ref", dir ? dir : "test-ref", case_name);
  FILE *f = fopen(s->path, "rb");
  if (!f) die("reference file %s is missing (run the gen_refs test first)%s", s->path, "");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  s->bytes = malloc((size_t)size + 1);
  if (fread(s->bytes, 1, (size_t)size, f) != (size_t)size) die("cannot read %s%s", s->path, "");
  fclose(f);
  s->bytes[size] = 0;
  char *p = s->bytes, *end = s->bytes + size;
  if (strncmp(p, "CLTREF 1\n", 9)) die("%s is not a CLTREF 1 file%s", s->path, "");
  p += 9;
  while (p < end) {
    if (s->count == REF_MAX_TENSORS) die("%s holds more than REF_MAX_TENSORS tensors%s", s->path, "");
    ref_tensor *t = &s->t[s->count];
    char dtype[8];
    int used = 0;
    if (sscanf(p, "%127s %7s %d%n", t->name, dtype, &t->ndim, &used) != 3 || t->ndim > 8)
      die("bad tensor header in %s%s", s->path, "");
    p += used;
    t->n = 1;
    for (int d = 0; d < t->ndim; d++) {
      if (sscanf(p, " %ld%n", &t->dims[d], &used) != 1) die("bad dims in %s%s", s->path, "");
      p += used;
      t->n *= (size_t)t->dims[d];
    }
    if (*p != '\n') die("bad header end in %s%s", s->path, "");
    p++;
    size_t esz = 4;
    if (!strcmp(dtype, "f32")) t->dtype = REF_F32;
    else if (!strcmp(dtype, "i32")) t->dtype = REF_I32;
    else if (!strcmp(dtype, "f64")) t->dtype = REF_F64, esz = 8;
    else die("unknown dtype in %s: %s", s->path, dtype);
    if (p + t->n * esz > end) die("truncated data in %s for %s", s->path, t->name);
    t->data = malloc(t->n * esz + 8); /* aligned copy */
    memcpy(t->data, p, t->n * esz);
    p += t->n * esz;
    s->count++;
  }
  return s;
}

void ref_free(ref_set *s) {
  if (!s) return;
  for (int i = 0; i < s->count; i++) free(s->t[i].data);
  free(s->bytes);
  free(s);
}

int ref_has(const ref_set *s, const char *name) {
  for (int i = 0; i < s->count; i++)
    if (!strcmp(s->t[i].name, name)) return 1;
  return 0;
}

const ref_tensor *ref_get(const ref_set *s, const char *name) {
  for (int i = 0; i < s->count; i++)
    if (!strcmp(s->t[i].name, name)) return &s->t[i];
  die("%s has no tensor named %s", s->path, name);
  return NULL;
}

static const void *typed(const ref_set *s, const char *name, ref_dtype want, size_t *n) {
  const ref_tensor *t = ref_get(s, name);
  if (t->dtype != want) die("%s: tensor %s has another dtype", s->path, name);
  if (n) *n = t->n;
  return t->data;
}

const float *ref_f32(const ref_set *s, const char *name, size_t *n) { return typed(s, name, REF_F32, n); }
const double *ref_f64(const ref_set *s, const char *name, size_t *n) { return typed(s, name, REF_F64, n); }
const int *ref_i32(const ref_set *s, const char *name, size_t *n) { return typed(s, name, REF_I32, n); }

double ref_scalar(const ref_set *s, const char *name) {
  const ref_tensor *t = ref_get(s, name);
  switch (t->dtype) {
    case REF_F32: return ((const float *)t->data)[0];
    case REF_F64: return ((const double *)t->data)[0];
    case REF_I32: return ((const int *)t->data)[0];
  }
  return 0;
}
