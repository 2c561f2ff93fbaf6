/* folder.c: the public ImageFolder and its in-order eval reader (cltrain.h, "for tools"), for
 * the cltrain tool's eval and predict commands: thin wrappers over data/'s imagefolder and
 * threaded loader, with the eval transform that cltrain_model_predict_files() applies. */
#include <stdlib.h>

#include "data/data.h"
#include "runtime/runtime.h"

struct cltrain_folder {
  imagefolder *images;
};

struct cltrain_folder_reader {
  loader *l;
};

/* The loader's labels are int32_t; the public batch hands them out as int. */
_Static_assert(sizeof(int) == sizeof(int32_t), "int is 32 bits");

cltrain_status cltrain_folder_open(cltrain_context *cx, const char *dir, cltrain_folder **out) {
  if (!dir || !out) return rt_fail(cx, CLTRAIN_ERR_ARG, "cltrain_folder_open: NULL dir or out");
  *out = NULL;
  cltrain_folder *f = calloc(1, sizeof *f);
  if (!f) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  cltrain_status st = imagefolder_open(cx, dir, &f->images);
  if (st != CLTRAIN_OK) {
    free(f);
    return st;
  }
  *out = f;
  return CLTRAIN_OK;
}

void cltrain_folder_close(cltrain_folder *f) {
  if (!f) return;
  imagefolder_close(f->images);
  free(f);
}

int cltrain_folder_size(const cltrain_folder *f) { return f ? imagefolder_size(f->images) : 0; }
int cltrain_folder_num_classes(const cltrain_folder *f) { return f ? imagefolder_num_classes(f->images) : 0; }
const char *cltrain_folder_class_name(const cltrain_folder *f, int c) {
  return f ? imagefolder_class_name(f->images, c) : NULL;
}
const char *cltrain_folder_path(const cltrain_folder *f, int i) { return f ? imagefolder_path(f->images, i) : NULL; }
int cltrain_folder_label(const cltrain_folder *f, int i) { return f ? imagefolder_label(f->images, i) : -1; }

cltrain_status cltrain_folder_reader_create(cltrain_context *cx, const cltrain_folder *f,
                                            const cltrain_model *m, int batch, int workers,
                                            cltrain_folder_reader **out) {
  const char *fn = "cltrain_folder_reader_create";
  if (!cx || !f || !m || !out) return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: NULL argument", fn);
  *out = NULL;
  if (batch < 1 || workers < 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "%s: batch is %d and workers %d; want batch >= 1, workers >= 0",
                   fn, batch, workers);
  cltrain_model_info info;
  TRY(cltrain_model_get_info(m, &info));
  transform_params t;
  TRY(transform_eval_for_input(cx, fn, info.in_c, info.in_h, info.in_w, &t));
  loader_options o = loader_defaults(); /* no shuffle: the folder's order */
  o.batch_size = batch, o.workers = workers;
  cltrain_folder_reader *r = calloc(1, sizeof *r);
  if (!r) return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  cltrain_status st = loader_create(cx, f->images, &t, &o, &r->l);
  if (st == CLTRAIN_OK) st = loader_start_epoch(r->l, 0);
  if (st != CLTRAIN_OK) {
    cltrain_folder_reader_destroy(r);
    return st;
  }
  *out = r;
  return CLTRAIN_OK;
}

void cltrain_folder_reader_destroy(cltrain_folder_reader *r) {
  if (!r) return;
  loader_destroy(r->l);
  free(r);
}

cltrain_status cltrain_folder_reader_next(cltrain_folder_reader *r, const float **images,
                                          const int **labels, int *n) {
  if (!r || !images || !labels || !n)
    return rt_fail(NULL, CLTRAIN_ERR_ARG, "cltrain_folder_reader_next: NULL argument");
  const int32_t *y = NULL;
  TRY(loader_next(r->l, images, &y, n));
  *labels = (const int *)y;
  return CLTRAIN_OK;
}

double cltrain_folder_reader_wait_seconds(const cltrain_folder_reader *r) {
  return r ? loader_wait_seconds(r->l) : 0.0;
}
