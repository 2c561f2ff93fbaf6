#!/bin/bash
# train_hymenoptera.sh: the tutorial's run on its own data (skipped when the folder is absent):
# 2 epochs with the backbone frozen, then checks the CSV log, that cv::dnn's accuracy with the
# exported model on val/ equals the log's best val accuracy, and that a run killed (SIGKILL)
# during epoch 2 and resumed from its epoch-1 checkpoint exports bitwise the same model.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
DATA=${CLTRAIN_SOURCE_DIR:?}/../shared/data/hymenoptera
PY=/usr/bin/python3
if [ ! -d "$DATA/train" ] || [ ! -d "$DATA/val" ]; then
  echo "SKIP: $DATA is absent"
  exit 77 # ctest's SKIP_RETURN_CODE: reported as skipped, not passed
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ARGS=(--model "$REF/whole_r18_bn.onnx" --data "$DATA" --freeze all --augment tutorial --epochs 2 --batch 16
      --seed 3)

# The uninterrupted run
start=$(date +%s)
"$BIN" train "${ARGS[@]}" --log "$T/a.csv" --checkpoint "$T/a.ckpt" --plot "$T/a.png" --out "$T/a.onnx" \
  >"$T/a.out" 2>&1 || { bad "run a failed"; cat "$T/a.out"; }
cat "$T/a.out"
echo "uninterrupted run: $(($(date +%s) - start)) s"
[ "$(head -1 "$T/a.csv")" = "epoch,phase,loss,acc,lr,seconds,images_per_s" ] && ok || bad "CSV header"
[ "$(tail -n +2 "$T/a.csv" | wc -l)" = 4 ] && ok || bad "CSV rows"
[ "$(tail -n +2 "$T/a.csv" | awk -F, 'NF == 7 && $6 > 0 && $7 > 0 { n++ } END { print n }')" = 4 ] && ok ||
  bad "CSV columns"
best=$(awk -F, '$2 == "val" && $4 > b { b = $4 } END { printf "%.6f", b }' "$T/a.csv")
best4=$(awk -F, '$2 == "val" && $4 > b { b = $4 } END { printf "%.4f", b }' "$T/a.csv")
grep -q "^best val acc $best4 " "$T/a.out" && ok || bad "summary line and CSV disagree (CSV best $best)"

# cv::dnn on val/ with the exported model and the eval transform
dnn=$($PY - "$T/a.onnx" "$DATA/val" <<'PYEOF'
import cv2, numpy as np, os, sys
net = cv2.dnn.readNetFromONNX(sys.argv[1])
root = sys.argv[2]
classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
exts = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
correct = total = 0
for label, c in enumerate(classes):
    for f in sorted(os.listdir(os.path.join(root, c))):
        if not f.lower().endswith(exts): continue
        img = cv2.imread(os.path.join(root, c, f), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        h, w = img.shape[:2]
        s, l = min(h, w), max(h, w)
        nl = int(256 * l / s)
        rh, rw = (nl, 256) if w <= h else (256, nl)
        interp = cv2.INTER_AREA if rh < h and rw < w else cv2.INTER_LINEAR
        if (rh, rw) != (h, w): img = cv2.resize(img, (rw, rh), interpolation=interp)
        i, j = int(round((rh - 224) / 2.0)), int(round((rw - 224) / 2.0))
        x = img[i:i + 224, j:j + 224, ::-1].astype(np.float32)
        x = x * (1 / (255 * std)) + (-mean / std)
        net.setInput(np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32))
        correct += int(np.argmax(net.forward()[0]) == label); total += 1
print("%.6f %d %d" % (correct / total, correct, total))
PYEOF
)
echo "cv::dnn on val: $dnn (log's best $best)"
[ "${dnn%% *}" = "$best" ] && ok || bad "cv::dnn val accuracy ${dnn%% *} != the log's best $best"

# Killed during epoch 2 (after the epoch-1 checkpoint exists), then resumed
"$BIN" train "${ARGS[@]}" --checkpoint "$T/b.ckpt" --out "$T/b.onnx" >"$T/b.out" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  [ -f "$T/b.ckpt" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.2
done
sleep 3
if kill -0 $pid 2>/dev/null && [ -f "$T/b.ckpt" ]; then
  kill -9 $pid
  wait $pid 2>/dev/null
  ok
else
  bad "run b was not running with its epoch-1 checkpoint to kill"
  cat "$T/b.out"
fi
[ ! -e "$T/b.onnx" ] && ok || bad "the killed run exported"
"$BIN" train "${ARGS[@]}" --checkpoint "$T/b.ckpt" --resume "$T/b.ckpt" --log "$T/b.csv" --out "$T/b.onnx" \
  >"$T/b2.out" 2>&1 || { bad "resume failed"; cat "$T/b2.out"; }
cat "$T/b2.out"
grep -q "^epoch 1/" "$T/b2.out" && bad "the resumed run redid epoch 1" || ok
[ "$(tail -n +2 "$T/b.csv" | cut -d, -f1-4)" = "$(tail -n +2 "$T/a.csv" | cut -d, -f1-4)" ] && ok ||
  bad "resumed log differs in loss/acc"
cmp -s "$T/a.onnx" "$T/b.onnx" && ok || bad "the resumed run's export differs from the uninterrupted one's"
echo "total: $(($(date +%s) - start)) s"
finish
