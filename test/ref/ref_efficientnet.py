"""Whole-model references for EfficientNet-B0 (test/model/test_mobilenet.c): torchvision 0.14's
efficientnet_b0 with 4 classes and seeded random weights and BN statistics, exported at 64x64
with BN kept, and PyTorch's eval-mode logits, loss and every gradient on a batch of 2 (float64,
and PyTorch-float32's own error). Eval mode only: train mode draws stochastic depth (absent
from the ONNX graph, where it is the identity) and the classifier's Dropout. It shares
ref_mobilenet.py's helpers; gen.py stamps each script alone, so a change there alone does not
regenerate these. Files: effb0_bn.onnx, effb0_eval.ref."""
from ref_mobilenet import CLASSES, SIZE, export, modes
from ref_models import randomise
import torch
import torchvision


def generate(w):
    torch.manual_seed(8)
    m = randomise(torchvision.models.efficientnet_b0(num_classes=CLASSES), 88)
    export(m, w.out / "effb0_bn.onnx")
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(2, 3, SIZE, SIZE, generator=gen)
    modes(w, "effb0", m, x, torch.tensor([0, 2]), (("eval", False),))
