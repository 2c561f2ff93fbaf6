"""References for batchnorm (test/ops/test_batchnorm.c): torch.nn.functional.batch_norm in float64
on float32 inputs, train and eval mode, plain and followed by ReLU, with autograd gradients for a
random upstream dy. Outputs are stored rounded to float32 (2^-24 relative, far below any bound)."""
import torch
import torch.nn.functional as F

EPS, MOMENTUM = 1e-5, 0.1

# Every BatchNorm2d shape of ResNet-18 at batch 2, and small odd ones: one image, 1x1 planes,
# a plane longer than one 1024-float piece with a ragged tail, M = 3 values per channel (at M = 2
# xhat is +-1 and train-mode dx is 0 up to eps: all rounding noise, no test of anything).
SHAPES = {
    "r18_64x112": (2, 64, 112, 112),
    "r18_64x56": (2, 64, 56, 56),
    "r18_128x28": (2, 128, 28, 28),
    "r18_256x14": (2, 256, 14, 14),
    "r18_512x7": (2, 512, 7, 7),
    "odd_1x3x5x7": (1, 3, 5, 7),
    "odd_3x5x1x1": (3, 5, 1, 1),
    "odd_2x3x33x35": (2, 3, 33, 35),
    "odd_1x2x1x3": (1, 2, 1, 3),
}


def run(x, gamma, beta, rm, rv, dy, training, relu):
    """float64 forward and backward; returns y, dx, dgamma, dbeta, running_mean, running_var."""
    x = x.double().requires_grad_()
    g = gamma.double().requires_grad_()
    b = beta.double().requires_grad_()
    rm, rv = rm.double().clone(), rv.double().clone()
    y = F.batch_norm(x, rm, rv, g, b, training=training, momentum=MOMENTUM, eps=EPS)
    if relu:
        y = torch.relu(y)
    (y * dy.double()).sum().backward()
    return y.detach(), x.grad, g.grad, b.grad, rm, rv


def generate(w):
    gen = torch.Generator().manual_seed(1234)

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float32)

    for name, (n, c, h, wd) in SHAPES.items():
        # Channels with their own offset and scale, so the variance pass has cancellation to get
        # right; gamma of both signs, nothing at PyTorch's defaults.
        shift = uniform((1, c, 1, 1), -3, 3)
        scale = uniform((1, c, 1, 1), 0.5, 2)
        x = (torch.randn((n, c, h, wd), generator=gen) * scale + shift).float()
        gamma = uniform((c,), 0.3, 1.5) * torch.where(torch.rand(c, generator=gen) < 0.3, -1.0, 1.0)
        beta = uniform((c,), -0.5, 0.5)
        rm = uniform((c,), -1, 1)
        rv = uniform((c,), 0.5, 2)
        dy = torch.randn((n, c, h, wd), generator=gen).float()
        t = dict(x=x, gamma=gamma, beta=beta, running_mean=rm, running_var=rv, dy=dy)
        xd = x.double()
        var = xd.var(dim=(0, 2, 3), unbiased=False)
        t["mean"] = xd.mean(dim=(0, 2, 3)).float()
        t["invstd"] = (1 / torch.sqrt(var + EPS)).float()
        for mode, training in (("train", True), ("eval", False)):
            for tag, relu in (("", False), ("relu_", True)):
                y, dx, dg, db, rm1, rv1 = run(x, gamma, beta, rm, rv, dy, training, relu)
                t[f"{tag}y_{mode}"] = y.float()
                t[f"{tag}dx_{mode}"] = dx.float()
                t[f"{tag}dgamma_{mode}"] = dg.float()
                t[f"{tag}dbeta_{mode}"] = db.float()
                if training and not relu:
                    t["running_mean_train"] = rm1.float()
                    t["running_var_train"] = rv1.float()
        w.case(f"batchnorm_{name}", **t)
