/* fuzz_checkpoint.c: the checkpoint reader (checkpoint_parse, which checkpoint_read uses) on any
 * bytes: a status, never a crash or a leak. Each input is parsed as it is (magic, version and
 * CRC-32 checks) and again with its last 4 bytes set to the CRC-32 of the rest, so that the
 * fuzzer reaches the fields behind the checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

#define NAME "fuzz.ckpt"

static void die(const char *what) {
  fprintf(stderr, "fuzz_checkpoint: %s (status text: %s)\n", what, cltrain_last_error(NULL));
  abort();
}

static void parse_and_check(const void *data, size_t n) {
  train_state s, zero;
  memset(&zero, 0, sizeof zero);
  cltrain_status st = checkpoint_parse(NULL, NAME, data, n, &s);
  if (st != CLTRAIN_OK) {
    if (st != CLTRAIN_ERR_FORMAT && st != CLTRAIN_ERR_OUT_OF_MEMORY) die("a status other than FORMAT or OUT_OF_MEMORY");
    if (!strstr(cltrain_last_error(NULL), NAME)) die("the message does not name the file");
    if (memcmp(&s, &zero, sizeof s)) die("a failed read left the state filled");
    return;
  }
  /* A state read whole: every array it claims is there, all of it readable (ASan checks). */
  if (!s.options || !s.params || !s.momentum || !s.has_momentum || !s.rows) die("an accepted state lacks an array");
  volatile float sum = 0;
  for (uint64_t i = 0; i < s.nparams; i++) sum += s.params[i] + s.momentum[i] + (s.best ? s.best[i] : 0);
  volatile unsigned flags = strlen(s.options);
  for (uint32_t i = 0; i < s.ntensors; i++) flags += s.has_momentum[i];
  for (uint32_t i = 0; i < s.nrows; i++) sum += (float)(s.rows[i].loss + s.rows[i].epoch);
  (void)sum, (void)flags;
  train_state_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  parse_and_check(data, n);
  if (n < 4) return 0;
  unsigned char *fixed = malloc(n);
  if (!fixed) return 0;
  memcpy(fixed, data, n);
  uint32_t crc = checkpoint_crc32(fixed, n - 4);
  memcpy(fixed + n - 4, &crc, 4);
  parse_and_check(fixed, n);
  free(fixed);
  return 0;
}
