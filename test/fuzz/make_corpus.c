/* make_corpus.c: the fuzz targets' seed corpus, made by the code the targets read:
 *   OUT/checkpoint/  checkpoints written by checkpoint_write (small states: a few tensors, with
 *                    and without best weights and history), each checked to read back equal;
 *   OUT/onnx/        the refs fixture's tiny ONNX models (a conv/pool/fc net and its variants
 *                    that cltrain refuses) and tiny_models.py's (every layer kind cltrain
 *                    imports), each checked to import or to be refused as stated;
 *   OUT/cli_args/    command lines (one argument per line) of every command, each checked to
 *                    parse (exit 0) or to be refused as a usage error (exit 2), as stated.
 * The fuzz_corpus ctest (make_corpus.sh) runs tiny_models.py, then this, on build/fuzz-corpus;
 * scripts/fuzz reads it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "cli.h"
#include "graph/graph.h"
#include "train/train_internal.h"

static char out_dir[3000];

static void make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "make_corpus: cannot create '%s': %s\n", path, strerror(errno));
    exit(1);
  }
}

static void path_of(char *path, size_t cap, const char *target, const char *name) {
  snprintf(path, cap, "%s/%s/%s", out_dir, target, name);
}

static void write_file(const char *target, const char *name, const void *data, size_t n) {
  char path[4096];
  path_of(path, sizeof path, target, name);
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(data, 1, n, f) == n;
  if (f) ok = fclose(f) == 0 && ok;
  CHECK(ok, "wrote '%s'", path);
}

/* ---- checkpoints ---- */

static void checkpoint_seed(const char *name, uint64_t nparams, uint32_t ntensors, int with_best, uint32_t nrows,
                            uint64_t seed) {
  train_state s;
  memset(&s, 0, sizeof s);
  s.fingerprint = 0x9e3779b97f4a7c15ULL ^ seed;
  s.options = strdup("lr=0.001\nmomentum=0.9\nbatch=4\n");
  s.epochs_done = (int32_t)nrows / 2, s.steps = 37, s.best_epoch = 1, s.best_acc = 0.75, s.dropout_step = seed;
  s.nparams = nparams, s.ntensors = ntensors, s.nrows = nrows;
  s.params = malloc(nparams * sizeof(float) + 1), s.momentum = malloc(nparams * sizeof(float) + 1);
  s.best = with_best ? malloc(nparams * sizeof(float) + 1) : NULL;
  s.has_momentum = malloc(ntensors + 1u);
  s.rows = calloc(nrows + 1u, sizeof *s.rows);
  fill_uniform(s.params, nparams, seed, -1, 1);
  fill_uniform(s.momentum, nparams, seed + 1, -0.1f, 0.1f);
  if (s.best) fill_uniform(s.best, nparams, seed + 2, -1, 1);
  for (uint32_t t = 0; t < ntensors; t++) s.has_momentum[t] = (unsigned char)(t % 2);
  for (uint32_t r = 0; r < nrows; r++)
    s.rows[r] = (train_row){(int32_t)r / 2 + 1, (int32_t)r % 2, 0.7 - 0.01 * r, 0.5 + 0.01 * r, 1e-3, 2.5, 40.0, 0.1};

  char path[4096];
  path_of(path, sizeof path, "checkpoint", name);
  CHECK_OK(checkpoint_write(NULL, path, &s));
  train_state back;
  if (CHECK_OK(checkpoint_read(NULL, path, &back))) {
    int same = back.nparams == s.nparams && back.ntensors == s.ntensors && back.nrows == s.nrows &&
               !strcmp(back.options, s.options) && !memcmp(back.params, s.params, nparams * sizeof(float)) &&
               !!back.best == !!s.best && !memcmp(back.rows, s.rows, nrows * sizeof *s.rows);
    CHECK(same, "checkpoint seed '%s' reads back as written", name);
    train_state_free(&back);
  }
  train_state_free(&s);
}

/* ---- ONNX ---- */

/* The bytes of a model under 64 KiB in data; 0 (a failed check) if it cannot be read whole. */
static size_t read_model(const char *path, unsigned char *data, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!CHECK(f != NULL, "open '%s'", path)) return 0;
  size_t n = fread(data, 1, cap, f);
  int whole = feof(f) && n > 0;
  fclose(f);
  return CHECK(whole, "'%s' is a small model (under %zu bytes)", path, cap) ? n : 0;
}

/* Checks that cltrain imports OUT/onnx/name with status `want`. */
static void onnx_check(const char *name, cltrain_status want) {
  static unsigned char data[1 << 16];
  char path[4096];
  path_of(path, sizeof path, "onnx", name);
  size_t n = read_model(path, data, sizeof data);
  if (!n) return;
  graph_desc g;
  CHECK_STATUS(graph_import_onnx_buffer(NULL, name, data, n, &g), want);
  graph_free(&g);
}

/* Copies a model of the refs fixture to OUT/onnx and checks it imports with status `want`. */
static void onnx_seed(const char *ref_dir, const char *name, cltrain_status want) {
  static unsigned char data[1 << 16];
  char src[4096];
  snprintf(src, sizeof src, "%s/%s", ref_dir, name);
  size_t n = read_model(src, data, sizeof data);
  if (!n) return;
  write_file("onnx", name, data, n);
  onnx_check(name, want);
}

/* ---- command lines ---- */

static void cli_seed(const char *name, int want_rc, const char *lines) {
  write_file("cli_args", name, lines, strlen(lines));
  /* split as fuzz_cli_args does: one argument per line */
  char *copy = strdup(lines), *argv[64] = {"cltrain"};
  int argc = 1;
  for (char *p = copy; *p && argc < 63;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    argv[argc++] = p;
    if (!nl) break;
    p = nl + 1;
  }
  int rc = cli_main(argc, argv);
  CHECK(rc == want_rc, "cltrain %s: exit %d, want %d", name, rc, want_rc);
  free(copy);
}

int main(int argc, char **argv) {
  const char *ref_dir = getenv("CLTRAIN_REF_DIR");
  if (argc != 2 || !ref_dir) {
    fprintf(stderr, "usage: CLTRAIN_REF_DIR=DIR fuzz_make_corpus OUT_DIR\n");
    return 2;
  }
  snprintf(out_dir, sizeof out_dir, "%s", argv[1]);
  make_dir(out_dir);
  const char *targets[] = {"checkpoint", "onnx", "cli_args"};
  for (int i = 0; i < 3; i++) {
    char d[4096];
    snprintf(d, sizeof d, "%s/%s", out_dir, targets[i]);
    make_dir(d);
  }

  checkpoint_seed("small.ckpt", 6, 2, 0, 0, 1);
  checkpoint_seed("best_history.ckpt", 40, 5, 1, 4, 2);
  checkpoint_seed("one_param.ckpt", 1, 1, 1, 2, 3);

  onnx_seed(ref_dir, "tiny_ok.onnx", CLTRAIN_OK);
  onnx_seed(ref_dir, "bad_unsupported.onnx", CLTRAIN_ERR_UNSUPPORTED);
  onnx_seed(ref_dir, "bad_sub.onnx", CLTRAIN_ERR_UNSUPPORTED);
  onnx_seed(ref_dir, "bad_grouped.onnx", CLTRAIN_ERR_FORMAT);
  onnx_check("tiny_block.onnx", CLTRAIN_OK); /* written by tiny_models.py before this runs */
  onnx_check("tiny_reshape.onnx", CLTRAIN_OK);

  cli_parse_only = 1; /* the commands stop after parsing: no device, no file touched */
  cli_seed("train", 0,
           "train\n--model\nm.onnx\n--data\nd\n--out\no.onnx\n--regime\nsmall-different\n--epochs=3\n--batch\n8\n"
           "--lr\n0.01\n--momentum\n0.9\n--weight-decay\n1e-4\n--nesterov\n--step-size\n7\n--gamma\n0.1\n"
           "--freeze\nupto:layer3\n--frozen-bn\ntrain\n--head-hidden\n512,128\n--dropout\n0.5\n--augment\nnone\n"
           "--keep\nlast\n--seed\n0x2a\n--workers\n2\n--image-size\n64\n--no-shuffle\n--skip-bad\n--log\nl.csv\n"
           "--plot\np.png\n--checkpoint\nc.ckpt\n--resume\nc.ckpt\n--max-steps\n5\n--classes\n2\n"
           "--backbone-lr-mult\n0.1\n--device\ncpu");
  cli_seed("train_bad", 2, "train\n--model\nm.onnx\n--data\nd\n--out\no.onnx\n--batch\n0");
  cli_seed("eval", 0, "eval\n--model\nm.onnx\n--data\nd\n--batch\n4\n--workers\n1\n--dump-logits\nl.csv\n--device\n0:0");
  cli_seed("predict", 0, "predict\n--model\nm.onnx\n--labels\nants,bees\n--top\n2\n--grid\ng.png\na.jpg\nb.jpg");
  cli_seed("info", 0, "info\n--model\nm.onnx\n--device\ncpu");
  cli_seed("init", 0, "init\n--arch\nresnet34\n--classes\n5\n--out\nm.onnx\n--seed\n3");
  cli_seed("bench", 0, "bench\n--arch\nresnet18\n--batch\n2\n--steps\n1\n--warmup\n0\n--classes\n3\n--freeze\nall\n--no-infer");
  cli_seed("bench_ops", 0, "bench\nops\n--batch\n2\n--repeats\n1\n--device\ncpu");
  cli_seed("gemm", 0, "gemm-check\n--reps\n2\n--shape\n64,64,64\n--device\ncpu");
  cli_seed("synth", 0, "synth\n--out\nd\n--set\nb\n--train\n4\n--val\n2\n--size\n32\n--seed\n7");
  cli_seed("devices", 0, "devices");
  cli_seed("help", 0, "train\n--help");
  cli_seed("version", 0, "--version");
  return check_done();
}
