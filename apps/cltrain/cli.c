/* cli.c: the cltrain command-line tool's subcommand dispatch (cli_main) and shared helpers;
 * main.c only calls cli_main, so that the fuzz target (test/fuzz/fuzz_cli_args.c) can link the rest.
 * The developer commands (gemm-check, synth, bench) live in cltrain-dev (apps/cltrain-dev), which
 * reaches the library's internals: cli_dev runs them. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int dev_command(int argc, char **argv) { return cli_dev(argv[0], argc, argv); }

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices, marking the default"},
    {"gemm-check", dev_command, "check and time SGEMM through cltrain's CLBlast wrapper (cltrain-dev)"},
    {"synth", dev_command, "draw a labelled shape image set (for the demo, offline; cltrain-dev)"},
    {"init", cmd_init, "write a freshly initialised ResNet-18/34 as ONNX, to train from scratch"},
    {"bench", cmd_bench, "time training and inference steps on synthetic data (each op: bench ops)"},
    {"info", cmd_info, "show how cltrain imports an ONNX model: nodes, stages, parameters"},
    {"eval", cmd_eval, "loss, accuracy and confusion matrix of a model on an ImageFolder"},
    {"predict", cmd_predict, "top-k classes of images, optionally drawn as a picture grid"},
    {"train", cmd_train, "fine-tune a model on an ImageFolder (the tutorial's train_model)"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
  fprintf(f,
          "usage: cltrain [--help] [--version] COMMAND [ARGS]\n\n"
          "cltrain fine-tunes pretrained networks on any OpenCL device.\n\ncommands:\n");
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(f,
          "\nRun 'cltrain COMMAND --help' for a command's options.\n"
          "The device is chosen by --device SEL or $CLTRAIN_DEVICE: \"P:D\", gpu, cpu, or a\n"
          "substring of the device name; by default the first GPU, else the first CPU.\n");
}

/* The library's messages speak of its API ("the learning rate"); the tool adds its own flags.
 * A hint applies when the status matches (or is 0) and the message holds `phrase` (or it is NULL). */
static const struct {
  cltrain_status st;
  const char *phrase, *hint;
} hints[] = {
    {CLTRAIN_ERR_NUMERIC, NULL, "try a smaller --lr"},
    {CLTRAIN_ERR_OUT_OF_MEMORY, NULL, "try a smaller --batch or --image-size, or another --device"},
    {CLTRAIN_ERR_OUT_OF_MEMORY, "train fewer layers", "train fewer layers: --freeze all, upto:NAME or stageK"},
    {CLTRAIN_ERR_ARG, "the training images are augmented", "use --augment none"},
    {CLTRAIN_ERR_ARG, "frozen BN layers use batch statistics", "use --frozen-bn eval"},
};

cltrain_status cli_context(const char *selector, cltrain_context **out) {
  cltrain_status st = cltrain_context_create(selector, out);
  const char *w = getenv("CLTRAIN_CONV_WINOGRAD"), *p = getenv("CLTRAIN_PROFILE");
  /* 0: off; unset or any other value: the device's default (the native backend's rule) */
  int wino = !w ? 0 : !strcmp(w, "all") ? 2 : !strcmp(w, "1") ? 1 : !strcmp(w, "0") ? -1 : 0;
  if (!st) st = cltrain_context_set_option(*out, CLTRAIN_OPT_CONV_WINOGRAD, wino);
  if (!st) st = cltrain_context_set_option(*out, CLTRAIN_OPT_PROFILE, p && *p && strcmp(p, "0") != 0);
  return st;
}

int cli_fail(const cltrain_context *cx, cltrain_status st) {
  const char *msg = cltrain_last_error(cx);
  fprintf(stderr, "cltrain: %s\n  %s\n", cltrain_status_str(st), msg);
  for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
    if (hints[i].st == st && (!hints[i].phrase || strstr(msg, hints[i].phrase)))
      fprintf(stderr, "  hint: %s\n", hints[i].hint);
  return 1;
}

int cli_flag(int argc, char **argv, int *i, const char *name, const char **val, int *bad) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (!val) return a[n] == 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != 0) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "cltrain: %s needs a value\n", name);
    *bad = 1;
    return 1;
  }
  *val = argv[++*i];
  return 1;
}

/* Numbers: strtoll/strtoull/strtod accept leading blanks and a sign; these want the whole text
 * to be the number, so "12abc", "", " 5" and "1e999" are refused. */
int cli_int(const char *cmd, const char *flag, const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = *s && !isspace((unsigned char)*s) ? strtoll(s, &end, 10) : 0;
  int junk = !*s || isspace((unsigned char)*s) || errno || *end;
  if (!junk && v >= lo && v <= hi) {
    *out = v;
    return 1;
  }
  if (hi == INT_MAX && (junk || v < lo)) /* an open range: what `train` has always said */
    fprintf(stderr, "cltrain %s: %s wants an integer >= %lld, got '%s'\n", cmd, flag, lo, s);
  else if (hi == INT_MAX)
    fprintf(stderr, "cltrain %s: %s wants an integer <= %lld, got '%s'\n", cmd, flag, hi, s);
  else
    fprintf(stderr, "cltrain %s: %s wants an integer in %lld..%lld, got '%s'\n", cmd, flag, lo, hi, s);
  return 0;
}

int cli_u64(const char *cmd, const char *flag, const char *s, unsigned long long *out) {
  char *end;
  errno = 0;
  int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10; /* seeds may be hex: 0x2a */
  unsigned long long v = isdigit((unsigned char)*s) ? strtoull(s, &end, base) : 0;
  if (!isdigit((unsigned char)*s) || errno || *end) {
    fprintf(stderr, "cltrain %s: %s wants an unsigned integer, got '%s'\n", cmd, flag, s);
    return 0;
  }
  *out = v;
  return 1;
}

int cli_number(const char *cmd, const char *flag, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = *s && !isspace((unsigned char)*s) ? strtod(s, &end) : 0;
  if (!*s || isspace((unsigned char)*s) || errno || *end || !isfinite(v)) {
    fprintf(stderr, "cltrain %s: %s wants a number, got '%s'\n", cmd, flag, s);
    return 0;
  }
  *out = v;
  return 1;
}

int cli_parse_only = 0;
const cli_bench_cache_ops *cli_bench_cache = NULL;
int (*cli_dev_main)(int argc, char **argv) = NULL;

/* `cltrain bench ops` is cltrain-dev's bench-ops; everything else keeps its name. */
int cli_dev(const char *command, int argc, char **argv) {
  const char *name = !strcmp(command, "bench") && argc >= 2 && !strcmp(argv[1], "ops") ? "bench-ops" : command;
  int skip = name != command; /* "ops" is part of the name */
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) return fprintf(stderr, "cltrain: out of memory\n"), 1;
  args[0] = (char *)"cltrain-dev", args[1] = (char *)name;
  for (int i = 1 + skip; i < argc; i++) args[i + 1 - skip] = argv[i];
  int n = argc + 1 - skip, rc;
  if (cli_dev_main) {
    rc = cli_dev_main(n, args);
  } else {
    /* cltrain-dev is built next to cltrain (never installed): look beside this executable */
    char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 16);
    char *slash = NULL;
    if (len > 0) path[len] = 0, slash = strrchr(path, '/');
    if (slash) strcpy(slash + 1, "cltrain-dev");
    if (slash && access(path, X_OK) == 0) execv(path, args);
    fprintf(stderr, "cltrain: '%s' is a developer command of cltrain-dev, which is not beside this "
            "cltrain (it is built in the source tree's build/bin/ and never installed)\n", command);
    rc = 1;
  }
  free(args);
  return rc;
}

int cli_main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("cltrain %s\n", cltrain_version());
    return 0;
  }
  for (int i = 0; i < NCOMMANDS; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "cltrain: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
