"""References for pool.h: max pooling (values, argmax indices, gradients; ties on purpose),
average pooling with a window, and global average pooling, from PyTorch in float64 on float32
inputs. Max pooling also keeps PyTorch's own float32 results, which cltrain must match bitwise."""
import zlib

import torch
import torch.nn.functional as F


def _rand(shape, seed, lo=-1.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * (hi - lo) + lo).float()


def _levels(shape, seed):
    """Values on 5 levels: most windows hold repeated maxima, the tie rule decides."""
    return (torch.round(_rand(shape, seed) * 2) / 2).float()


def _max_case(w, name, x, k, s, p):
    kh, kw = k
    x32 = x.clone().requires_grad_(True)
    y32, i32 = F.max_pool2d(x32, k, s, p, return_indices=True)
    dy = _rand(y32.shape, zlib.crc32(name.encode()) % 1000 + 7)
    y32.backward(dy)
    x64 = x.double().requires_grad_(True)
    y64, i64 = F.max_pool2d(x64, k, s, p, return_indices=True)
    y64.backward(dy.double())
    assert torch.equal(i32, i64)
    w.case(name, x=x, dy=dy, y=y64, idx=i64, dx=x64.grad, y32=y32, dx32=x32.grad,
           geom=torch.tensor([kh, kw, s[0], s[1], p[0], p[1]], dtype=torch.int32))


def _avg_case(w, name, x, k, s, p):
    x64 = x.double().requires_grad_(True)
    y64 = F.avg_pool2d(x64, k, s, p)  # count_include_pad=True, PyTorch's default
    dy = _rand(y64.shape, zlib.crc32(name.encode()) % 1000 + 11)
    y64.backward(dy.double())
    w.case(name, x=x, dy=dy, y=y64, dx=x64.grad,
           geom=torch.tensor([k[0], k[1], s[0], s[1], p[0], p[1]], dtype=torch.int32))


def _global_case(w, name, x):
    x64 = x.double().requires_grad_(True)
    y64 = F.adaptive_avg_pool2d(x64, 1).flatten(1)
    dy = _rand(y64.shape, zlib.crc32(name.encode()) % 1000 + 13)
    y64.backward(dy.double())
    w.case(name, x=x, dy=dy, y=y64, dx=x64.grad)


def generate(w):
    # ResNet-18's stem pool at batch 2, continuous and on a few levels (ties everywhere).
    _max_case(w, "pool_max_resnet", _rand((2, 64, 112, 112), 1), (3, 3), (2, 2), (1, 1))
    _max_case(w, "pool_max_resnet_ties", _levels((2, 64, 112, 112), 2), (3, 3), (2, 2), (1, 1))
    # Odd sizes, batch 1, stride 2 with padding on both edges, ties.
    _max_case(w, "pool_max_odd_ties", _levels((1, 3, 7, 9), 3), (3, 3), (2, 2), (1, 1))
    # All values negative: the -inf padding must never win.
    _max_case(w, "pool_max_negative", _rand((1, 2, 5, 6), 4, -2.0, -1.0), (3, 3), (2, 2), (1, 1))
    # Heavy overlap (up to 9 outputs per input), ties, batch 3.
    _max_case(w, "pool_max_overlap", _levels((3, 2, 9, 8), 5), (3, 3), (1, 1), (1, 1))
    # Non-square window and stride, no overlap along one axis.
    _max_case(w, "pool_max_rect", _levels((2, 3, 11, 10), 6), (3, 2), (2, 1), (1, 1))
    _max_case(w, "pool_max_k2s2", _rand((2, 3, 10, 7), 7), (2, 2), (2, 2), (0, 0))
    # NaNs (PyTorch's CPU rule: a NaN always replaces, so the last NaN of a window wins), at the
    # edges and inside, wide enough for the kernel's 8-window vector path.
    x = _levels((1, 2, 6, 21), 8)
    x[0, 0, 2, 3] = x[0, 0, 2, 4] = x[0, 1, 0, 0] = x[0, 1, 3, 10] = x[0, 1, 5, 20] = float("nan")
    _max_case(w, "pool_max_nan", x, (3, 3), (2, 2), (1, 1))

    _avg_case(w, "pool_avg_odd", _rand((1, 3, 7, 9), 21), (3, 3), (2, 2), (1, 1))
    _avg_case(w, "pool_avg_overlap", _rand((3, 2, 9, 8), 22), (3, 3), (1, 1), (1, 1))
    _avg_case(w, "pool_avg_rect", _rand((2, 3, 11, 10), 23), (3, 2), (2, 1), (1, 1))
    _avg_case(w, "pool_avg_k2s2", _rand((2, 4, 8, 8), 24), (2, 2), (2, 2), (0, 0))

    # ResNet-18's head pool at batch 2, and odd shapes.
    _global_case(w, "pool_global_resnet", _rand((2, 512, 7, 7), 31))
    _global_case(w, "pool_global_odd", _rand((1, 3, 5, 3), 32))
    _global_case(w, "pool_global_1x1", _rand((3, 2, 1, 1), 33))
    _global_case(w, "pool_global_large", _rand((2, 3, 112, 112), 34))
