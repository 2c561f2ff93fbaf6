"""sigmoid references (test/ops/test_sigmoid.c): torch.sigmoid and its autograd gradient in float64
on float32 inputs spread over (-12, 12), where it saturates."""
import torch

SIZES = {"effnet_32x32": 2 * 32 * 32 * 32, "odd_1001": 1001, "one": 1}


def generate(w):
    gen = torch.Generator().manual_seed(614)
    for name, n in SIZES.items():
        x = ((torch.rand(n, generator=gen) * 2 - 1) * 12).float()
        dy = torch.randn(n, generator=gen).float()
        xd = x.double().requires_grad_()
        y = torch.sigmoid(xd)
        (y * dy.double()).sum().backward()
        # The backward takes the float32 output the forward wrote: its reference uses it too.
        yf = y.detach().float()
        dx_from_yf = dy.double() * yf.double() * (1 - yf.double())
        w.case(f"sigmoid_{name}", x=x, dy=dy, y=y.detach(), dx=xd.grad, dx_yf=dx_from_yf, yf=yf)
