"""concat references (test/ops/test_concat.c): y = torch.cat(xs, 1) in float64 on float32 inputs and
autograd's gradients, at DenseNet-121 (a dense layer's join at 64x64 input, batch 2), SqueezeNet's
Fire (two expands, an odd plane) and odd shapes."""
import torch

# name: (batch, each input's channels, h, w)
CASES = {
    "concat_dense": (2, (64, 32, 32), 16, 16),
    "concat_fire": (2, (64, 64), 15, 15),
    "concat_odd": (3, (3, 1, 5), 3, 7),
}


def generate(w):
    g = torch.Generator().manual_seed(1412)

    def rand(*shape):
        return (torch.rand(*shape, generator=g) * 2 - 1).float()

    for name, (n, chans, h, wd) in CASES.items():
        xs = [rand(n, c, h, wd) for c in chans]
        x64 = [x.double().requires_grad_() for x in xs]
        y = torch.cat(x64, 1)
        dy = rand(*y.shape)
        y.backward(dy.double())
        t = {f"x{k}": x for k, x in enumerate(xs)}
        t.update({f"dx{k}": x.grad for k, x in enumerate(x64)})
        w.case(name, y=y.detach(), dy=dy, chans=torch.tensor(chans, dtype=torch.int32),
               shape=torch.tensor([n, h, wd], dtype=torch.int32), **t)
