#!/usr/bin/python3
"""compare_onnx.py START A B BOUND: the weight changes A - START and B - START of two exports of
the same model agree: ||(A - START) - (B - START)|| / ||A - START|| <= BOUND over all initializers
that moved, and at least one moved. Prints the relative difference."""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def weights(path):
    return {t.name: numpy_helper.to_array(t).astype(np.float64) for t in onnx.load(path).graph.initializer}


w0, a, b = (weights(p) for p in sys.argv[1:4])
bound = float(sys.argv[4])
num = den = 0.0
moved = []
for name, v0 in w0.items():
    da, db = a[name] - v0, b[name] - v0
    if np.any(da != 0):
        moved.append(name)
    num += float(np.sum((da - db) ** 2))
    den += float(np.sum(da ** 2))
if not moved:
    print("FAIL nothing moved")
    sys.exit(1)
rel = (num / den) ** 0.5
print(f"moved {len(moved)} tensors ({', '.join(moved[:4])}...): relative L2 of the change {rel:.3g} (bound {bound:g})")
sys.exit(0 if rel <= bound else 1)
