"""conv2d references: F.conv2d and its autograd gradients in float64, from float32 inputs.

Each case stores its geometry as `shape` (i32: n c h w k r s stride_h stride_w pad_h pad_w
dil_h dil_w, then groups for the grouped cases), the float32 inputs x, w, b (absent: no bias), dy, and the starting values of the
gradient buffers (dx0 for the accumulate case, dw0, db0: parameter gradients accumulate), then
the float64 results y, dx (= dx0 + grad when accumulating), dw = dw0 + grad, db = db0 + grad.
"""
import torch
import torch.nn.functional as F

# name: (n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, bias, accumulate)
CASES = {
    # Every distinct ResNet-18 convolution, at batch 2.
    "conv2d_stem": (2, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3, 1, 1, False, False),
    "conv2d_l1": (2, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, False, False),
    "conv2d_l2_down": (2, 64, 56, 56, 128, 3, 3, 2, 2, 1, 1, 1, 1, False, False),
    "conv2d_l2_skip": (2, 64, 56, 56, 128, 1, 1, 2, 2, 0, 0, 1, 1, False, False),
    "conv2d_l2": (2, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1, 1, 1, True, False),
    "conv2d_l3_down": (2, 128, 28, 28, 256, 3, 3, 2, 2, 1, 1, 1, 1, False, False),
    "conv2d_l3_skip": (2, 128, 28, 28, 256, 1, 1, 2, 2, 0, 0, 1, 1, True, False),
    "conv2d_l3": (2, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, 1, 1, False, False),
    "conv2d_l4_down": (2, 256, 14, 14, 512, 3, 3, 2, 2, 1, 1, 1, 1, True, False),
    "conv2d_l4_skip": (2, 256, 14, 14, 512, 1, 1, 2, 2, 0, 0, 1, 1, False, False),
    "conv2d_l4": (2, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1, 1, 1, True, False),
    # Small odd shapes: no tile multiples, stride-2 padding edges, batch 1.
    "conv2d_odd": (1, 3, 11, 11, 5, 3, 3, 2, 2, 1, 1, 1, 1, True, False),
    "conv2d_dilated": (2, 4, 9, 10, 3, 3, 3, 1, 1, 2, 2, 2, 2, True, False),
    "conv2d_rect": (2, 3, 8, 13, 4, 2, 5, 1, 2, 1, 2, 1, 1, True, False),
    "conv2d_nobias": (2, 5, 7, 7, 6, 3, 3, 1, 1, 0, 0, 1, 1, False, False),
    "conv2d_accdx": (3, 6, 10, 9, 7, 3, 2, 2, 1, 1, 0, 1, 2, True, True),
    # Stride 1 runs dx as a forward convolution of dy; these take it with accumulation, and
    # back to GEMM + col2im where that convolution's padding would be negative (pad_h > R-1).
    "conv2d_accdx_s1": (2, 5, 8, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, False, True),
    "conv2d_bigpad": (2, 3, 6, 5, 4, 1, 3, 1, 1, 1, 2, 1, 1, True, False),
    # 3x3 stride 1 (run again with Winograd F(2x2, 3x3) forced on): padding 2 (the data
    # gradient's is then 0) and odd sizes; layer1 at batch 3 takes two chunks of images.
    "conv2d_wino_pad2": (2, 4, 5, 6, 3, 3, 3, 1, 1, 2, 2, 1, 1, True, False),
    "conv2d_l1_n3": (3, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, True, True),
    # A weight gradient summed from 26 partial products (the last one short) in two groups.
    "conv2d_dw_groups": (3, 200, 47, 47, 512, 1, 1, 1, 1, 0, 0, 1, 1, True, False),
}

# Grouped convolutions: the tuple above, then groups. RegNet-X-400MF's 3x3s have 16 channels
# per group (its stage 2 at 64x64 input: 64 channels in 4 groups, stride 1; stage 3's first block:
# 160 in 10 groups, stride 2); then an odd shape with K != C (3 groups of 2 in, 3 out), mixed
# strides, dilation and accumulation.
GROUPED = {
    "conv2d_g_s1": (2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, False, False, 4),
    "conv2d_g_s2": (2, 160, 8, 8, 160, 3, 3, 2, 2, 1, 1, 1, 1, True, False, 10),
    "conv2d_g_odd": (3, 6, 9, 8, 9, 3, 2, 2, 1, 1, 0, 1, 2, True, True, 3),
}


def generate(w):
    g = torch.Generator().manual_seed(20261128)

    def rand(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).float()

    for name, (n, c, h, wd, k, r, s, sh, sw, ph, pw, dh, dw_, bias, acc, *groups) in {**CASES, **GROUPED}.items():
        cg = c // (groups[0] if groups else 1)
        x = rand(n, c, h, wd)
        wt = rand(k, cg, r, s, scale=(cg * r * s) ** -0.5)
        b = rand(k) if bias else None
        x64 = x.double().requires_grad_()
        w64 = wt.double().requires_grad_()
        b64 = b.double().requires_grad_() if bias else None
        y = F.conv2d(x64, w64, b64, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw_),
                     groups=groups[0] if groups else 1)
        dy = rand(*y.shape)
        y.backward(dy.double())
        dw0, db0 = rand(k, cg, r, s), rand(k)
        out = dict(
            shape=torch.tensor([n, c, h, wd, k, r, s, sh, sw, ph, pw, dh, dw_, *groups], dtype=torch.int32),
            x=x, w=wt, dy=dy, dw0=dw0, db0=db0,
        )
        if bias:
            out["b"] = b
        dx = x64.grad
        if acc:
            dx0 = rand(n, c, h, wd)
            out["dx0"] = dx0
            dx = dx + dx0.double()
        out["y"] = y.detach()
        out["dx"] = dx
        out["dw"] = w64.grad + dw0.double()
        # With no bias, db is still dL/db of a zero bias: the sum of dy (the op can be asked).
        out["db"] = (b64.grad if bias else dy.double().sum((0, 2, 3))) + db0.double()
        w.case(name, **out)
