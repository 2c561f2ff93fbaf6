"""Whole-model references for EfficientNet-B0 (test/model/test_mobilenet.c): torchvision 0.14's
efficientnet_b0 with 4 classes and seeded random weights and BN statistics, exported at 64x64
with BN kept, and PyTorch's logits, loss and every gradient on a batch of 2 in eval and train
mode (float64, and PyTorch-float32's own error), and a 4-step SGD trajectory in train mode.
Train mode sets stochastic depth's and the classifier Dropout's p to 0: both are absent from the
ONNX graph (the identity at inference), and cltrain trains without them. The export is in eval
mode, so p does not change the graph. It shares ref_mobilenet.py's helpers; gen.py stamps each
script alone, so a change there alone does not regenerate these. Files: effb0_bn.onnx,
effb0_{eval,train,traj}.ref."""
from ref_mobilenet import CLASSES, SIZE, STEPS, export, modes, trajectory_case
from ref_models import randomise
import torch
import torchvision


def generate(w):
    torch.manual_seed(8)
    m = randomise(torchvision.models.efficientnet_b0(num_classes=CLASSES), 88)
    export(m, w.out / "effb0_bn.onnx")
    for sub in m.modules():
        if isinstance(sub, (torchvision.ops.StochasticDepth, torch.nn.Dropout)):
            sub.p = 0.0
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(2, 3, SIZE, SIZE, generator=gen)
    modes(w, "effb0", m, x, torch.tensor([0, 2]), (("eval", False), ("train", True)))
    batches = torch.randn(STEPS, 2, 3, SIZE, SIZE, generator=gen)
    trajectory_case(w, "effb0", m, batches, torch.randint(0, CLASSES, (STEPS, 2), generator=gen))
