"""References for eltwise.h: add (the residual join) and its gradients, from PyTorch in float64
on float32 inputs, at ResNet-18's residual shapes (batch 2) and odd ones."""
import torch


def _rand(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * 2 - 1).float()


def generate(w):
    shapes = {
        "add_layer1": (2, 64, 56, 56),
        "add_layer2": (2, 128, 28, 28),
        "add_layer3": (2, 256, 14, 14),
        "add_layer4": (2, 512, 7, 7),
        "add_odd": (1, 3, 5, 7),
        "add_one": (1,),
    }
    for i, (name, shape) in enumerate(shapes.items()):
        a, b, dy = _rand(shape, 100 + i), _rand(shape, 200 + i), _rand(shape, 300 + i)
        a64, b64 = a.double().requires_grad_(True), b.double().requires_grad_(True)
        y = a64 + b64
        y.backward(dy.double())
        w.case(name, a=a, b=b, dy=dy, y=y, da=a64.grad, db=b64.grad)
