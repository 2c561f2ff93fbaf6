#!/usr/bin/python3
"""bench_torch.py: PyTorch's side of scripts/bench-vs-pytorch. Times the same training step as
`cltrain bench` (torchvision ResNet-18 with an N-class fc, synthetic data, SGD momentum 0.9;
or, with --arch, torchvision's mobilenet_v3_small or efficientnet_b0 with an N-class last Linear,
as `cltrain bench --model` times `cltrain init --arch`'s file) and prints the same RESULT line.
For those two, Dropout and EfficientNet's stochastic depth are set to p = 0: they are absent
from the ONNX graph cltrain trains (export drops them), so both sides do the same work.

On CUDA (--device cuda) it computes in float32 with TF32 off, as cltrain does, and waits for the
GPU before reading the clock. Each step copies its batch from host memory to the device, as
`cltrain bench` uploads its batch every step, and inference copies the logits back.

Freezing follows cltrain's semantics, not PyTorch's default: the BatchNorm layers of the frozen
part stay in eval mode (running statistics, never updated) while the rest trains, as cltrain's
CLTRAIN_FROZEN_BN_EVAL. Plain PyTorch (requires_grad=False only) would keep them in train mode.
"""
import argparse
import os
import resource
import statistics
import time

import torch
import torchvision

# The modules each freeze spec freezes: cltrain's `all` freezes all but the head stage (for the
# MobileNet and EfficientNet, everything from the pooling on: the whole classifier trains).
FROZEN = {"none": [], "upto:layer3": ["conv1", "bn1", "layer1", "layer2"],
          "all": ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]}
FROZEN_FEATURES = {"none": [], "all": ["features"]}


def make_model(arch, classes):
    if arch == "resnet18":
        model = torchvision.models.resnet18()
        model.fc = torch.nn.Linear(512, classes)
        return model, FROZEN
    model = getattr(torchvision.models, arch)(num_classes=classes)
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Dropout, torchvision.ops.StochasticDepth)):
            mod.p = 0.0
    return model, FROZEN_FEATURES


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
    ap.add_argument("--freeze", default="none", choices=sorted(FROZEN))
    ap.add_argument("--infer", action="store_true", help="time inference only")
    ap.add_argument("--no-infer", action="store_true", help="time training only")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("bench_torch.py: --device cuda, but this torch sees no CUDA GPU")
        torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32, as cltrain computes
        torch.backends.cudnn.allow_tf32 = False

    def sync():  # CUDA runs asynchronously: wait for it before reading the clock
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    torch.manual_seed(1)
    model, specs = make_model(a.arch, a.classes)
    if a.freeze not in specs:
        raise SystemExit(f"bench_torch.py: --freeze {a.freeze} is not defined for {a.arch} ({', '.join(specs)})")
    model.to(dev)
    frozen = [getattr(model, name) for name in specs[a.freeze]]
    for mod in frozen:
        for p in mod.parameters():
            p.requires_grad_(False)

    def train_mode():
        model.train()
        for mod in frozen:  # cltrain's default: frozen BN uses running statistics
            mod.eval()

    g = torch.Generator().manual_seed(7)
    x = torch.rand(a.batch, 3, 224, 224, generator=g) * 2 - 1
    y = torch.randint(0, a.classes, (a.batch,), generator=g)
    train_img_s = 0.0
    if not a.infer:
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.001, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        train_mode()
        times = []
        for _ in range(a.warmup + a.steps):
            sync()
            t0 = time.perf_counter()
            xb = x.clone().to(dev)  # a real loop hands over a new batch every step
            opt.zero_grad()
            loss = loss_fn(model(xb), y.to(dev))
            loss.backward()
            opt.step()
            sync()
            times.append(time.perf_counter() - t0)
        train_img_s = a.batch / statistics.median(times[a.warmup:])
    model.eval()
    times = []
    infer_img_s = 0.0
    with torch.no_grad():
        for _ in range(0 if a.no_infer else a.warmup + a.steps):
            sync()
            t0 = time.perf_counter()
            model(x.clone().to(dev)).cpu()  # cltrain's forward also returns the logits to the host
            sync()
            times.append(time.perf_counter() - t0)
    if not a.no_infer:
        infer_img_s = a.batch / statistics.median(times[a.warmup:])
    # The process's peak resident memory (KiB on Linux): one regime per process, as cltrain bench
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"RESULT train_img_s={train_img_s:.3f} infer_img_s={infer_img_s:.3f} threads={a.threads} batch={a.batch} device={a.device} peak_rss_mib={peak_rss_mib:.1f}")


if __name__ == "__main__":
    main()
