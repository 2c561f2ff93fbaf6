"""References for the fully connected layer: torch.nn.functional.linear and its autograd
gradients in float64, from float32 inputs. Parameter gradients are added to random starting
values (dw0, db0) because cltrain accumulates them; dx_acc is dx0 + dy·W (OP_ACCUMULATE).
Each result R also comes with R_scale, the same sums taken over absolute values: float32 rounding
errors scale with it, not with R itself when the terms cancel."""
import torch
import torch.nn.functional as F

# name, N, IN, OUT, bias
CASES = [
    ("linear_head2", 2, 512, 2, True),  # ResNet-18 head, the tutorial's 2 classes
    ("linear_head1000", 2, 512, 1000, True),  # ResNet-18's ImageNet head
    ("linear_hidden1", 2, 512, 256, True),  # a hidden head 512 -> 256 -> 2
    ("linear_hidden2", 2, 256, 2, True),
    ("linear_batch16", 16, 512, 2, True),
    ("linear_batch16_1000", 16, 512, 1000, True),
    ("linear_odd", 1, 7, 3, True),
    ("linear_nobias", 3, 5, 4, False),
]


def generate(w):
    g = torch.Generator().manual_seed(1234)

    def rand(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).float()

    for name, n, fin, fout, bias in CASES:
        x, wt = rand(n, fin), rand(fout, fin, scale=fin ** -0.5)
        b = rand(fout, scale=fin ** -0.5) if bias else None
        dy, dx0, dw0, db0 = rand(n, fout), rand(n, fin), rand(fout, fin), rand(fout)
        x64 = x.double().requires_grad_()
        w64 = wt.double().requires_grad_()
        b64 = b.double().requires_grad_() if bias else None
        y = F.linear(x64, w64, b64)
        y.backward(dy.double())
        ax, aw, ady = x.double().abs(), wt.double().abs(), dy.double().abs()
        t = dict(x=x, w=wt, dy=dy, dx0=dx0, dw0=dw0, db0=db0, y=y.detach(), dx=x64.grad,
                 dx_acc=dx0.double() + x64.grad, dw=dw0.double() + w64.grad,
                 y_scale=ax @ aw.T + (b.double().abs() if bias else 0), dx_scale=ady @ aw,
                 dx_acc_scale=dx0.double().abs() + ady @ aw, dw_scale=dw0.double().abs() + ady.T @ ax)
        if bias:
            t.update(b=b, db=db0.double() + b64.grad, db_scale=db0.double().abs() + ady.sum(0))
        w.case(name, **t)
