"""Whole-model references for the families that join by concatenation (test/model/test_mobilenet.c):
torchvision 0.14's densenet121 (dense blocks of Concat, BN before each conv, 2x2 AveragePool
transitions that torch exports as a zero Pad + AveragePool) and squeezenet1_1 (Fire modules: two
expand convs joined by Concat; MaxPool with ceil_mode; a 1x1 conv classifier before a global
average pool), 4 classes, seeded random weights and BN statistics (ref_models.randomise),
exported at 64x64 with BN kept, and PyTorch's answers on a batch of 2 (ref_mobilenet.modes):
eval-mode (and for SqueezeNet train-mode: test_mobilenet.c says why not DenseNet's) logits, loss and
every gradient, and a 4-step SGD trajectory (ref_mobilenet.trajectory_case). SqueezeNet's classifier Dropout is set to p = 0 (the export drops
it). Files: densenet121_bn.onnx, dn121_{eval,traj}.ref, squeezenet1_1.onnx,
sqz11_{eval,train,traj}.ref."""
import torch
import torchvision

from ref_mobilenet import CLASSES, SIZE, STEPS, export, modes, trajectory_case
from ref_models import randomise


def generate(w):
    torch.manual_seed(14)
    dn = randomise(torchvision.models.densenet121(num_classes=CLASSES), 141)
    export(dn, w.out / "densenet121_bn.onnx")
    sq = torchvision.models.squeezenet1_1(num_classes=CLASSES)
    sq.classifier[0].p = 0.0
    sq = randomise(sq, 142)
    export(sq, w.out / "squeezenet1_1.onnx")
    gen = torch.Generator().manual_seed(15)
    for name, m, train in (("dn121", dn, False), ("sqz11", sq, True)):
        x = torch.randn(2, 3, SIZE, SIZE, generator=gen)
        modes(w, name, m, x, torch.tensor([2, 1]), (("eval", False), ("train", True))[:1 + train])
        batches = torch.randn(STEPS, 2, 3, SIZE, SIZE, generator=gen)
        trajectory_case(w, name, m, batches, torch.randint(0, CLASSES, (STEPS, 2), generator=gen))
