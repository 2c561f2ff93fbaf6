/* test_rng.c: Philox4x32-10 against Random123's known-answer vectors, and the stream helpers. */
#include "check.h"
#include "core/rng.h"

int main(void) {
  uint32_t out[4];
  uint32_t zero[4] = {0, 0, 0, 0}, ones[4] = {~0u, ~0u, ~0u, ~0u};
  philox4x32(zero, 0, 0, out);
  CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u,
        "Philox4x32-10 KAT, zero counter and key");
  philox4x32(ones, ~0u, ~0u, out);
  CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u && out[3] == 0x6d5451fdu,
        "Philox4x32-10 KAT, all-ones counter and key");

  cltrain_rng a = rng_make(42, RNG_STREAM_SHUFFLE), b = rng_make(42, RNG_STREAM_SHUFFLE),
              c = rng_make(42, RNG_STREAM_AUGMENT);
  int same = 1, differ = 0;
  for (int i = 0; i < 1000; i++) {
    uint32_t x = rng_u32(&a), y = rng_u32(&b), z = rng_u32(&c);
    same &= x == y;
    differ += x != z;
  }
  CHECK(same, "the same seed and stream repeat exactly");
  CHECK(differ > 990, "other streams differ (%d of 1000)", differ);
  double sum = 0;
  int below_ok = 1;
  for (int i = 0; i < 100000; i++) {
    float u = rng_uniform(&a);
    below_ok &= u >= 0.0f && u < 1.0f && rng_below(&a, 7) < 7;
    sum += u;
  }
  CHECK(below_ok, "uniform in [0,1), rng_below in range");
  /* mean of 1e5 uniforms: standard error 0.0009, so 0.005 is over 5 sigma */
  CHECK(sum / 100000 > 0.495 && sum / 100000 < 0.505, "uniform mean %.4f near 0.5", sum / 100000);
  return check_done();
}
