#!/bin/bash
# mobilenet_cli.sh: `cltrain train` end to end on torchvision's MobileNetV3-small (mnv3s_bn.onnx
# from test/ref/ref_mobilenet.py, 64x64 input): nothing frozen, --freeze all (feature caching) and
# a freezing spec naming the kept classifier layer; and on EfficientNet-B0 (effb0_bn.onnx) with
# nothing frozen; DenseNet-121 with --freeze all and SqueezeNet 1.1 (a new 1x1 conv head) with
# nothing frozen (test/ref/ref_densenet.py). Each export is read back by cv::dnn (Python's cv2,
# one image as cv::dnn 4.6 runs these models) and gives the new head's 2 logits.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
MODEL=${CLTRAIN_REF_DIR:?}/mnv3s_bn.onnx
EFFNET=$CLTRAIN_REF_DIR/effb0_bn.onnx
DENSENET=$CLTRAIN_REF_DIR/densenet121_bn.onnx SQUEEZENET=$CLTRAIN_REF_DIR/squeezenet1_1.onnx
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$PY "$(dirname "$0")/../common/image_folders.py" "$T" >/dev/null
[ -d "$T/ok/val/dog" ] || { echo "FAIL: could not make the test folders"; exit 1; }

for run in "$MODEL none" "$MODEL all" "$MODEL classifier.0" "$EFFNET none" "$DENSENET all" "$SQUEEZENET none"; do
  model=${run% *} freeze=${run##* }
  rm -f "$T/out.onnx"
  expect "train $(basename "$model") --freeze $freeze" 0 "exported $T/out.onnx" -- \
    "$BIN" train --model "$model" --data "$T/ok" --batch 2 --epochs 2 --freeze "$freeze" --seed 3 --out "$T/out.onnx"
  expect "cv::dnn runs the $(basename "$model") --freeze $freeze export" 0 "^logits \(1, 2\) finite$" -- $PY -c "
import cv2, numpy as np
net = cv2.dnn.readNetFromONNX('$T/out.onnx')
net.setInput(np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32))
y = net.forward()
print('logits', y.shape, 'finite' if np.isfinite(y).all() else 'NOT finite')"
done
# --regime big-similar freezes everything before stage3 (ResNet's layer3, MobileNetV3-small's
# features.4): the export keeps stem..stage2's weights bitwise and moves stage3's.
rm -f "$T/out.onnx"
expect "train --regime big-similar on MobileNetV3-small" 0 "exported $T/out.onnx" -- \
  "$BIN" train --model "$MODEL" --data "$T/ok" --batch 2 --epochs 1 --regime big-similar --seed 3 --out "$T/out.onnx"
expect "--regime big-similar froze stem..stage2 and trained stage3" 0 "^frozen features.0-3 same features.4 moved$" -- $PY -c "
import onnx, numpy as np
from onnx import numpy_helper
def w(f):
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(f).graph.initializer}
a, b = w('$MODEL'), w('$T/out.onnx')
common = [k for k in a if k in b and a[k].shape == b[k].shape]
early = [k for k in common if k.split('.')[:2] in (['features', str(n)] for n in range(4))]
late = [k for k in common if k.startswith('features.4.')]
print('frozen features.0-3', 'same' if early and all(np.array_equal(a[k], b[k]) for k in early) else 'CHANGED',
      'features.4', 'moved' if late and any(not np.array_equal(a[k], b[k]) for k in late) else 'NOT moved')"
expect "a freezing spec that names no layer" 1 "classifier.9. matches no parameter layer" -- \
  "$BIN" train --model "$MODEL" --data "$T/ok" --batch 2 --epochs 1 --freeze classifier.9 --out "$T/out.onnx"
finish
