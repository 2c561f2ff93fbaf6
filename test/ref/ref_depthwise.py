"""depthwise references (test/ops/test_depthwise.c): F.conv2d with groups = C and its autograd
gradients in float64, from float32 inputs. Stored as ref_conv2d.py stores its cases (`shape` as
n c h w k r s stride_h stride_w pad_h pad_w dil_h dil_w with k = c; x, w (C,1,R,S), b, dy, dx0,
dw0, db0; y, dx, dw = dw0 + grad, db = db0 + grad)."""
import torch
import torch.nn.functional as F

# name: (n, c, h, w, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, bias, accumulate)
CASES = {
    # MobileNetV3-small's depthwise shapes at a 64x64 input, batch 2 (3x3 and 5x5, stride 1 and 2).
    "dw_mnv3_s2_3x3": (2, 16, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, False, False),
    "dw_mnv3_3x3": (2, 88, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, False, True),
    "dw_mnv3_s2_5x5": (2, 96, 8, 8, 5, 5, 2, 2, 2, 2, 1, 1, False, False),
    "dw_mnv3_5x5": (2, 240, 4, 4, 5, 5, 1, 1, 2, 2, 1, 1, False, False),
    # A large plane (EfficientNet-B0's first depthwise at 112x112 input): long weight-gradient sums.
    "dw_large": (2, 32, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, True, False),
    # Odd geometry: rectangular window and strides, dilation, bias, batch 3, accumulated dx.
    "dw_odd": (3, 5, 11, 9, 3, 2, 2, 1, 1, 0, 2, 2, True, True),
}


def generate(w):
    g = torch.Generator().manual_seed(20261203)

    def rand(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).float()

    for name, (n, c, h, wd, r, s, sh, sw, ph, pw, dh, dw_, bias, acc) in CASES.items():
        x = rand(n, c, h, wd)
        wt = rand(c, 1, r, s, scale=(r * s) ** -0.5)
        b = rand(c) if bias else None
        x64, w64 = x.double().requires_grad_(), wt.double().requires_grad_()
        b64 = b.double().requires_grad_() if bias else None
        y = F.conv2d(x64, w64, b64, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw_), groups=c)
        dy = rand(*y.shape)
        y.backward(dy.double())
        dw0, db0 = rand(c, 1, r, s), rand(c)
        out = dict(shape=torch.tensor([n, c, h, wd, c, r, s, sh, sw, ph, pw, dh, dw_], dtype=torch.int32),
                   x=x, w=wt, dy=dy, dw0=dw0, db0=db0)
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
        out["db"] = (b64.grad if bias else dy.double().sum((0, 2, 3))) + db0.double()
        w.case(name, **out)
