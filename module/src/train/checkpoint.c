/* checkpoint.c: a training run's state on the host (model_state_save/restore), the checkpoint
 * file that holds it (magic, version, CRC-32), and atomic file writes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "train/train_internal.h"

static const char MAGIC[8] = {'C', 'L', 'T', 'R', 'C', 'K', 'P', 'T'};
enum { CKPT_VERSION = 1 };

void train_state_free(train_state *s) {
  if (!s) return;
  free(s->options), free(s->params), free(s->momentum), free(s->best), free(s->has_momentum), free(s->rows);
  memset(s, 0, sizeof *s);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

uint64_t model_fingerprint(const cltrain_model *m, const float *params) {
  uint64_t h = 0xcbf29ce484222325ULL, np = model_graph(m)->nparams;
  h = fnv(h, &np, sizeof np);
  for (int t = 0; t < model_tensor_count(m); t++) {
    const model_tensor *tt = model_tensor_at(m, t);
    uint64_t c = tt->count, o = tt->off;
    h = fnv(h, tt->name, strlen(tt->name) + 1);
    h = fnv(h, &c, sizeof c);
    h = fnv(h, &o, sizeof o);
    h = fnv(h, &tt->learnable, sizeof tt->learnable);
  }
  return fnv(h, params, np * sizeof(float));
}

cltrain_status model_state_save(cltrain_model *m, train_state *s) {
  cltrain_context *cx = model_context(m);
  size_t n = model_graph(m)->nparams;
  int ntensors = model_tensor_count(m);
  if (s->params && s->nparams != n) return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "state of another size");
  s->nparams = n;
  s->ntensors = (uint32_t)ntensors;
  if (!s->params) s->params = malloc(n * sizeof(float));
  if (!s->momentum) s->momentum = malloc(n * sizeof(float));
  if (!s->has_momentum) s->has_momentum = malloc((size_t)ntensors + 1);
  if (!s->params || !s->momentum || !s->has_momentum)
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory for the training state");
  TRY(rt_read(cx, s->params, model_params(m), n * sizeof(float)));
  TRY(rt_read(cx, s->momentum, model_momentum(m), n * sizeof(float)));
  memcpy(s->has_momentum, model_momentum_flags(m), (size_t)ntensors);
  s->dropout_step = model_dropout_step(m);
  return CLTRAIN_OK;
}

cltrain_status model_state_restore(cltrain_model *m, const train_state *s) {
  cltrain_context *cx = model_context(m);
  if (s->nparams != model_graph(m)->nparams || s->ntensors != (uint32_t)model_tensor_count(m))
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "state of another model");
  size_t bytes = s->nparams * sizeof(float);
  TRY(rt_write(cx, model_params(m), s->params, bytes));
  TRY(rt_write(cx, model_momentum(m), s->momentum, bytes));
  model_set_momentum_flags(m, s->has_momentum);
  model_set_dropout_step(m, s->dropout_step);
  return CLTRAIN_OK;
}

/* ---- CRC-32 (IEEE, as zlib) ---- */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
  static uint32_t table[256];
  static int ready = 0; /* racy first fill writes the same values: harmless */
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t checkpoint_crc32(const void *data, size_t n) { return crc32_update(0, data, n); }

/* ---- files ---- */

int test_hook_at(const char *var, long long n) {
  const char *e = getenv(var);
  return e && *e && atoll(e) == n;
}

cltrain_status atomic_write(cltrain_context *cx, const char *path, const void *data, size_t bytes) {
  static long long writes; /* for the test hook; only the training loop's thread writes */
  atomic_file f;
  int err = atomic_file_open(&f, path);
  if (err) return rt_fail(cx, CLTRAIN_ERR_IO, "cannot create a file next to '%s': %s", path, strerror(err));
  /* Test hook: a crash halfway through writing the temporary file, before fsync and rename. */
  if (test_hook_at("CLTRAIN_TEST_KILL_IN_WRITE", ++writes)) {
    atomic_file_write(&f, data, bytes / 2);
    raise(SIGKILL);
  }
  err = atomic_file_write(&f, data, bytes);
  if (!err) err = atomic_file_commit(&f);
  if (err) return rt_fail(cx, CLTRAIN_ERR_IO, "cannot write '%s': %s", path, strerror(err));
  return CLTRAIN_OK;
}

void remove_stale_temps(const char *path) { atomic_file_remove_stale(path); }

cltrain_status check_writable(cltrain_context *cx, const char *path, const char *what) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/.cltrain-probe.XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0)
    return rt_fail(cx, CLTRAIN_ERR_IO, "cannot write the %s '%s': folder '%s' is not writable (%s)", what, path,
                   dir, strerror(errno));
  close(fd);
  unlink(probe);
  return CLTRAIN_OK;
}

/* A growing byte buffer for serialising. */
typedef struct bytes {
  unsigned char *p;
  size_t n, cap;
  int oom;
} bytes;

static void put(bytes *b, const void *v, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    unsigned char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q, b->cap = cap;
  }
  memcpy(b->p + b->n, v, n);
  b->n += n;
}
#define PUT(b, v) put((b), &(v), sizeof(v))

cltrain_status checkpoint_write(cltrain_context *cx, const char *path, const train_state *s) {
  bytes b = {0};
  uint32_t version = CKPT_VERSION, olen = (uint32_t)strlen(s->options ? s->options : "");
  uint8_t has_best = s->best != NULL;
  put(&b, MAGIC, sizeof MAGIC);
  PUT(&b, version);
  PUT(&b, s->fingerprint);
  PUT(&b, olen);
  put(&b, s->options, olen);
  PUT(&b, s->epochs_done);
  PUT(&b, s->steps);
  PUT(&b, s->best_epoch);
  PUT(&b, s->best_acc);
  PUT(&b, s->dropout_step);
  PUT(&b, s->nparams);
  PUT(&b, s->ntensors);
  put(&b, s->params, s->nparams * sizeof(float));
  put(&b, s->momentum, s->nparams * sizeof(float));
  put(&b, s->has_momentum, s->ntensors);
  PUT(&b, has_best);
  if (has_best) put(&b, s->best, s->nparams * sizeof(float));
  PUT(&b, s->nrows);
  for (uint32_t r = 0; r < s->nrows; r++) {
    const train_row *w = &s->rows[r];
    PUT(&b, w->epoch), PUT(&b, w->phase), PUT(&b, w->loss), PUT(&b, w->acc), PUT(&b, w->lr);
    PUT(&b, w->seconds), PUT(&b, w->images_per_s), PUT(&b, w->data_wait);
  }
  uint32_t crc = crc32_update(0, b.p, b.n);
  PUT(&b, crc);
  cltrain_status st = b.oom ? rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory for checkpoint '%s'", path)
                            : atomic_write(cx, path, b.p, b.n);
  free(b.p);
  return st;
}

/* A cursor over the file's bytes; reading past the end marks it truncated. */
typedef struct cursor {
  const unsigned char *p;
  size_t n, at;
  int short_read;
} cursor;

static void get(cursor *c, void *v, size_t n) {
  if (c->short_read || n > c->n - c->at) {
    c->short_read = 1;
    memset(v, 0, n);
    return;
  }
  memcpy(v, c->p + c->at, n);
  c->at += n;
}
#define GET(c, v) get((c), &(v), sizeof(v))

/* n bytes from the file into a new allocation of n + extra bytes. */
static void *get_alloc(cursor *c, size_t n, size_t extra) {
  if (c->short_read || n > c->n - c->at) {
    c->short_read = 1;
    return NULL;
  }
  void *v = malloc(n + extra ? n + extra : 1);
  if (v) get(c, v, n);
  return v;
}

cltrain_status checkpoint_read_bytes(cltrain_context *cx, const char *path, unsigned char **out, size_t *size) {
  *out = NULL, *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return rt_fail(cx, CLTRAIN_ERR_IO, "cannot open checkpoint '%s': %s", path, strerror(errno));
  unsigned char *data = NULL;
  size_t n = 0, cap = 0, r;
  do {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 20;
      unsigned char *q = realloc(data, cap);
      if (!q) {
        free(data), fclose(f);
        return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory reading '%s'", path);
      }
      data = q;
    }
    r = fread(data + n, 1, cap - n, f);
    n += r;
  } while (r > 0);
  int rerr = ferror(f);
  fclose(f);
  if (rerr) {
    free(data);
    return rt_fail(cx, CLTRAIN_ERR_IO, "cannot read checkpoint '%s'", path);
  }
  *out = data, *size = n;
  return CLTRAIN_OK;
}

cltrain_status checkpoint_read(cltrain_context *cx, const char *path, train_state *s) {
  memset(s, 0, sizeof *s);
  unsigned char *data;
  size_t n;
  TRY(checkpoint_read_bytes(cx, path, &data, &n));
  cltrain_status st = checkpoint_parse(cx, path, data, n, s);
  free(data);
  return st;
}

cltrain_status checkpoint_parse(cltrain_context *cx, const char *path, const void *bytes, size_t n,
                                train_state *s) {
  memset(s, 0, sizeof *s);
  const unsigned char *data = bytes;
  cltrain_status st = CLTRAIN_OK;
  if (n < sizeof MAGIC + 8 || memcmp(data, MAGIC, sizeof MAGIC))
    st = rt_fail(cx, CLTRAIN_ERR_FORMAT, "'%s' is not a cltrain checkpoint (bad magic)", path);
  else {
    uint32_t stored;
    memcpy(&stored, data + n - 4, 4);
    uint32_t version;
    memcpy(&version, data + sizeof MAGIC, 4);
    if (version != CKPT_VERSION)
      st = rt_fail(cx, CLTRAIN_ERR_FORMAT, "checkpoint '%s' has version %u; this cltrain reads version %d", path,
                   version, CKPT_VERSION);
    else if (crc32_update(0, data, n - 4) != stored)
      st = rt_fail(cx, CLTRAIN_ERR_FORMAT, "checkpoint '%s' is corrupt or truncated (CRC-32 mismatch)", path);
  }
  if (st) return st;
  cursor c = {data, n - 4, sizeof MAGIC + 4, 0};
  uint32_t olen;
  uint8_t has_best = 0;
  GET(&c, s->fingerprint);
  GET(&c, olen);
  char *opt = get_alloc(&c, olen, 1);
  if (opt) opt[olen] = 0;
  s->options = opt;
  GET(&c, s->epochs_done);
  GET(&c, s->steps);
  GET(&c, s->best_epoch);
  GET(&c, s->best_acc);
  GET(&c, s->dropout_step);
  GET(&c, s->nparams);
  GET(&c, s->ntensors);
  if (!c.short_read && (s->nparams > ((uint64_t)1 << 34) || s->ntensors > (1u << 20))) c.short_read = 1;
  if (!c.short_read) {
    s->params = get_alloc(&c, s->nparams * sizeof(float), 0);
    s->momentum = get_alloc(&c, s->nparams * sizeof(float), 0);
    s->has_momentum = get_alloc(&c, s->ntensors, 0);
    GET(&c, has_best);
    if (has_best) s->best = get_alloc(&c, s->nparams * sizeof(float), 0);
    GET(&c, s->nrows);
    if (s->nrows > 100000) c.short_read = 1;
  }
  if (!c.short_read) {
    s->rows = calloc((size_t)s->nrows + 1, sizeof *s->rows);
    for (uint32_t i = 0; s->rows && i < s->nrows; i++) {
      train_row *w = &s->rows[i];
      GET(&c, w->epoch), GET(&c, w->phase), GET(&c, w->loss), GET(&c, w->acc), GET(&c, w->lr);
      GET(&c, w->seconds), GET(&c, w->images_per_s), GET(&c, w->data_wait);
    }
  }
  if (c.short_read || c.at != c.n)
    st = rt_fail(cx, CLTRAIN_ERR_FORMAT, "checkpoint '%s' is malformed (sizes do not add up)", path);
  else if (!s->options || !s->params || !s->momentum || !s->has_momentum || (has_best && !s->best) || !s->rows)
    st = rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory reading '%s'", path);
  if (st) train_state_free(s);
  return st;
}
