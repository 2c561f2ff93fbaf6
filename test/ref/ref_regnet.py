"""Whole-model references for RegNet-X-400MF (test/model/test_mobilenet.c): torchvision 0.14's
regnet_x_400mf with 4 classes and seeded random weights and BN statistics, exported at 64x64 with
BN kept (its 3x3 convolutions are grouped: 16 channels per group, 2 to 25 groups), and PyTorch's
logits, loss and every gradient on a batch of 2 in eval and train mode (float64, and
PyTorch-float32's own error), and a 4-step SGD trajectory in train mode. (No batch keeps every
ReLU input clear of 0 here as ref_mobilenet.kink_margin asks: seeds 14 to 17 all have margins
below 0.004, with RegNet's ~0.5M ReLU inputs per image; test_mobilenet.c says what that costs.)
It shares ref_mobilenet.py's helpers. Files: regnetx400_bn.onnx, rgx400_{eval,train,traj}.ref."""
from ref_mobilenet import CLASSES, SIZE, STEPS, export, modes, trajectory_case
from ref_models import randomise
import torch
import torchvision


def generate(w):
    torch.manual_seed(4)
    m = randomise(torchvision.models.regnet_x_400mf(num_classes=CLASSES), 44)
    export(m, w.out / "regnetx400_bn.onnx")
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(2, 3, SIZE, SIZE, generator=gen)
    modes(w, "rgx400", m, x, torch.tensor([3, 1]), (("eval", False), ("train", True)))
    batches = torch.randn(STEPS, 2, 3, SIZE, SIZE, generator=gen)
    trajectory_case(w, "rgx400", m, batches, torch.randint(0, CLASSES, (STEPS, 2), generator=gen))
