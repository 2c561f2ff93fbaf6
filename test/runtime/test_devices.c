/* test_devices.c: device listing and selection, including every error path of the context API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runtime/runtime.h"

int main(void) {
  int n = -1;
  CHECK_OK(cltrain_devices(NULL, 0, &n));
  CHECK(n >= 1, "at least one OpenCL device (PoCL) is listed, got %d", n);
  cltrain_device_info d[64];
  CHECK_OK(cltrain_devices(d, 64, &n));
  int defaults = 0, pocl = 0;
  for (int i = 0; i < n && i < 64; i++) {
    defaults += d[i].is_default;
    if (strstr(d[i].platform, "Portable Computing Language")) {
      pocl = 1;
      CHECK(d[i].type == CLTRAIN_DEVICE_CPU, "PoCL's device is a CPU");
      CHECK(d[i].compute_units >= 1, "PoCL reports compute units");
      CHECK(d[i].global_mem_bytes > (1u << 20), "PoCL reports global memory");
      CHECK(strstr(d[i].c_version, "OpenCL C") != NULL, "OpenCL C version is '%s'", d[i].c_version);
    }
  }
  CHECK(defaults == 1, "exactly one default device, got %d", defaults);
  CHECK(pocl, "the PoCL CPU device is listed");

  /* Selection: by index, by type, by name substring (any case). */
  cltrain_context *cx = NULL;
  char sel[16];
  snprintf(sel, sizeof sel, "%d:%d", d[0].platform_index, d[0].device_index);
  CHECK_OK(cltrain_context_create(sel, &cx));
  cltrain_device_info got;
  CHECK_OK(cltrain_context_device(cx, &got));
  CHECK(!strcmp(got.name, d[0].name), "P:D selects '%s'", d[0].name);
  cltrain_context_destroy(cx);

  CHECK_OK(cltrain_context_create("cpu", &cx));
  CHECK_OK(cltrain_context_device(cx, &got));
  CHECK(got.type == CLTRAIN_DEVICE_CPU, "'cpu' selects a CPU");
  cltrain_context_destroy(cx);

  CHECK_OK(cltrain_context_create("PORTABLE computing", &cx));
  CHECK_OK(cltrain_context_device(cx, &got));
  CHECK(strstr(got.platform, "Portable") != NULL, "a case-insensitive platform substring selects PoCL");
  cltrain_context_destroy(cx);

  /* The environment variable is used when no selector is given. */
  setenv("CLTRAIN_DEVICE", "no-such-device-xyz", 1);
  CHECK_STATUS(cltrain_context_create(NULL, &cx), CLTRAIN_ERR_DEVICE);
  CHECK(strstr(cltrain_last_error(NULL), "CLTRAIN_DEVICE") != NULL, "the message blames CLTRAIN_DEVICE");
  unsetenv("CLTRAIN_DEVICE");
  CHECK_OK(cltrain_context_create(NULL, &cx));
  CHECK_OK(cltrain_context_device(cx, &got));
  CHECK(got.is_default, "no selector picks the default device");
  cltrain_context_destroy(cx);

  /* Unknown selectors fail with the list of devices that do exist. */
  cx = (cltrain_context *)&n; /* must be reset to NULL on failure */
  CHECK_STATUS(cltrain_context_create("nvidia-titan-zz", &cx), CLTRAIN_ERR_DEVICE);
  CHECK(cx == NULL, "a failed create leaves *out NULL");
  CHECK(strstr(cltrain_last_error(NULL), "nvidia-titan-zz") != NULL, "the message names the selector");
  CHECK(strstr(cltrain_last_error(NULL), d[0].name) != NULL, "the message lists the existing devices: %s",
        cltrain_last_error(NULL));
  CHECK_STATUS(cltrain_context_create("7:3", &cx), CLTRAIN_ERR_DEVICE);
  CHECK_STATUS(cltrain_context_create("accelerator", &cx), CLTRAIN_ERR_DEVICE);

  /* NULL arguments. */
  CHECK_STATUS(cltrain_context_create("cpu", NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_devices(NULL, 0, NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_devices(NULL, 3, &n), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_device(NULL, &got), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_finish(NULL), CLTRAIN_ERR_ARG);
  CHECK_STATUS(cltrain_context_create_from_cl(NULL, NULL, &cx), CLTRAIN_ERR_ARG);
  cltrain_context_destroy(NULL); /* accepted */

  /* CLTRAIN_DEVICE_LIMITS lowers what the device reports, never raises it. */
  CHECK_OK(cltrain_context_create("cpu", &cx));
  rt_limits real = cx->limits;
  cltrain_device_info real_info = cx->info;
  cltrain_context_destroy(cx);
  CHECK(real.max_work_group >= 1 && real.local_mem_bytes >= 1024, "the device reports its limits");
  setenv("CLTRAIN_DEVICE_LIMITS", "mem=64M,alloc=1M,wg=64,local=16K,fp64=0", 1);
  CHECK_OK(cltrain_context_create("cpu", &cx));
  CHECK(cx->info.global_mem_bytes == (64u << 20) && cx->info.max_alloc_bytes == (1u << 20),
        "mem and alloc lowered to 64 MiB and 1 MiB, got %llu and %llu",
        (unsigned long long)cx->info.global_mem_bytes, (unsigned long long)cx->info.max_alloc_bytes);
  CHECK(cx->limits.max_work_group == (real.max_work_group < 64 ? real.max_work_group : 64),
        "work groups capped at 64, got %zu", cx->limits.max_work_group);
  CHECK(cx->limits.local_mem_bytes == (real.local_mem_bytes < 16384 ? real.local_mem_bytes : 16384),
        "local memory capped at 16 KiB, got %zu", cx->limits.local_mem_bytes);
  CHECK(!cx->limits.fp64, "fp64=0 hides fp64");
  cltrain_context_destroy(cx);
  CHECK_OK(cltrain_devices(d, 64, &n));
  CHECK(d[0].global_mem_bytes <= (64u << 20), "cltrain_devices lists the lowered memory too");
  setenv("CLTRAIN_DEVICE_LIMITS", "mem=1000G", 1); /* above the device's: ignored */
  CHECK_OK(cltrain_context_create("cpu", &cx));
  CHECK(cx->info.global_mem_bytes == real_info.global_mem_bytes, "a limit above the device's is ignored");
  cltrain_context_destroy(cx);
  const char *bad[] = {"mem=12abc", "wg=", "fp64=2", "colour=blue", "mem=-5", "local=0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("CLTRAIN_DEVICE_LIMITS", bad[i], 1);
    CHECK_STATUS(cltrain_context_create("cpu", &cx), CLTRAIN_ERR_ARG);
    CHECK(strstr(cltrain_last_error(NULL), "CLTRAIN_DEVICE_LIMITS") && strstr(cltrain_last_error(NULL), bad[i]),
          "'%s' is refused naming the variable and the value: %s", bad[i], cltrain_last_error(NULL));
  }
  unsetenv("CLTRAIN_DEVICE_LIMITS");

  /* Status texts and versions. */
  CHECK(strstr(cltrain_status_str(CLTRAIN_ERR_DEVICE), "CLTRAIN_ERR_DEVICE") != NULL, "status text");
  CHECK(strstr(cltrain_status_str((cltrain_status)999), "UNKNOWN") != NULL, "unknown status text");
  CHECK(!strcmp(cltrain_version(), CLTRAIN_VERSION_STRING), "runtime version equals the header's");
  CHECK(cltrain_version_number() == CLTRAIN_VERSION_NUMBER, "version number");
  return check_done();
}
