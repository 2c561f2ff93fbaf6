/* cmd_devices.c: `cltrain devices`, the list of OpenCL devices; with --verbose, per device the
 * limits cltrain's launches respect, the extensions that matter and the GEMM tuning applied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *type_name(cltrain_device_type t) {
  return t == CLTRAIN_DEVICE_GPU ? "GPU" : t == CLTRAIN_DEVICE_CPU ? "CPU"
         : t == CLTRAIN_DEVICE_ACCELERATOR ? "ACCEL" : "OTHER";
}

/* Opens device `sel` and prints what its launches depend on (cltrain_context_get_details:
 * CLTRAIN_DEVICE_LIMITS shows here too). A device that cannot be opened is named, not fatal. */
static void print_details(const char *sel) {
  cltrain_context *cx = NULL;
  if (cltrain_context_create(sel, &cx) != CLTRAIN_OK) {
    printf("        cannot open: %s\n", cltrain_last_error(NULL));
    return;
  }
  cltrain_context_details d = {.size = sizeof d};
  if (cltrain_context_get_details(cx, &d) != CLTRAIN_OK) {
    printf("        no details: %s\n", cltrain_last_error(NULL));
    cltrain_context_destroy(cx);
    return;
  }
  printf("        work-group <= %zu items (per dimension %zu x %zu x %zu), local memory %zu KiB, "
         "largest buffer %.2f GiB\n",
         d.max_work_group, d.max_work_items[0], d.max_work_items[1], d.max_work_items[2],
         d.local_mem_bytes >> 10, (double)d.max_alloc_bytes / (1 << 30));
  printf("        fp64 %s, fp16 %s, subgroups %s, native kernels %s\n", d.fp64 ? "yes" : "no",
         d.fp16 ? "yes" : "no", d.subgroups ? "yes" : "no", d.native_kernels ? "yes" : "no");
  printf("        reductions in work-groups of %zu; GEMM parameters: %s\n", d.reduce_width,
         d.gemm_tuning ? d.gemm_tuning : "CLBlast's defaults (no tuning entry for this device)");
  int shape = 0;
  if (cltrain_context_get_option(cx, CLTRAIN_OPT_KERNEL_SHAPE, &shape) == CLTRAIN_OK)
    printf("        kernel shapes: %s\n", shape == CLTRAIN_KERNEL_SHAPE_GPU
           ? "gpu (a work-item per element, work-group trees; $CLTRAIN_KERNEL_SHAPE=cpu changes it)"
           : "cpu (contiguous runs per work-item; $CLTRAIN_KERNEL_SHAPE=gpu changes it)");
  cltrain_context_destroy(cx);
}

int cmd_devices(int argc, char **argv) {
  int verbose = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help")) {
      printf("usage: cltrain devices [--verbose]\n\nLists every OpenCL device; '*' marks the one "
             "chosen when no --device or $CLTRAIN_DEVICE is given. --verbose opens each device and\n"
             "adds the limits cltrain's kernels respect (work-group size, local memory, largest\n"
             "buffer), the extensions that matter (fp64, fp16, subgroups) and which GEMM parameters\n"
             "apply (a tuning entry of this device, or CLBlast's defaults).\n");
      return 0;
    }
    if (!strcmp(argv[i], "--verbose")) {
      verbose = 1;
      continue;
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
    cltrain_context_details det = {.size = sizeof det};
    if (cltrain_context_create(sel, &cx) == CLTRAIN_OK && cltrain_context_get_details(cx, &det) == CLTRAIN_OK)
      printf("          gemm: %s\n", det.gemm_backend);
    else
      printf("          gemm: none (%s)\n", cltrain_last_error(NULL));
    cltrain_context_destroy(cx);
    if (verbose) print_details(sel);
  }
  free(d);
  return 0;
}
