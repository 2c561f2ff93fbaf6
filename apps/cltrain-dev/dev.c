/* dev.c: cltrain-dev's command dispatch (dev_main) and its entry point. It is a tool of the
 * build tree, never installed; the cltrain tool runs it for the commands listed here. */
#include <stdio.h>
#include <string.h>

#include "dev.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
} commands[] = {
    {"gemm-check", cmd_gemm},
    {"synth", cmd_synth},
    {"bench", cmd_bench}, /* cltrain's own bench, with the feature cache plugged in */
    {"bench-ops", cmd_bench_ops},
};

int dev_main(int argc, char **argv) {
  cli_bench_cache = &dev_bench_cache;
  cli_dev_main = dev_main; /* `bench ops` from within bench stays in this process */
  for (size_t i = 0; argc >= 2 && i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "usage: cltrain-dev gemm-check|synth|bench|bench-ops [ARGS]\n"
                  "(what 'cltrain gemm-check', 'cltrain synth', 'cltrain bench --cache' and "
                  "'cltrain bench ops' run)\n");
  return 2;
}
