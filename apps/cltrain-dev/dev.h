/* dev.h: cltrain-dev, the developer tool beside cltrain. Its commands reach the library's
 * internal headers (ops, runtime, feature cache), which the public cltrain tool may not;
 * `cltrain gemm-check`, `synth`, `bench ops` and `bench --cache` run them through cli_dev (cli.c). */
#ifndef CLTRAIN_DEV_H
#define CLTRAIN_DEV_H

#include "cli.h"

int cmd_gemm(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench_ops(int argc, char **argv);

/* `bench --cache`'s feature-cache steps (bench_cache.c), which dev_main plugs into cmd_bench. */
extern const cli_bench_cache_ops dev_bench_cache;

/* The whole developer tool: `cltrain-dev COMMAND ARGS...`; returns the exit code. */
int dev_main(int argc, char **argv);

#endif
