/* dropout.cl: inverted dropout with masks drawn from Philox4x32-10, forward and backward (the
 * mask is recomputed from the seed, never stored). */

/* Products and sums stay separate roundings, as on the host (bitwise agreement). */
#pragma OPENCL FP_CONTRACT OFF

/* Philox4x32-10 exactly as module/src/core/rng.h, so host and device draw the same words. The
 * 64-bit products compile to about half the work of mul_hi on PoCL. */
static uint4 philox4x32(uint4 c, uint k0, uint k1) {
  for (int r = 0; r < 10; r++) {
    ulong p0 = (ulong)0xD2511F53u * c.x, p1 = (ulong)0xCD9E8D57u * c.z;
    c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k1, (uint)p0);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif

/* Element i uses draw position pos = offset + i: word pos % 4 of the Philox block
 * counter = (pos / 4 low, pos / 4 high, 0, 0), key = seed, as rng_u32 on {seed, pos}. It is kept
 * iff (word >> 8) * 2^-24 >= p, and a kept element is scaled by 1 / (1 - p). Work-item j
 * computes block offset/4 + j once and serves its (up to) 4 elements. out = in * m, m being the
 * scale or 0, so a NaN input stays NaN even when dropped (as PyTorch's x * mask). */
static void apply_mask(__global float *out, int out_off, __global const float *in, int in_off, int n,
                       uint seed_lo, uint seed_hi, uint off_lo, uint off_hi, float p, float scale,
                       int nblocks, int accumulate) {
  int j = get_global_id(0);
  if (j >= nblocks) return;
  ulong off = ((ulong)off_hi << 32) | off_lo, q = (off >> 2) + (ulong)j;
  uint4 r = philox4x32((uint4)((uint)q, (uint)(q >> 32), 0u, 0u), seed_lo, seed_hi);
  uint words[4] = {r.x, r.y, r.z, r.w};
  long first = (long)(q * 4 - off); /* element index of word 0: -3..0 in the first block */
  for (int w = 0; w < 4; w++) {
    long i = first + w;
    if (i < 0 || i >= n) continue;
    float m = (float)(words[w] >> 8) * (1.0f / 16777216.0f) >= p ? scale : 0.0f;
    if (accumulate)
      out[out_off + i] += in[in_off + i] * m;
    else
      out[out_off + i] = in[in_off + i] * m;
  }
}

/* y = x * m. Global size nblocks: the Philox blocks that [offset, offset + n) touches. */
__kernel void dropout_forward(__global float *y, int y_off, __global const float *x, int x_off,
                              int n, uint seed_lo, uint seed_hi, uint off_lo, uint off_hi, float p,
                              float scale, int nblocks) {
  apply_mask(y, y_off, x, x_off, n, seed_lo, seed_hi, off_lo, off_hi, p, scale, nblocks, 0);
}

/* dx = dy * m (or +=, -DACCUMULATE=1) with the forward's mask, recomputed from the same arguments. */
__kernel void dropout_backward_input(__global float *dx, int dx_off, __global const float *dy,
                                     int dy_off, int n, uint seed_lo, uint seed_hi, uint off_lo,
                                     uint off_hi, float p, float scale, int nblocks) {
  apply_mask(dx, dx_off, dy, dy_off, n, seed_lo, seed_hi, off_lo, off_hi, p, scale, nblocks, ACCUMULATE);
}
