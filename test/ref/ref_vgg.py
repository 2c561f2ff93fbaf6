"""Whole-model references for VGG-11 with BN (test/model/test_vgg.c): torchvision 0.14's vgg11_bn
with 4 classes and seeded random weights and BN statistics (ref_models.randomise), exported with
BN kept at 224x224, the smallest size it exports at: its AdaptiveAvgPool2d(7) exports only when
the features' output (input / 32) is a multiple of 7 (at 32..223 torch refuses: "output size that
are not factor of input size"); at 224 it is an AveragePool with a 1x1 window. PyTorch's answers
on batches of 2 (ref_mobilenet.modes, trajectory_case):
  - eval mode: logits and loss in float64, every parameter gradient in float64 (stored rounded to
    float32) with PyTorch-float32's own relative error;
  - a 2-step SGD trajectory (lr 0.01, momentum 0.9, train-mode BN, nothing frozen): w_2 - w_0 per
    tensor in float64 and PyTorch-float32's error on it. 2 steps, not 4: each costs ~46 GFLOP in
    cltrain (ResNet-18's is ~21), and the second step already runs on momentum and on running
    statistics the first moved.
The classifier's two Dropouts are set to p = 0: the ONNX graph has none (export drops them), so
cltrain trains the imported classifier without dropout. The gradients and the trajectory each
take 515 MB (129M parameters, 103M of them classifier.0's 4096x25088 weight). Files:
vgg11_bn.onnx, vgg11_{eval,traj}.ref."""
import torch
import torchvision

from ref_mobilenet import CLASSES, export, modes, trajectory_case
from ref_models import randomise

SIZE, STEPS = 224, 2


def generate(w):
    torch.manual_seed(21)
    m = torchvision.models.vgg11_bn(num_classes=CLASSES)
    m.classifier[2].p = m.classifier[5].p = 0.0
    m = randomise(m, 211)
    export(m, w.out / "vgg11_bn.onnx", SIZE)
    gen = torch.Generator().manual_seed(22)
    x = torch.randn(2, 3, SIZE, SIZE, generator=gen)
    modes(w, "vgg11", m, x, torch.tensor([3, 0]), (("eval", False),))
    batches = torch.randn(STEPS, 2, 3, SIZE, SIZE, generator=gen)
    trajectory_case(w, "vgg11", m, batches, torch.randint(0, CLASSES, (STEPS, 2), generator=gen))
