/* cli.h: what the cltrain tool's subcommands share. Each cmd_*.c holds one subcommand. */
#ifndef CLTRAIN_CLI_H
#define CLTRAIN_CLI_H

#include "opencv2/cltrain.h"

/* Each returns the process exit code: 0 success, 1 failure (message printed), 2 usage error.
 * These commands use cltrain.h alone (the build gives them no other include folder, and the
 * cltrain tool links only libcltrain.so); the developer commands are cltrain-dev's (dev.h). */
int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* `cltrain bench --cache` times steps on the feature cache, which is internal: cltrain-dev sets
 * these (bench_cache.c), and without them cmd_bench runs the command in cltrain-dev. */
typedef struct cli_bench_cache_state cli_bench_cache_state;
typedef struct cli_bench_cache_ops {
  /* A cache of 4 batches of rows of the frozen part's output, filled by 4 training steps on
   * images (batch, in_c, in_h, in_w) and labels (batch), as epoch 1 of a cached run fills it. */
  cltrain_status (*fill)(cltrain_context *cx, cltrain_model *m, const float *images, const int *labels,
                         int batch, cli_bench_cache_state **out);
  /* One training step's loss and gradients on `batch` random cached rows with these labels. */
  cltrain_status (*loss_grad)(cli_bench_cache_state *c, cltrain_model *m, const int *labels, int batch,
                              float *loss);
  void (*destroy)(cli_bench_cache_state *c);
} cli_bench_cache_ops;
extern const cli_bench_cache_ops *cli_bench_cache;

/* The whole tool: `cltrain COMMAND ARGS...` as argv; returns the exit code. */
int cli_main(int argc, char **argv);

/* When set (by the argument-parser fuzz target), each command returns 0 once its arguments have
 * parsed and checked, before it opens a device or touches a file. */
extern int cli_parse_only;

/* Runs cltrain-dev's `command` (gemm-check, synth, bench; `bench ops` is its bench-ops) with
 * argv[1..]: through cli_dev_main when it is set (cltrain-dev's own dev_main, linked in by the
 * fuzz target), else by executing the cltrain-dev beside this executable. */
int cli_dev(const char *command, int argc, char **argv);
extern int (*cli_dev_main)(int argc, char **argv);

/* Opens the device `selector` (NULL: $CLTRAIN_DEVICE or the default) with the context options
 * the environment asks for: $CLTRAIN_CONV_WINOGRAD (0 off, 1 or all; unset: the device's
 * default) and $CLTRAIN_PROFILE (0 or 1), the tool's defaults for CLTRAIN_OPT_CONV_WINOGRAD and
 * CLTRAIN_OPT_PROFILE. */
cltrain_status cli_context(const char *selector, cltrain_context **out);

/* Prints "cltrain: <status text>: <detail>" for a failed call to stderr and returns 1. */
int cli_fail(const cltrain_context *cx, cltrain_status st);

/* Option parsing helpers: is argv[*i] the flag `name`? If it takes a value, *val gets it and
 * *i advances; a missing value prints an error and sets *bad. */
int cli_flag(int argc, char **argv, int *i, const char *name, const char **val, int *bad);

/* The one number parser of every command's flags: the whole of s must be a base-10 integer in
 * [lo, hi] (cli_int), an unsigned 64-bit integer (cli_u64) or a finite number (cli_number).
 * Otherwise it prints "cltrain CMD: FLAG wants ..., got 'S'" and returns 0 (trailing junk as in
 * "12abc", overflow and out-of-range values alike). */
int cli_int(const char *cmd, const char *flag, const char *s, long long lo, long long hi, long long *out);
int cli_u64(const char *cmd, const char *flag, const char *s, unsigned long long *out);
int cli_number(const char *cmd, const char *flag, const char *s, double *out);

#endif
