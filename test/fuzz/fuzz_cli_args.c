/* fuzz_cli_args.c: the cltrain tool's argument parsing (cli_main with cli_parse_only set, so each
 * command stops before it opens a device or a file). The input is the command line after
 * "cltrain" (cltrain-dev's commands included), one argument per NUL- or newline-separated
 * field; each argument is its own allocation so that AddressSanitizer sees a read past any one of them. Exit codes other than
 * 0 (parsed, or --help) and 2 (usage error) are a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev.h"

enum { MAX_ARGS = 64 };

/* The commands' usage messages are many: scripts/fuzz closes this target's stdout and stderr
 * (-close_fd_mask=3), so a failure is reported on a copy of stderr taken before that. */
static FILE *report;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  cli_parse_only = 1;
  cli_dev_main = dev_main; /* gemm-check, synth and bench parse in this process too */
  int fd = dup(2);
  report = fd >= 0 ? fdopen(fd, "w") : NULL;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  char *args[MAX_ARGS + 2];
  int argc = 0;
  args[argc++] = strdup("cltrain");
  size_t start = 0;
  for (size_t i = 0; i <= n && argc < MAX_ARGS + 1; i++) {
    if (i < n && data[i] != 0 && data[i] != '\n') continue;
    if (i == n && start == n && n > 0) break; /* a trailing separator ends the list */
    char *a = malloc(i - start + 1);
    if (!a) break;
    memcpy(a, data + start, i - start);
    a[i - start] = 0;
    args[argc++] = a;
    start = i + 1;
  }
  args[argc] = NULL;
  int rc = cli_main(argc, args);
  for (int i = 0; i < argc; i++) free(args[i]);
  if (rc != 0 && rc != 2) {
    fprintf(report ? report : stderr, "fuzz_cli_args: exit code %d while only parsing\n", rc);
    abort();
  }
  return 0;
}
