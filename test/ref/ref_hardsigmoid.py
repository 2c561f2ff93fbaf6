"""hardsigmoid references (test/ops/test_hardsigmoid.c): torch.nn.functional.hardsigmoid (what
MobileNetV3 exports as ONNX HardSigmoid, alpha 1/6, beta 1/2) and its autograd gradient in float64
on float32 inputs spread over the ramp (-3, 3) and both flat sides."""
import torch
import torch.nn.functional as F

SIZES = {"mnv3_16x32": 2 * 16 * 32 * 32, "odd_1001": 1001, "one": 1}


def generate(w):
    gen = torch.Generator().manual_seed(613)
    for name, n in SIZES.items():
        x = ((torch.rand(n, generator=gen) * 2 - 1) * 5).float()
        dy = torch.randn(n, generator=gen).float()
        xd = x.double().requires_grad_()
        y = F.hardsigmoid(xd)
        (y * dy.double()).sum().backward()
        w.case(f"hardsigmoid_{name}", x=x, dy=dy, y=y.detach(), dx=xd.grad)
