"""mul references (test/ops/test_mul.c): y = a * b in float64 on float32 inputs and autograd's
gradients, with b of a's shape (hardswish's x * hardsigmoid(x)) or (N,C,1,1) broadcast over the
plane (squeeze-excitation's x * scale), at MobileNetV3-small shapes (64x64 input, batch 2)."""
import torch

# name: (a's shape, broadcast b per channel)
CASES = {
    "mul_same_mnv3": ((2, 16, 32, 32), False),
    "mul_same_odd": ((1, 3, 5, 7), False),
    "mul_se_mnv3": ((2, 96, 4, 4), True),
    "mul_se_large": ((2, 16, 56, 56), True),
    "mul_se_odd": ((3, 5, 3, 7), True),
}


def generate(w):
    g = torch.Generator().manual_seed(1203)

    def rand(*shape):
        return (torch.rand(*shape, generator=g) * 2 - 1).float()

    for name, (shape, bcast) in CASES.items():
        a = rand(*shape)
        b = rand(shape[0], shape[1], 1, 1) if bcast else rand(*shape)
        dy = rand(*shape)
        a64, b64 = a.double().requires_grad_(), b.double().requires_grad_()
        y = a64 * b64
        y.backward(dy.double())
        plane = shape[2] * shape[3] if bcast else 1
        w.case(name, a=a, b=b, dy=dy, y=y.detach(), da=a64.grad, db=b64.grad,
               plane=torch.tensor([plane], dtype=torch.int32))
