/* test_loop.c: cltrain_train_run through the C API: argument errors, --max-steps 0 exporting
 * the seeded head over the untouched backbone (bitwise), the step limit, callbacks, and a run
 * stopped after epoch 1 and resumed from its checkpoint ending bitwise equal to an
 * uninterrupted one (hidden head with dropout, so dropout masks must resume too). Data: the
 * refs' imagefolder/good (3 classes, 14 images of many formats) as both train and val. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "train/train_internal.h"

static char tmpdir[256], model[1024];

/* A path in tmpdir; the result lives for 16 more calls. */
static char *path_in(const char *name) { return test_path(tmpdir, name); }

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *d = malloc((size_t)len + 1);
  *n = fread(d, 1, (size_t)len, f);
  fclose(f);
  return d;
}

typedef struct counts {
  int progress, epochs, last_batch, num_batches;
} counts;

static void on_progress(const cltrain_progress *p, void *user) {
  counts *c = user;
  c->progress++;
  c->last_batch = p->batch, c->num_batches = p->num_batches;
}
static void on_epoch(const cltrain_epoch_stats *e, void *user) { ((counts *)user)->epochs++; }

static cltrain_train_options base(void) {
  cltrain_train_options o = cltrain_train_defaults();
  o.model_path = model;
  o.data_dir = tmpdir;
  o.freeze = "all";
  o.batch_size = 4;
  o.seed = 11;
  o.workers = 1;
  return o;
}

/* Every tensor of a and b bitwise equal; returns the number that differ. */
static int differing_tensors(cltrain_model *a, cltrain_model *b, int *ntensors) {
  int diff = 0, i = 0;
  for (const char *name; (name = cltrain_model_tensor_name(a, i)); i++) {
    size_t na = 0, nb = 0;
    cltrain_model_get_param(a, name, NULL, 0, &na);
    if (cltrain_model_get_param(b, name, NULL, 0, &nb) != CLTRAIN_OK || na != nb) {
      printf("  tensor %s: missing or resized in the export\n", name);
      diff++;
      continue;
    }
    float *x = malloc(na * 4), *y = malloc(na * 4);
    cltrain_model_get_param(a, name, x, na, NULL);
    cltrain_model_get_param(b, name, y, nb, NULL);
    if (memcmp(x, y, na * 4)) printf("  tensor %s differs\n", name), diff++;
    free(x), free(y);
  }
  *ntensors = i;
  return diff;
}

int main(void) {
  test_train_folder("cltrain_test_loop", tmpdir, sizeof tmpdir, model, sizeof model);
  cltrain_context *cx = test_context();

  /* Argument errors */
  cltrain_train_options o = base();
  CHECK_STATUS(cltrain_train_run(NULL, &o, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_train_run(cx, NULL, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_train_run(cx, &o, NULL), CLTRAIN_ERR_ARG); /* no out_path */
  CHECK(strstr(cltrain_last_error(cx), "required") != NULL, "message: %s", cltrain_last_error(cx));
  o.out_path = path_in("x.onnx");
  o.batch_size = 0;
  CHECK_STATUS(cltrain_train_run(cx, &o, NULL), CLTRAIN_ERR_ARG);
  o = base(), o.out_path = path_in("x.onnx"), o.num_classes = 2; /* the folders have 3 */
  CHECK_STATUS(cltrain_train_run(cx, &o, NULL), CLTRAIN_ERR_ARG);
  CHECK(strstr(cltrain_last_error(cx), "3 class folders") != NULL, "message: %s", cltrain_last_error(cx));
  CHECK(access(path_in("x.onnx"), F_OK) != 0, "no output after errors");

  /* --max-steps 0: the backbone as in the file, the head as the seed makes it */
  o = base();
  o.out_path = path_in("init.onnx");
  o.max_steps = 0;
  cltrain_train_result res = cltrain_train_result_init();
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  CHECK(res.steps == 0 && res.epochs_done == 0 && res.num_classes == 3, "nothing trained: %lld steps",
        res.steps);
  cltrain_model *want = NULL, *got = NULL;
  CHECK_OK(cltrain_model_load_onnx(cx, model, &want));
  cltrain_head_options h = {sizeof h, 3, NULL, 0, 0.0f, 11};
  CHECK_OK(cltrain_model_replace_head(want, &h));
  CHECK_OK(cltrain_model_load_onnx(cx, path_in("init.onnx"), &got));
  int nt = 0;
  CHECK(got && differing_tensors(want, got, &nt) == 0 && nt > 100, "export of max-steps 0 is bitwise the input "
        "plus the seeded head (%d tensors)", nt);
  cltrain_model_destroy(want);
  cltrain_model_destroy(got);

  /* An older program's smaller result (through `steps`): its fields are written, not a byte past
   * them. A size no version has is refused before anything runs, naming the field. */
  union {
    cltrain_train_result r;
    unsigned char bytes[sizeof(cltrain_train_result)];
  } older;
  const size_t small = RT_SIZE_THROUGH(cltrain_train_result, steps);
  memset(older.bytes, 0xAB, sizeof older.bytes);
  older.r.size = small;
  o.out_path = path_in("init_older.onnx");
  CHECK_OK(cltrain_train_run(cx, &o, &older.r));
  CHECK(older.r.size == small && older.r.num_classes == 3 && older.r.epochs_done == 0 && older.r.steps == 0,
        "the older struct's fields are filled: size %zu, %d classes, %d epochs, %lld steps", older.r.size,
        older.r.num_classes, older.r.epochs_done, older.r.steps);
  int untouched = 1;
  for (size_t i = small; i < sizeof older.bytes; i++) untouched &= older.bytes[i] == 0xAB;
  CHECK(untouched, "nothing written past the older struct's %zu bytes", small);
  const size_t bad_sizes[] = {0, sizeof(size_t), small + 4, sizeof(cltrain_train_result) + 8};
  for (int k = 0; k < 4; k++) {
    cltrain_train_result r = cltrain_train_result_init();
    r.size = bad_sizes[k], r.steps = -7;
    o.out_path = path_in("bad_result.onnx");
    CHECK_STATUS(cltrain_train_run(cx, &o, &r), CLTRAIN_ERR_ARG);
    char want_msg[64];
    snprintf(want_msg, sizeof want_msg, "cltrain_train_result.size is %zu,", bad_sizes[k]);
    CHECK(strstr(cltrain_last_error(cx), want_msg) != NULL, "size %zu refused: %s", bad_sizes[k],
          cltrain_last_error(cx));
    CHECK(r.steps == -7 && access(o.out_path, F_OK) != 0, "size %zu: nothing written, nothing run", bad_sizes[k]);
  }

  /* The step limit and the callbacks */
  counts c = {0};
  o = base();
  o.out_path = path_in("steps.onnx");
  o.max_steps = 2;
  o.epochs = 3;
  o.on_progress = on_progress, o.on_epoch = on_epoch, o.user = &c;
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  CHECK(res.steps == 2 && res.epochs_done == 1, "2 steps in epoch 1: %lld steps, %d epochs", res.steps,
        res.epochs_done);
  CHECK(c.epochs == 1 && c.progress == 2 + 4, "callbacks: %d epochs, %d progress (want 1, 2 train + 4 val)",
        c.epochs, c.progress);
  CHECK(c.last_batch == 4 && c.num_batches == 4, "val batches %d/%d", c.last_batch, c.num_batches);
  CHECK(res.best_val_acc >= 0 && res.best_val_acc <= 1 && res.seconds > 0, "result fields");

  /* Stopped after epoch 1, resumed: bitwise the uninterrupted run's end */
  int hidden[1] = {16};
  o = base();
  o.head_hidden = hidden, o.num_hidden = 1, o.dropout = 0.5f;
  o.epochs = 2;
  o.keep_best = 0;
  o.out_path = path_in("a.onnx"), o.checkpoint = path_in("a.ckpt"), o.log_csv = path_in("a.csv");
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  CHECK(res.epochs_done == 2 && res.steps == 8, "uninterrupted: %d epochs, %lld steps", res.epochs_done, res.steps);
  o.epochs = 1;
  o.out_path = path_in("b1.onnx"), o.checkpoint = path_in("b.ckpt"), o.log_csv = NULL;
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  o.epochs = 2;
  o.resume = path_in("b.ckpt");
  o.out_path = path_in("b.onnx"), o.log_csv = path_in("b.csv");
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  CHECK(res.epochs_done == 2 && res.steps == 8, "resumed: %d epochs, %lld steps", res.epochs_done, res.steps);
  train_state a, b;
  CHECK_OK(checkpoint_read(cx, path_in("a.ckpt"), &a));
  CHECK_OK(checkpoint_read(cx, path_in("b.ckpt"), &b));
  CHECK(a.nparams == b.nparams && a.nparams > 11000000, "checkpoints hold %llu parameters",
        (unsigned long long)a.nparams);
  CHECK(a.params && b.params && !memcmp(a.params, b.params, a.nparams * 4), "weights bitwise equal after resume");
  CHECK(a.momentum && b.momentum && !memcmp(a.momentum, b.momentum, a.nparams * 4), "momentum bitwise equal");
  CHECK(a.ntensors == b.ntensors && !memcmp(a.has_momentum, b.has_momentum, a.ntensors), "has_momentum equal");
  CHECK(a.best && b.best && !memcmp(a.best, b.best, a.nparams * 4) && a.best_acc == b.best_acc, "best equal");
  CHECK(a.dropout_step == 8 && b.dropout_step == 8, "dropout steps %llu %llu", (unsigned long long)a.dropout_step,
        (unsigned long long)b.dropout_step);
  CHECK(a.nrows == 4 && b.nrows == 4 && a.epochs_done == 2 && b.epochs_done == 2, "history rows %u %u", a.nrows,
        b.nrows);
  for (uint32_t r = 0; r < a.nrows && r < b.nrows; r++)
    CHECK(a.rows[r].loss == b.rows[r].loss && a.rows[r].acc == b.rows[r].acc, "row %u loss %g vs %g", r,
          a.rows[r].loss, b.rows[r].loss);
  size_t na = 0, nb = 0;
  unsigned char *fa = slurp(path_in("a.onnx"), &na), *fb = slurp(path_in("b.onnx"), &nb);
  CHECK(fa && fb && na == nb && !memcmp(fa, fb, na), "exported files equal (%zu, %zu bytes)", na, nb);
  free(fa), free(fb);
  fa = slurp(path_in("b.csv"), &nb);
  int lines = 0;
  for (size_t i = 0; fa && i < nb; i++) lines += fa[i] == '\n';
  CHECK(lines == 5, "the resumed run's CSV holds the header and all 4 rows (%d lines)", lines);
  free(fa);
  train_state_free(&a);
  train_state_free(&b);

  /* Resuming a finished run with more epochs than it had is fine; with fewer, it just exports */
  o.epochs = 1;
  o.resume = path_in("b.ckpt"), o.out_path = path_in("c.onnx"), o.log_csv = NULL;
  CHECK_OK(cltrain_train_run(cx, &o, &res));
  CHECK(res.epochs_done == 2 && res.steps == 8, "nothing more to do: %d epochs", res.epochs_done);

  const char *names[] = {"train", "val", "x.onnx", "init.onnx", "init_older.onnx", "steps.onnx", "a.onnx",
                         "a.ckpt", "a.csv", "b1.onnx", "b.ckpt", "b.onnx", "b.csv", "c.onnx"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(path_in(names[i]));
  CHECK(rmdir(tmpdir) == 0, "no stray (temporary) files left in %s", tmpdir);
  cltrain_context_destroy(cx);
  return check_done();
}
