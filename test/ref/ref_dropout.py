"""References for dropout.h. PyTorch's own RNG cannot be matched, so the mask comes from an
independent numpy Philox4x32-10 under cltrain's rule (element i draws word offset+i of the stream
keyed by seed; kept iff (u >> 8) * 2^-24 >= p), and PyTorch applies F.dropout's formula to it in
float64: y = x * mask / (1 - p), dx = dy * mask / (1 - p)."""
import numpy as np
import torch

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Vectorised over counters (uint64 arrays holding 32-bit words); key scalars."""
    c = [np.asarray(v, dtype=np.uint64) & MASK32 for v in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for _ in range(10):
        p0, p1 = np.uint64(M0) * c[0], np.uint64(M1) * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k0) & MASK32, p1 & MASK32,
             ((p0 >> np.uint64(32)) ^ c[3] ^ k1) & MASK32, p0 & MASK32]
        k0, k1 = (k0 + np.uint64(W0)) & MASK32, (k1 + np.uint64(W1)) & MASK32
    return c


def words(seed, offset, n):
    pos = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    block = pos >> np.uint64(2)
    zero = np.zeros(n, dtype=np.uint64)
    out = philox4x32(block & MASK32, block >> np.uint64(32), zero, zero, seed & 0xFFFFFFFF, seed >> 32)
    return np.choose((pos & np.uint64(3)).astype(np.int64), out)


def keep_mask(seed, offset, n, p):
    u24 = (words(seed, offset, n) >> np.uint64(8)).astype(np.float32)
    return (u24 * np.float32(2.0 ** -24)) >= np.float32(p)


def _rand(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * 2 - 1).float()


def generate(w):
    # Random123's known answer, through this implementation: guards the reference itself.
    kat = philox4x32(0, 0, 0, 0, 0, 0)
    assert [int(v) for v in kat] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], kat
    cases = [  # name, shape, p, seed, offset
        ("dropout_fc", (2, 512), 0.5, 0x0123456789ABCDEF, 1000003),
        ("dropout_layer1", (2, 64, 56, 56), 0.1, 42, (4 << 40) + 7),
        ("dropout_odd", (1, 3, 5, 7), 0.2, 0xFFFFFFFF00000001, (1 << 34) - 2),  # crosses the high word
        ("dropout_one", (1,), 0.9, 7, 3),
        ("dropout_p0", (3, 11), 0.0, 9, 0),
    ]
    for i, (name, shape, p, seed, offset) in enumerate(cases):
        x, dy = _rand(shape, 400 + i), _rand(shape, 500 + i)
        n = x.numel()
        mask = torch.from_numpy(keep_mask(seed, offset, n, p).reshape(shape))
        y = x.double() * mask.double() / (1 - p)
        dx = dy.double() * mask.double() / (1 - p)
        args = np.array([seed & 0xFFFFFFFF, seed >> 32, offset & 0xFFFFFFFF, offset >> 32], dtype=np.uint64)
        w.case(name, x=x, dy=dy, mask=mask.int(), y=y, dx=dx, p=np.array([p]),
               args=args.astype(np.uint32).view(np.int32))
