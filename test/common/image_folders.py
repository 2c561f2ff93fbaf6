#!/usr/bin/python3
"""Tiny ImageFolder pairs for the CLI tests, drawn with OpenCV (seeded): image_folders.py ROOT
writes ROOT/ok (classes cat and dog, 4 train and 2 val JPEGs each, 48..72x64 pixels) and the
broken variants: noval (no val/), mismatch (val/ has emu for dog), emptyclass (train/dog empty),
corrupt (train/dog/1.jpg truncated), zeropng (a 0-byte train/cat/empty.png) and textjpg (a text
file val/dog/notes.jpg)."""
import os
import shutil
import sys

import cv2
import numpy as np

root = sys.argv[1]
rng = np.random.default_rng(0)


def mk(d, classes, n):
    for c, cls in enumerate(classes):
        os.makedirs(os.path.join(d, cls), exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)
            img[..., c % 3] //= 3
            cv2.imwrite(os.path.join(d, cls, f"{i}.jpg"), img)


mk(f"{root}/ok/train", ["cat", "dog"], 4)
mk(f"{root}/ok/val", ["cat", "dog"], 2)
mk(f"{root}/noval/train", ["cat", "dog"], 2)
mk(f"{root}/mismatch/train", ["cat", "dog"], 2)
mk(f"{root}/mismatch/val", ["cat", "emu"], 2)
mk(f"{root}/emptyclass/train", ["cat", "dog"], 2)
mk(f"{root}/emptyclass/val", ["cat", "dog"], 2)
shutil.rmtree(f"{root}/emptyclass/train/dog")
os.makedirs(f"{root}/emptyclass/train/dog")
shutil.copytree(f"{root}/ok", f"{root}/corrupt")
data = open(f"{root}/corrupt/train/dog/1.jpg", "rb").read()
open(f"{root}/corrupt/train/dog/1.jpg", "wb").write(data[: len(data) // 2])
shutil.copytree(f"{root}/ok", f"{root}/zeropng")
open(f"{root}/zeropng/train/cat/empty.png", "wb").close()
shutil.copytree(f"{root}/ok", f"{root}/textjpg")
open(f"{root}/textjpg/val/dog/notes.jpg", "w").write("not a JPEG, a text file\n")
