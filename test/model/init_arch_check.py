"""init_arch_check.py ONNX ARCH CLASSES: checks a model `cltrain init --arch ARCH` wrote against
torchvision 0.14's ARCH(num_classes=CLASSES) (test_init_cli.sh runs it):
  - exactly torchvision's state_dict names and shapes (num_batches_tracked aside, which ONNX
    has no place for), hence its parameter count;
  - torchvision's initial values: BN weight 1, bias 0, running mean 0, var 1 and every conv
    bias 0, exactly; conv weights N(0, 2 / fan_out) and the Linears' rule (mobilenet_v3_small:
    N(0, 0.01); efficientnet_b0: U(+-1/sqrt(CLASSES))), each with zero bias.
The weights are draws, so their statistics are checked within sampling error: for n values of
standard deviation s, the sample mean's standard error is s/sqrt(n) and the sample standard
deviation's s/sqrt(2n) (normal; uniform's is smaller); a bound of 6 standard errors fails a
wrong rule (a factor sqrt(2) in the std is 40 standard errors off for the smallest tensor with
n >= 1000, and pooled over all convs far more) and never a right one by chance (6 sigma: 2e-9).
Prints one "ok"/"FAIL" line per check and exits 1 on any failure."""
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torchvision

path, arch, classes = sys.argv[1], sys.argv[2], int(sys.argv[3])
failed = 0


def check(ok, what):
    global failed
    print(("ok   " if ok else "FAIL ") + what)
    failed += not ok


model = onnx.load(path)
ours = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
ref = getattr(torchvision.models, arch)(num_classes=classes)
theirs = {k: tuple(v.shape) for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
check(set(ours) == set(theirs), f"{arch}: torchvision's {len(theirs)} tensor names "
      f"(missing {sorted(set(theirs) - set(ours))[:5]}, extra {sorted(set(ours) - set(theirs))[:5]})")
wrong = [k for k in theirs if k in ours and tuple(ours[k].shape) != theirs[k]]
check(not wrong, f"{arch}: torchvision's shapes (differ: {wrong[:5]})")
nparams = sum(p.numel() for p in ref.parameters())
check(sum(ours[k].size for k, _ in ref.named_parameters() if k in ours) == nparams, f"{arch}: {nparams} parameters")

modules = dict(ref.named_modules())
const = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}
pooled = []  # every conv weight divided by its rule's std
off = []  # constants that are not
for name, value in ours.items():
    owner, _, kind = name.rpartition(".")
    m = modules.get(owner)
    if isinstance(m, torch.nn.BatchNorm2d):
        if not np.all(value == const[kind]):
            off.append(name)
    elif kind == "bias":
        if not np.all(value == 0):
            off.append(name)
    elif isinstance(m, torch.nn.Conv2d):
        pooled.append(value.ravel() / math.sqrt(2.0 / (value.shape[0] * value.shape[2] * value.shape[3])))
    else:  # Linear
        n = value.size
        if arch == "efficientnet_b0":
            bound = 1.0 / math.sqrt(classes)
            sd = bound / math.sqrt(3.0)
            check(np.abs(value).max() <= bound, f"{name}: within +-{bound:.4f}")
        else:
            sd = 0.01
        mean, std = float(value.mean()), float(value.std())
        check(abs(mean) <= 6 * sd / math.sqrt(n) and abs(std / sd - 1) <= 6 / math.sqrt(2 * n),
              f"{name}: mean {mean:.2e}, std {std:.5f} (rule {sd:.5f}, n {n})")
check(not off, f"{arch}: BN 1/0/0/1 and zero biases (not: {off[:5]})")
z = np.concatenate(pooled)
check(abs(z.mean()) <= 6 / math.sqrt(z.size) and abs(z.std() - 1) <= 6 / math.sqrt(2 * z.size),
      f"{arch}: {len(pooled)} conv weights / sqrt(2/fan_out): mean {z.mean():.2e}, std {z.std():.5f} "
      f"(n {z.size}; N(0, 1) wanted)")
for w in pooled:
    if w.size >= 1000 and not (abs(w.mean()) <= 6 / math.sqrt(w.size) and abs(w.std() - 1) <= 6 / math.sqrt(2 * w.size)):
        check(False, f"a conv of {w.size} weights off its rule: mean {w.mean():.3f}, std {w.std():.3f}")
sys.exit(1 if failed else 0)
