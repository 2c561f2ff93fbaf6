/* bench_ops.c: `cltrain bench ops`, each op's forward and backward alone at ResNet-18's shapes. */
#include <stdio.h>
#include "cli.h"
int cmd_bench_ops(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "cltrain bench ops: not built yet\n");
  return 1;
}
