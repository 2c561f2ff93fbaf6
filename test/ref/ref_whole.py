"""Whole-model references: ResNet-18 logits, loss and every parameter gradient, from PyTorch.

One seeded torchvision ResNet-18 with a 2-class head and randomised BN (gamma, beta and running
statistics: default BN would make torch emit Identity nodes that OpenCV refuses, and is a weaker
test) is exported with BN kept (TrainingMode.PRESERVE). For a fixed batch and labels it records,
in eval mode and in train mode (batch-statistics BN):
  - logits and loss in float64 (the reference) and float32 (PyTorch's own float32 answer);
  - every parameter gradient in float64, and PyTorch-float32's relative L2 error against it, so
    tests can compare cltrain's error with PyTorch's own (see environment.md, Numerics);
  - train mode: the BN running statistics after the step.
"""
import copy

import torch
import torchvision


def make_resnet18(seed, classes=2):
    torch.manual_seed(seed)
    m = torchvision.models.resnet18(weights=None)
    m.fc = torch.nn.Linear(512, classes)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(c, generator=g))
                mod.bias.copy_(0.2 * (torch.rand(c, generator=g) - 0.5))
                mod.running_mean.copy_(0.1 * (torch.rand(c, generator=g) - 0.5))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=g))
    return m


def export(model, path, opset=13, keep_bn=True):
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, x, str(path), opset_version=opset, training=mode,
                      input_names=["input"], output_names=["logits"],
                      do_constant_folding=not keep_bn)


def rel_l2(a, ref):
    return float((a - ref).norm() / ref.norm())


def grads_of(model, x, y, train):
    model.train(train)
    model.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    g = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    return logits.detach(), loss.detach(), g


def generate(w):
    m32 = make_resnet18(seed=7)
    export(m32, w.out / "whole_r18_bn.onnx")
    m64 = copy.deepcopy(m32).double()
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3, 224, 224, generator=gen)
    y = torch.tensor([0, 1])
    for mode, train in (("eval", False), ("train", True)):
        a32, b64 = copy.deepcopy(m32), copy.deepcopy(m64)
        l32, loss32, g32 = grads_of(a32, x, y, train)
        l64, loss64, g64 = grads_of(b64, x.double(), y, train)
        t = {"x": x, "labels": y, "logits64": l64, "logits32": l32,
             "loss64": loss64.reshape(1), "loss32": loss32.reshape(1)}
        for k in g64:
            # The float64 gradient is stored rounded to float32 (relative error 6e-8, far below
            # any bound used) to halve the file; PyTorch-float32's own error against it is kept
            # as one number per tensor, computed here in full double precision.
            t["g64:" + k] = g64[k].float()
            t["e32:" + k] = torch.tensor([rel_l2(g32[k].double(), g64[k])], dtype=torch.float64)
        if train:
            for k, v in b64.state_dict().items():
                if k.endswith("running_mean") or k.endswith("running_var"):
                    t["run64:" + k] = v
        w.case(f"whole_r18_{mode}", **t)
