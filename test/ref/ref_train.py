"""Trajectory references for transfer-learning training: K SGD steps of PyTorch, replayed in
float64 (the reference) and float32 (PyTorch's own error), from the same start as cltrain.

The start is ref_whole's seeded ResNet-18 (whole_r18_bn.onnx); where cltrain replaces the head,
the new head's weights are predicted exactly from cltrain's seeded RNG (philox.py). Each config
records the batches, and for every tensor that moves, the change w_K - w_0 (float64, stored
rounded to float32) plus PyTorch-float32's relative error on that change.
"""
import copy

import numpy as np
import torch

from philox import Rng, linear_init
from ref_whole import make_resnet18

STEPS_PER_EPOCH, EPOCHS, BATCH = 2, 2, 2  # StepLR(step_size=1) puts a boundary inside the run
LR, MOMENTUM, WD, GAMMA = 0.01, 0.9, 1e-4, 0.1
HEAD_SEED = 5

# name: (freeze spec, frozen_bn, hidden sizes, backbone lr multiplier)
CONFIGS = {
    "all": ("all", "eval", [], 1.0),
    "upto_layer3": ("upto:layer3", "eval", [], 1.0),
    "upto_layer3_bntrain": ("upto:layer3", "train", [], 1.0),
    "none": ("none", "eval", [], 0.1),
    "hidden": ("all", "eval", [32], 1.0),
}


def new_head(hidden, classes=2):
    """The head cltrain_model_replace_head builds: hidden Linear->ReLU->Dropout(0) blocks, then fc."""
    rng = Rng(HEAD_SEED, Rng.STREAM_HEAD_INIT)
    layers, fan_in = [], 512
    for i, h in enumerate(hidden + [classes]):
        lin = torch.nn.Linear(fan_in, h)
        w, b = linear_init(rng, fan_in, h)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(hidden):
            layers += [torch.nn.ReLU(), torch.nn.Dropout(0.0)]
        fan_in = h
    return layers


def frozen_prefixes(spec):
    order = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    if spec == "none":
        return []
    if spec == "all":
        return order[:-1]
    if spec.startswith("upto:"):
        return order[: order.index(spec[5:])]
    raise ValueError(spec)


def cltrain_names(model, hidden):
    """state_dict name -> cltrain tensor name (the head's modules are renamed)."""
    names = {}
    for k in model.state_dict():
        if k.startswith("fc."):
            idx, what = k[3:].split(".")
            lin = int(idx) // 3
            names[k] = f"fc.{what}" if lin == len(hidden) else f"fc_hidden.{lin}.{what}"
        elif not k.endswith("num_batches_tracked"):
            names[k] = k
    return names


def run(model, batches, labels, spec, frozen_bn, mult):
    frozen = frozen_prefixes(spec)
    is_frozen = lambda name: any(name == p or name.startswith(p + ".") for p in frozen)
    head, body = [], []
    for name, p in model.named_parameters():
        p.requires_grad_(not is_frozen(name))
        if p.requires_grad:
            (head if name.startswith("fc.") else body).append(p)
    groups = [{"params": head, "lr": LR}] + ([{"params": body, "lr": LR * mult}] if body else [])
    opt = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, weight_decay=WD, nesterov=True)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=GAMMA)
    for epoch in range(EPOCHS):
        model.train()
        if frozen_bn == "eval":  # Keras semantics: frozen BN layers use running statistics
            for name, mod in model.named_modules():
                if isinstance(mod, torch.nn.BatchNorm2d) and is_frozen(name):
                    mod.eval()
        for s in range(STEPS_PER_EPOCH):
            k = epoch * STEPS_PER_EPOCH + s
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batches[k]), labels[k])
            loss.backward()
            opt.step()
        sched.step()
    return model


def generate(w):
    gen = torch.Generator().manual_seed(21)
    k = EPOCHS * STEPS_PER_EPOCH
    batches = torch.randn(k, BATCH, 3, 224, 224, generator=gen)
    labels = torch.randint(0, 2, (k, BATCH), generator=gen)
    base = make_resnet18(seed=7)  # the weights of whole_r18_bn.onnx
    for name, (spec, frozen_bn, hidden, mult) in CONFIGS.items():
        m32 = copy.deepcopy(base)
        m32.fc = torch.nn.Sequential(*new_head(hidden))
        start = {kk: v.clone() for kk, v in m32.state_dict().items()}
        m64 = copy.deepcopy(m32).double()
        run(m32, batches, labels, spec, frozen_bn, mult)
        run(m64, batches.double(), labels, spec, frozen_bn, mult)
        t = {"x": batches, "labels": labels}
        s32, s64 = m32.state_dict(), m64.state_dict()
        for key, cname in cltrain_names(m32, hidden).items():
            d64 = s64[key] - start[key].double()
            if torch.count_nonzero(d64) == 0:
                continue  # frozen: the C test checks these stay bitwise equal
            d32 = (s32[key] - start[key]).double()
            t["d64:" + cname] = d64.float()
            t["e32:" + cname] = torch.tensor([float((d32 - d64).norm() / d64.norm())], dtype=torch.float64)
            if key.startswith("fc."):
                t["init:" + cname] = start[key]
        w.case(f"train_{name}", **t)
