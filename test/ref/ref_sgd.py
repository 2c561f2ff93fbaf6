"""References for the SGD update: torch.optim.SGD run for several steps in float64 from float32
starting parameters and float32 gradients (a new random gradient each step). p and m hold the
parameters and momentum buffers after each step; p_f32 and m_f32 are PyTorch's own float32 run
of the same steps, so tests can compare cltrain's error with PyTorch's (environment.md)."""
import torch

STEPS = 4
# name, n, lr, momentum, dampening, weight_decay, nesterov
CASES = [
    ("sgd_plain", 1027, 0.01, 0.0, 0.0, 0.0, False),
    ("sgd_momentum", 4099, 0.001, 0.9, 0.0, 0.0, False),  # the tutorial's optimiser
    ("sgd_dampening", 4099, 0.01, 0.9, 0.1, 0.0, False),
    ("sgd_weight_decay", 4099, 0.01, 0.9, 0.0, 1e-4, False),
    ("sgd_decay_only", 513, 0.05, 0.0, 0.0, 1e-2, False),
    ("sgd_nesterov", 1026, 0.01, 0.9, 0.0, 1e-4, True),  # the 2-class head's weight and bias
    ("sgd_one", 1, 0.1, 0.5, 0.25, 1e-3, False),
]


def run(p0, grads, dtype, lr, momentum, dampening, wd, nesterov):
    p = torch.nn.Parameter(p0.to(dtype).clone())
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd,
                          nesterov=nesterov)
    ps, ms = [], []
    for gk in grads:
        p.grad = gk.to(dtype).clone()
        opt.step()
        ps.append(p.detach().clone())
        buf = opt.state[p].get("momentum_buffer") if momentum else None
        ms.append(buf.clone() if buf is not None else torch.zeros_like(p.detach()))
    return torch.stack(ps), torch.stack(ms)


def generate(w):
    g = torch.Generator().manual_seed(99)
    for name, n, lr, momentum, dampening, wd, nesterov in CASES:
        p0 = (torch.rand(n, generator=g) * 2 - 1).float()
        grads = (torch.rand(STEPS, n, generator=g) * 2 - 1).float()
        hp = (lr, momentum, dampening, wd, nesterov)
        p, m = run(p0, grads, torch.float64, *hp)
        p32, m32 = run(p0, grads, torch.float32, *hp)
        f64 = lambda v: torch.tensor([float(v)], dtype=torch.float64)
        w.case(name, p0=p0, g=grads, p=p, m=m, p_f32=p32, m_f32=m32, lr=f64(lr), momentum=f64(momentum),
               dampening=f64(dampening), weight_decay=f64(wd), nesterov=torch.tensor([int(nesterov)]))
