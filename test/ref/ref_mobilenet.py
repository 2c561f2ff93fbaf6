"""Whole-model references for MobileNetV3-small (test/model/test_mobilenet.c): torchvision 0.14's
mobilenet_v3_small with 4 classes and seeded random weights and BN statistics (ref_models.randomise),
exported at 64x64 with BN kept, and PyTorch's answers on a batch of 2:
  - eval and train mode (batch-statistics BN): logits and loss in float64, every parameter
    gradient in float64 (stored rounded to float32) with PyTorch-float32's own relative error;
  - a 4-step SGD trajectory (lr 0.01, momentum 0.9, train-mode BN, nothing frozen): per tensor
    that moves, w_4 - w_0 in float64 and PyTorch-float32's error on it.
And for mobilenet_v3_large (seed 5): eval-mode logits, loss and gradients.
The classifier's Dropout is set to p = 0: the ONNX graph has none (export drops it), so cltrain
trains the imported classifier without dropout. Files: mnv3{s,l}_bn.onnx,
mnv3s_{eval,train,traj}.ref, mnv3l_eval.ref.
"""
import copy
import warnings

import torch
import torchvision

from ref_models import randomise

CLASSES, SIZE, STEPS, LR, MOMENTUM = 4, 64, 4, 0.01, 0.9


def make_mnv3(arch="mobilenet_v3_small", seed=3):
    torch.manual_seed(seed)
    m = getattr(torchvision.models, arch)(num_classes=CLASSES)
    m.classifier[2].p = 0.0
    return randomise(m, seed * 11)


def export(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(1, 3, SIZE, SIZE), str(path), opset_version=13,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["input"], output_names=["logits"])


def modes(w, name, m32, x, y, which):
    m64 = copy.deepcopy(m32).double()
    for mode, train in which:
        a32, b64 = copy.deepcopy(m32), copy.deepcopy(m64)
        l32, loss32, g32 = grads_of(a32, x, y, train)
        l64, loss64, g64 = grads_of(b64, x.double(), y, train)
        t = {"x": x, "labels": y, "logits64": l64, "logits32": l32, "loss64": loss64.reshape(1)}
        for k in g64:
            t["g64:" + k] = g64[k].float()
            t["e32:" + k] = torch.tensor([rel_l2(g32[k].double(), g64[k])], dtype=torch.float64)
        w.case(f"{name}_{mode}", **t)


def rel_l2(a, ref):
    return float((a - ref).norm() / ref.norm())


def grads_of(model, x, y, train):
    model.train(train)
    model.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    return logits.detach(), loss.detach(), {k: p.grad.detach().clone() for k, p in model.named_parameters()}


def trajectory(model, batches, labels):
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    model.train()
    for k in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(batches[k]), labels[k]).backward()
        opt.step()
    return model


def generate(w):
    m32 = make_mnv3()
    export(m32, w.out / "mnv3s_bn.onnx")
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(2, 3, SIZE, SIZE, generator=gen)
    y = torch.tensor([1, 3])
    modes(w, "mnv3s", m32, x, y, (("eval", False), ("train", True)))
    batches = torch.randn(STEPS, 2, 3, SIZE, SIZE, generator=gen)
    labels = torch.randint(0, CLASSES, (STEPS, 2), generator=gen)
    trajectory_case(w, "mnv3s", m32, batches, labels)

    large = make_mnv3("mobilenet_v3_large", seed=5)
    export(large, w.out / "mnv3l_bn.onnx")
    modes(w, "mnv3l", large, x, y, (("eval", False),))


def trajectory_case(w, name, m32, batches, labels):
    """<name>_traj.ref: the 4-step trajectory of m32 on batches in float32 and float64."""
    start = {k: v.clone() for k, v in m32.state_dict().items()}
    s32 = trajectory(copy.deepcopy(m32), batches, labels).state_dict()
    s64 = trajectory(copy.deepcopy(m32).double(), batches.double(), labels).state_dict()
    t = {"x": batches, "labels": labels}
    for k, v in start.items():
        if k.endswith("num_batches_tracked"):
            continue
        d64 = s64[k] - v.double()
        if torch.count_nonzero(d64) == 0:
            continue  # a BN whose output the hardsigmoid clamps everywhere gets no gradient
        d32 = (s32[k] - v).double()
        t["d64:" + k] = d64.float()
        t["e32:" + k] = torch.tensor([rel_l2(d32, d64)], dtype=torch.float64)
    w.case(f"{name}_traj", **t)
