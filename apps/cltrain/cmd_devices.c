/* cmd_devices.c: `cltrain devices`, the list of OpenCL devices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cli.h"

static const char *type_name(cltrain_device_type t) {
  return t == CLTRAIN_DEVICE_GPU ? "GPU" : t == CLTRAIN_DEVICE_CPU ? "CPU"
         : t == CLTRAIN_DEVICE_ACCELERATOR ? "ACCEL" : "OTHER";
}

int cmd_devices(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) {
      printf("usage: cltrain devices\n\nLists every OpenCL device; '*' marks the one chosen when no "
             "--device or $CLTRAIN_DEVICE is given.\n");
      return 0;
    }
    fprintf(stderr, "cltrain devices: unknown option '%s'\n", argv[i]);
    return 2;
  }
  if (cli_parse_only) return 0;
  int n = 0;
  cltrain_status st = cltrain_devices(NULL, 0, &n);
  if (st != CLTRAIN_OK) return cli_fail(NULL, st);
  cltrain_device_info *d = calloc((size_t)n, sizeof *d);
  if (!d) return 1;
  st = cltrain_devices(d, n, &n);
  if (st != CLTRAIN_OK) {
    free(d);
    return cli_fail(NULL, st);
  }
  printf("  %-5s %-5s %-40s %-28s %4s %9s  %s\n", "sel", "type", "device", "platform / vendor", "CUs",
         "memory", "OpenCL C");
  for (int i = 0; i < n; i++) {
    char sel[16], pv[160];
    snprintf(sel, sizeof sel, "%d:%d", d[i].platform_index, d[i].device_index);
    snprintf(pv, sizeof pv, "%s / %s", d[i].platform, d[i].vendor);
    printf("%c %-5s %-5s %-40s %-28s %4u %6.1f GiB  %s\n", d[i].is_default ? '*' : ' ', sel,
           type_name(d[i].type), d[i].name, pv, d[i].compute_units,
           (double)d[i].global_mem_bytes / (1 << 30), d[i].c_version);
    /* The GEMM backend is chosen when a context opens ($CLTRAIN_GEMM, runtime/blas.c). */
    cltrain_context *cx = NULL;
    if (cltrain_context_create(sel, &cx) == CLTRAIN_OK)
      printf("          gemm: %s\n", blas_backend_name(cx));
    else
      printf("          gemm: none (%s)\n", cltrain_last_error(NULL));
    cltrain_context_destroy(cx);
  }
  free(d);
  return 0;
}
