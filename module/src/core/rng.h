/* rng.h: cltrain's one random number generator, Philox4x32-10 (Salmon et al., SC'11), a
 * counter-based generator: the value at (key, counter) is a pure function, so host code and
 * OpenCL kernels (kernels/dropout.cl repeats philox4x32 there) draw the same numbers, and a
 * stream's whole state is (seed, position), which a checkpoint can store.
 * Used for head initialisation, shuffling, augmentation and dropout masks. */
#ifndef CLTRAIN_RNG_H
#define CLTRAIN_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Four 32-bit outputs for counter (c0..c3) under key (k0, k1). */
static inline void philox4x32(const uint32_t ctr[4], uint32_t k0, uint32_t k1, uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* A sequential stream: seed plus a 64-bit position counting 32-bit draws. */
typedef struct cltrain_rng {
  uint64_t seed;
  uint64_t pos;
} cltrain_rng;

static inline cltrain_rng rng_make(uint64_t seed, uint32_t stream) {
  /* Streams of one seed (head init, shuffling, augmentation, dropout) never overlap: the
   * stream id goes into the high counter word. */
  cltrain_rng r = {seed, (uint64_t)stream << 40};
  return r;
}

static inline uint32_t rng_u32(cltrain_rng *r) {
  uint32_t ctr[4] = {(uint32_t)(r->pos >> 2), (uint32_t)(r->pos >> 34), 0, 0}, out[4];
  philox4x32(ctr, (uint32_t)r->seed, (uint32_t)(r->seed >> 32), out);
  uint32_t v = out[r->pos & 3];
  r->pos++;
  return v;
}

/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
static inline float rng_uniform(cltrain_rng *r) { return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_uniform_f64(cltrain_rng *r) {
  uint64_t hi = rng_u32(r) >> 5, lo = rng_u32(r) >> 6;
  return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), without modulo bias. */
static inline uint32_t rng_below(cltrain_rng *r, uint32_t n) {
  uint32_t limit = (uint32_t)(-n) % n, v;
  do v = rng_u32(r);
  while (v < limit);
  return v % n;
}

enum { RNG_STREAM_HEAD_INIT = 1, RNG_STREAM_SHUFFLE = 2, RNG_STREAM_AUGMENT = 3, RNG_STREAM_DROPOUT = 4 };

#ifdef __cplusplus
}
#endif
#endif
