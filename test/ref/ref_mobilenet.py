"""Whole-model references for MobileNetV3-small (test/model/test_mobilenet.c): torchvision 0.14's
mobilenet_v3_small with 4 classes and seeded random weights and BN statistics (ref_models.randomise),
exported at 64x64 with BN kept, and PyTorch's answers on a batch of 2:
  - eval and train mode (batch-statistics BN): logits and loss in float64, every parameter
    gradient in float64 (stored rounded to float32) with PyTorch-float32's own relative error;
  - a 4-step SGD trajectory (lr 0.01, momentum 0.9, train-mode BN, nothing frozen): per tensor
    that moves, w_4 - w_0 in float64 and PyTorch-float32's error on it.
And for mobilenet_v3_large (seed 5): eval-mode logits, loss and gradients, and train-mode ones on
a batch chosen away from the activations' kinks (kink_margin).
The classifier's Dropout is set to p = 0: the ONNX graph has none (export drops it), so cltrain
trains the imported classifier without dropout. Files: mnv3{s,l}_bn.onnx,
mnv3s_{eval,train,traj}.ref, mnv3l_{eval,train}.ref.
"""
import copy
import warnings

import torch
import torchvision

from ref_models import randomise

CLASSES, SIZE, STEPS, LR, MOMENTUM = 4, 64, 4, 0.01, 0.9
# mnv3l's train-mode batch: torch.randn from this seed, whose kink_margin is 9.1 (seed 12's is 0.1)
MNV3L_TRAIN_SEED, MIN_KINK_MARGIN = 309, 5.0


def make_mnv3(arch="mobilenet_v3_small", seed=3):
    torch.manual_seed(seed)
    m = getattr(torchvision.models, arch)(num_classes=CLASSES)
    m.classifier[2].p = 0.0
    return randomise(m, seed * 11)


def export(model, path, size=SIZE):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.randn(1, 3, size, size), str(path), opset_version=13,
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
    for k in range(len(batches)):
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
    xl = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(MNV3L_TRAIN_SEED))
    margin = kink_margin(large, xl)
    assert margin >= MIN_KINK_MARGIN, f"mnv3l train batch: kink margin {margin:.3g} < {MIN_KINK_MARGIN}"
    modes(w, "mnv3l", large, xl, y, (("train", True),))


def kink_margin(model, x):
    """How far, in train mode, the batch x keeps every ReLU input from 0 and every Hardswish and
    Hardsigmoid input from +-3, in units of PyTorch-float32's largest error on that tensor (the
    smallest such ratio over the network). A float32 input within its rounding error of a kink
    can land on the other side, and one element's mask changes whole layers' gradients: on
    seed 12's batch, mobilenet_v3_large's features.5.block.0 BN output holds 3.2e-7 in float64
    (gamma * xhat cancels beta), cltrain's float32 rounds it below 0 and its ReLU drops that
    element's gradient, 5e-3 to 9e-3 off float64 in every layer below. 5x leaves room for
    cltrain's errors, within ~1.1x of PyTorch-float32's (features.5.block.0.0's output: max
    abs error 3.6e-6 vs 3.3e-6)."""
    inputs = {}
    for dtype in (torch.float64, torch.float32):
        m = copy.deepcopy(model).to(dtype).train()
        seen = inputs[dtype] = []
        for mod in m.modules():
            if isinstance(mod, (torch.nn.ReLU, torch.nn.Hardswish, torch.nn.Hardsigmoid)):
                kinks = (0.0,) if isinstance(mod, torch.nn.ReLU) else (-3.0, 3.0)
                mod.register_forward_pre_hook(lambda _, a, k=kinks, s=seen: s.append((a[0].double().clone(), k)))
        with torch.no_grad():
            m(x.to(dtype))
    margin = float("inf")
    for (a64, kinks), (a32, _) in zip(inputs[torch.float64], inputs[torch.float32]):
        distance = min((a64 - k).abs().min().item() for k in kinks)
        margin = min(margin, distance / (a32 - a64).abs().max().item())
    return margin


def trajectory_case(w, name, m32, batches, labels):
    """<name>_traj.ref: the trajectory of m32 on batches (one step each) in float32 and float64."""
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
