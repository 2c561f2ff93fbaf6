"""Eval-resize references (test/data/test_transform.c): the output size of torchvision's own
Resize(s) (shorter side to s) on PIL images of odd sizes, where s is the eval resize for a model
input of side `crop`: the tutorial's Resize(256) before CenterCrop(224), scaled along as
crop * 256 // 224 (timm's floor(crop / 0.875)). cltrain's predict and its training loop's
validation must both give these sizes (they used to round s differently: 32 -> 37 and 36)."""
import numpy as np
from PIL import Image
from torchvision import transforms

CROPS = [32, 56, 64, 100, 112, 200, 224, 240]
IMAGES = [(333, 500), (500, 333), (331, 499), (517, 333), (256, 384)]  # (h, w)


def generate(w):
    rows = []
    for crop in CROPS:
        s = crop * 256 // 224
        for h, wd in IMAGES:
            out = transforms.Resize(s)(Image.new("RGB", (wd, h)))
            rows.append((crop, h, wd, s, out.height, out.width))
    w.case("resize_sizes", rows=np.array(rows))
