"""cltrain's RNG (module/src/core/rng.h) in Python, so references can predict seeded values such
as a new head's initial weights. Philox4x32-10 on plain ints."""

M32 = 0xFFFFFFFF


def philox4x32(ctr, k0, k1):
    c0, c1, c2, c3 = ctr
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


class Rng:
    """rng_make / rng_u32 / rng_uniform_f64 of rng.h."""

    STREAM_HEAD_INIT = 1

    def __init__(self, seed, stream):
        self.seed, self.pos = seed, stream << 40
        self._block, self._block_at = None, None

    def u32(self):
        at = self.pos >> 2
        if at != self._block_at:
            ctr = (at & M32, (self.pos >> 34) & M32, 0, 0)
            self._block = philox4x32(ctr, self.seed & M32, (self.seed >> 32) & M32)
            self._block_at = at
        v = self._block[self.pos & 3]
        self.pos += 1
        return v

    def uniform_f64(self):
        hi, lo = self.u32() >> 5, self.u32() >> 6
        return ((hi << 26) | lo) / 9007199254740992.0


def linear_init(rng, fan_in, fan_out):
    """torch.nn.Linear's default init, as cltrain's head.c draws it: (weight, bias) lists."""
    import math

    import numpy as np

    bound = 1.0 / math.sqrt(fan_in)
    w = np.array([-bound + 2 * bound * rng.uniform_f64() for _ in range(fan_in * fan_out)])
    b = np.array([-bound + 2 * bound * rng.uniform_f64() for _ in range(fan_out)])
    return w.astype(np.float32).reshape(fan_out, fan_in), b.astype(np.float32)
