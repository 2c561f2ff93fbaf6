"""References for softmax cross-entropy: torch.nn.functional.cross_entropy (mean reduction,
optional label smoothing) and its autograd gradient in float64, from float32 logits. The
gradient is taken of dloss * loss. dlogits_scale = |dloss|/N * (softmax + target) bounds the
size float32 rounding can have in each gradient element (softmax - target cancels there)."""
import torch
import torch.nn.functional as F

# name, N, K, eps, logit scale, confident (label = row max by a wide margin)
CASES = [
    ("xent_head2", 2, 2, 0.0, 3.0, False),  # the tutorial's 2-class head, batch 2
    ("xent_head1000", 2, 1000, 0.0, 3.0, False),  # ImageNet classes
    ("xent_batch16", 16, 2, 0.1, 3.0, False),
    ("xent_batch16_1000", 16, 1000, 0.1, 3.0, False),
    ("xent_odd", 1, 3, 0.0, 1.0, False),
    ("xent_odd_smooth", 5, 7, 0.2, 2.0, False),
    ("xent_huge_logits", 3, 10, 0.05, 200.0, False),  # exp() would overflow without the max shift
    ("xent_confident", 4, 6, 0.0, 1.0, True),  # losses near 1e-7: needs log1p, not log(1 + small)
    ("xent_many_rows", 150, 5, 0.1, 2.0, False),  # more rows than the 64-item work-group
    ("xent_full_smooth", 3, 4, 1.0, 2.0, False),  # eps = 1: a uniform target
]


def generate(w):
    g = torch.Generator().manual_seed(4321)
    for name, n, k, eps, scale, confident in CASES:
        logits = ((torch.rand(n, k, generator=g) * 2 - 1) * scale).float()
        labels = torch.randint(0, k, (n,), generator=g)
        if confident:
            logits[torch.arange(n), labels] = 18.0
        dloss = 0.75
        x = logits.double().requires_grad_()
        loss = F.cross_entropy(x, labels, label_smoothing=eps)
        (loss * dloss).backward()
        p = torch.softmax(x.detach(), 1)
        target = (1 - eps) * F.one_hot(labels, k).double() + eps / k
        w.case(name, logits=logits, labels=labels.int(), eps=torch.tensor([eps], dtype=torch.float64),
               dloss=torch.tensor([dloss], dtype=torch.float64), loss=loss.detach().reshape(1),
               argmax=logits.argmax(1).int(), dlogits=x.grad, dlogits_scale=abs(dloss) / n * (p + target))
