"""References for relu (test/ops/test_relu.c): torch.relu and its autograd gradient in float64 on
float32 inputs, with exact zeros and negative zeros among the inputs."""
import torch

SIZES = {"r18_64x112": 2 * 64 * 112 * 112, "odd_1001": 1001, "one": 1}


def generate(w):
    gen = torch.Generator().manual_seed(99)
    for name, n in SIZES.items():
        x = torch.randn(n, generator=gen).float()
        if n > 3:
            x[::7] = 0.0   # the mask is y > 0: zeros pass no gradient
            x[1::11] = -0.0
        dy = torch.randn(n, generator=gen).float()
        xd = x.double().requires_grad_()
        y = torch.relu(xd)
        (y * dy.double()).sum().backward()
        w.case(f"relu_{name}", x=x, dy=dy, y=y.detach().float(), dx=xd.grad.float())
