#!/usr/bin/env bash
# test_eval_cli.sh: `cltrain eval` and `cltrain predict` as a user runs them, against PyTorch's
# logits for the tiny ImageFolder of test/ref/ref_eval.py: the dumped logits, loss, accuracy and
# confusion matrix, the top-k probabilities, the picture grid's size, and the error exits.
set -u
source "$(dirname "$0")/../common/expect.sh"
bin=${CLTRAIN_BIN:?} ref=${CLTRAIN_REF_DIR:?}
py=/usr/bin/python3
model=$ref/whole_r18_bn.onnx data=$ref/eval_folder expected=$ref/eval_expected.csv
work=$(mktemp -d /tmp/cltrain_eval_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---- eval: every logit, the loss, accuracy and confusion matrix against PyTorch ----
out=$("$bin" eval --model "$model" --data "$data" --batch 4 --dump-logits "$work/logits.csv" 2>&1); rc=$?
echo "$out"
[ "$rc" -eq 0 ] && ok "eval runs" || bad "eval rc=$rc"
# Float32 against PyTorch float64 on the same decoded pixels: ~4e-7 relative L2 (test_eval_api);
# 1e-5 as in test_whole. A transform slip (crop offset, interpolation) moves logits by >= 1e-3.
check=$("$py" - "$work/logits.csv" "$expected" <<'EOF' 2>&1
import csv, math, re, sys
got = list(csv.reader(open(sys.argv[1])))
want = list(csv.reader(open(sys.argv[2])))
errors = []
if [r[:2] for r in got] != [r[:2] for r in want]:
    errors.append(f"paths/labels differ: {[r[:2] for r in got]} vs {[r[:2] for r in want]}")
g = [float(v) for r in got for v in r[2:]]
w = [float(v) for r in want for v in r[2:]]
if len(g) != len(w):
    errors.append(f"{len(g)} logits, want {len(w)}")
else:
    e = math.sqrt(sum((a - b) ** 2 for a, b in zip(g, w))) / math.sqrt(sum(b * b for b in w))
    print(f"dump rel L2 {e:.2e}")
    if e > 1e-5:
        errors.append(f"logits rel L2 {e:.2e} > 1e-5")
# what eval must print, from PyTorch's logits
k = len(want[0]) - 2
loss, correct, conf = 0.0, 0, [[0] * k for _ in range(k)]
for r in want:
    y, l = int(r[1]), [float(v) for v in r[2:]]
    mx = max(l)
    loss += math.log(sum(math.exp(v - mx) for v in l)) + mx - l[y]
    p = max(range(k), key=lambda j: l[j])
    correct += p == y
    conf[y][p] += 1
print(f"LOSS {loss / len(want):.10f}")
print(f"ACC {correct}/{len(want)}")
for row in conf:
    print("CONF " + " +".join(str(c) for c in row))
for e in errors:
    print("ERROR " + e)
EOF
)
echo "$check"
grep -q "^ERROR" <<<"$check" && bad "dump-logits vs PyTorch" || ok "dump-logits vs PyTorch (paths, labels, logits)"
want_loss=$(sed -n 's/^LOSS //p' <<<"$check")
got_loss=$(sed -n 's/^loss: //p' <<<"$out")
if "$py" -c "import sys; g, w = float('$got_loss'), float('$want_loss'); sys.exit(abs(g - w) > 1e-5 * abs(w))"; then
  ok "loss $got_loss vs PyTorch $want_loss (rel 1e-5)"
else bad "loss $got_loss vs PyTorch $want_loss"; fi
want_acc=$(sed -n 's/^ACC //p' <<<"$check")
grep -qF "($want_acc)" <<<"$out" && ok "accuracy ($want_acc)" || bad "accuracy: want ($want_acc)"
mapfile -t conf < <(sed -n 's/^CONF //p' <<<"$check")
grep -qE "^cat +${conf[0]}\$" <<<"$out" && grep -qE "^dog +${conf[1]}\$" <<<"$out" \
  && grep -qE "^ +cat +dog\$" <<<"$out" && ok "confusion matrix" || bad "confusion matrix: want rows ${conf[*]}"
ls "$work" | grep -q tmp && bad "eval left a temporary file" || ok "no temporary file left"
# batch size does not change the result beyond float32 rounding: bitwise on batch-invariant GEMM
# backends, but OpenBLAS's AVX2 kernels round an image's columns differently with the GEMM's
# width (seen: 3e-6 on logits of ~1); 1e-5 is test_whole's bound on logits against float64
expect eval-device 0 "device: .*(pthread|CPU)" -- "$bin" eval --model "$model" --data "$data" --batch 16 --device cpu --dump-logits "$work/logits16.csv"
"$py" - "$work/logits.csv" "$work/logits16.csv" <<'EOF' && ok "batch 16 = batch 4 (1e-5)" || bad "batch 16 differs from batch 4"
import csv, sys
a, b = (list(csv.reader(open(p))) for p in sys.argv[1:])
sys.exit(not (len(a) == len(b) == 6 and all(x[:2] == y[:2] and all(abs(float(u) - float(v)) <= 1e-5 * (1 + abs(float(v)))
         for u, v in zip(x[2:], y[2:])) for x, y in zip(a, b))))
EOF

# ---- predict: top-k softmax vs PyTorch, names, grid ----
images=()
while IFS= read -r rel; do images+=("$data/$rel"); done < <("$py" -c "import csv,sys; [print(r[0]) for r in csv.reader(open(sys.argv[1]))]" "$expected")
out=$("$bin" predict --model "$model" --data "$data" --grid "$work/grid.png" "${images[@]}" 2>&1); rc=$?
echo "$out"
[ "$rc" -eq 0 ] && ok "predict runs" || bad "predict rc=$rc"
echo "$out" >"$work/predict.txt"
"$py" - "$expected" "$work/predict.txt" <<'EOF' && ok "predict: top-1 = PyTorch argmax, probabilities = softmax (1e-5)" || bad "predict vs PyTorch"
import csv, math, re, sys
want = list(csv.reader(open(sys.argv[1])))
names = ["cat", "dog"]
lines = open(sys.argv[2]).read().splitlines()
ok = True
for r in want:
    l = [float(v) for v in r[2:]]
    mx = max(l)
    p = [math.exp(v - mx) for v in l]
    p = [v / sum(p) for v in p]
    order = sorted(range(len(p)), key=lambda j: -p[j])
    i = next(i for i, s in enumerate(lines) if s.endswith("/" + r[0]))
    for rank, j in enumerate(order):  # default top: min(5, 2 classes) = 2 lines
        m = re.match(r"\s+(\d+)\. (\S+)\s+([0-9.]+)$", lines[i + 1 + rank])
        if not m or int(m[1]) != rank + 1 or m[2] != names[j] or abs(float(m[3]) - p[j]) > 1e-5:
            print(f"{r[0]} rank {rank + 1}: got '{lines[i + 1 + rank]}', want {names[j]} {p[j]:.6f}")
            ok = False
sys.exit(not ok)
EOF
# 6 images, 4 per row: 2 rows of 224 + 32 (caption) px, 4 columns of 224 px
size=$("$py" -c "import cv2,sys; m = cv2.imread(sys.argv[1]); print(m.shape if m is not None else None)" "$work/grid.png")
[ "$size" = "(512, 896, 3)" ] && ok "grid is 896x512" || bad "grid size $size, want (512, 896, 3)"
# the caption strip holds dark text pixels under each of the 6 thumbnails, and none under the empty cells
"$py" - "$work/grid.png" <<'EOF' && ok "grid captions drawn under 6 cells" || bad "grid captions"
import cv2, sys
g = cv2.imread(sys.argv[1])
ink = [int((g[r * 256 + 224:r * 256 + 256, c * 224:(c + 1) * 224] < 128).any()) for r in range(2) for c in range(4)]
sys.exit(ink != [1, 1, 1, 1, 1, 1, 0, 0])
EOF
expect predict-labels 0 "1\. +x +0\.[0-9]+" -- "$bin" predict --model "$model" --labels x,y --top 1 "${images[0]}"
expect predict-top1-only 0 "^  1\. " -- bash -c "'$bin' predict --model '$model' --top 1 '${images[0]}' | grep -v '  2\.'"
expect predict-default-names 0 "1\. class0 " -- "$bin" predict --model "$model" "${images[0]}"
expect predict-top-clamped 0 "2\. class1 " -- "$bin" predict --model "$model" --top 9 "${images[0]}"

# ---- errors: exit codes and messages ----
expect eval-missing-model 1 "nope\.onnx" -- "$bin" eval --model "$ref/nope.onnx" --data "$data"
expect eval-class-mismatch 1 "model '.*resnet18_bn_op13\.onnx' has 1000 classes but the data '.*eval_folder' has 2 class folders" \
  -- "$bin" eval --model "$ref/resnet18_bn_op13.onnx" --data "$data"
expect eval-corrupt-image 1 "eval_bad_folder/dog/broken\.jpg" -- "$bin" eval --model "$model" --data "$ref/eval_bad_folder" --dump-logits "$work/bad.csv"
[ -e "$work/bad.csv" ] && bad "failed eval wrote its dump" || ok "failed eval leaves no dump"
expect eval-missing-data 1 "image folder '$work/nodir'" -- "$bin" eval --model "$model" --data "$work/nodir"
expect eval-unknown-option 2 "unknown option '--bogus'" -- "$bin" eval --model "$model" --data "$data" --bogus
expect eval-no-data 2 "--model M.onnx and --data DIR are required" -- "$bin" eval --model "$model"
expect eval-bad-batch 2 "--batch wants an integer in 1\.\.4096, got '0'" -- "$bin" eval --model "$model" --data "$data" --batch 0
expect eval-unwritable-dump 1 "cannot write '$work/nodir/x\.csv" -- "$bin" eval --model "$model" --data "$data" --dump-logits "$work/nodir/x.csv"
expect eval-help 0 "usage: cltrain eval" -- "$bin" eval --help
expect predict-missing-model 1 "nope\.onnx" -- "$bin" predict --model "$ref/nope.onnx" "${images[0]}"
expect predict-corrupt-image 1 "'.*eval_bad_folder/dog/broken\.jpg'" -- "$bin" predict --model "$model" "${images[0]}" "$ref/eval_bad_folder/dog/broken.jpg"
expect predict-missing-image 1 "'$work/none\.png'" -- "$bin" predict --model "$model" "$work/none.png"
expect predict-class-mismatch 1 "has 1000 classes but the data '.*eval_folder' has 2 class folders" \
  -- "$bin" predict --model "$ref/resnet18_bn_op13.onnx" --data "$data" "${images[0]}"
expect predict-labels-count 2 "--labels names 3 classes, the model '.*' has 2" -- "$bin" predict --model "$model" --labels a,b,c "${images[0]}"
expect predict-labels-and-data 2 "--labels or --data, not both" -- "$bin" predict --model "$model" --labels a,b --data "$data" "${images[0]}"
expect predict-bad-top 2 "--top wants an integer >= 1, got '0'" -- "$bin" predict --model "$model" --top 0 "${images[0]}"
expect predict-no-image 2 "at least one IMAGE" -- "$bin" predict --model "$model"
expect predict-unknown-option 2 "unknown option '--bogus'" -- "$bin" predict --model "$model" --bogus "${images[0]}"
expect predict-grid-bad-format 1 "cannot encode '$work/g\.xyz'" -- "$bin" predict --model "$model" --grid "$work/g.xyz" "${images[0]}"
ls "$work" | grep -qE "g\.xyz" && bad "failed grid left a file" || ok "failed grid leaves no file"
expect predict-help 0 "usage: cltrain predict" -- "$bin" predict --help
expect listed-eval 0 "eval +loss, accuracy" -- "$bin" --help
expect listed-predict 0 "predict +top-k classes" -- "$bin" --help
finish
