"""`cltrain eval` / `cltrain predict` references: a tiny ImageFolder and PyTorch's logits for it.

Writes w.out/eval_folder (2 classes, 6 images of varied sizes and formats: PNG, JPEG, grey,
enlarged, shrunk, unchanged, a file name with a space and a comma) and, for each image in
torchvision's ImageFolder order, the float64 logits of ref_whole's seeded ResNet-18 (seed 7, eval
mode, the model in whole_r18_bn.onnx) on the eval transform of module/src/data/transform.cpp
replayed here with cv2 on the same decoded pixels: Resize(256) on the shorter side (INTER_AREA
when both sides shrink, INTER_LINEAR otherwise, none when unchanged), CenterCrop(224), BGR->RGB,
/255, ImageNet normalisation. Also w.out/eval_bad_folder (one corrupt JPEG) for the error tests.
Outputs: eval_folder.ref (logits64 (n, 2), labels (n)) and eval_expected.csv
(path,label,logit0,logit1 with repr() floats), the format `cltrain eval --dump-logits` writes.
"""
import csv
import os

import cv2
import numpy as np
import torch

from ref_whole import make_resnet18

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])

# (class, file name, height, width, grey)
IMAGES = [
    ("cat", "a.png", 300, 400, False),       # both sides shrink: INTER_AREA
    ("cat", "b.jpg", 180, 200, False),       # enlarged: INTER_LINEAR
    ("cat", "c.png", 256, 256, False),       # unchanged size: no resampling
    ("dog", "b c,2.jpg", 500, 260, False),   # CSV quoting of the path
    ("dog", "d.png", 230, 600, True),        # grey; shorter side grows, longer shrinks: LINEAR
    ("dog", "e.png", 700, 1000, False),
]


def make_image(rng, h, w, grey):
    # Smooth gradients plus noise: resampling differences show, and values span 0..255.
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255.0 / w), (y * 255.0 / h), ((x + y) * 127.0 / (w + h))], axis=-1)
    img = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if grey else img


def eval_transform(path, resize=256, crop=224):
    img = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    h, w = img.shape[:2]
    if h <= w:
        rh, rw = resize, int(resize * w / h)
    else:
        rh, rw = int(resize * h / w), resize
    if (rh, rw) != (h, w):
        interp = cv2.INTER_AREA if (rh < h and rw < w) else cv2.INTER_LINEAR
        img = cv2.resize(img, (rw, rh), interpolation=interp)
    i, j = round((rh - crop) / 2.0), round((rw - crop) / 2.0)
    img = img[i:i + crop, j:j + crop, ::-1].astype(np.float64) / 255.0
    return ((img - MEAN) / STD).transpose(2, 0, 1)


def generate(w):
    root = w.out / "eval_folder"
    rng = np.random.RandomState(2024)
    for cls, name, h, wd, grey in IMAGES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / cls / name), make_image(rng, h, wd, grey))
    bad = w.out / "eval_bad_folder"
    for cls in ("cat", "dog"):
        (bad / cls).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(bad / "cat" / "ok.png"), make_image(rng, 240, 240, False))
    (bad / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG" * 4)

    classes = sorted(os.listdir(root))
    rel, labels = [], []
    for c, cls in enumerate(classes):
        for name in sorted(os.listdir(root / cls)):
            rel.append(f"{cls}/{name}")
            labels.append(c)
    x = torch.tensor(np.stack([eval_transform(str(root / p)) for p in rel]))
    model = make_resnet18(seed=7).double().eval()
    with torch.no_grad():
        logits = model(x)
    w.case("eval_folder", logits64=logits, labels=torch.tensor(labels))
    tmp = w.out / "eval_expected.csv.tmp"
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        for p, y, l in zip(rel, labels, logits.tolist()):
            out.writerow([p, y] + [repr(v) for v in l])
    os.replace(tmp, w.out / "eval_expected.csv")
