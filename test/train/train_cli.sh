#!/bin/bash
# train_cli.sh: `cltrain train`'s usage errors and option checks (exit code, message, no output
# file), checkpoints refused (corrupt, truncated, other options) and a tiny successful run with
# its log, plot and checkpoint. The bad-input cases of issue 8 (data, models, devices, disk,
# memory, NaN, another model's checkpoint) are the table in test/cli/bad_input.sh.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
MODEL=$REF/whole_r18_bn.onnx
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
pass=0
fail=0

# Tiny ImageFolders: ok (2 classes, 4+2 images each) and corrupt (a truncated JPEG) for --skip-bad.
$PY "$(dirname "$0")/../common/image_folders.py" "$T"
[ -d "$T/ok/val/dog" ] || { echo "FAIL: could not make the test folders"; exit 1; }

# expect_train CODE PATTERN ARGS...: runs cltrain train ARGS, checks the exit code, that stderr
# matches PATTERN, and that neither $T/out.onnx nor a temporary next to it exists.
expect_train() { # expect_train WANT_RC PATTERN TRAIN_ARGS...: exit code, stderr, no output file
  local code=$1 pat=$2
  shift 2
  rm -f "$T/out.onnx"
  "$BIN" train "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  if [ $rc -ne "$code" ]; then bad "exit $rc, want $code: $*"; cat "$T/stderr"; return; fi
  if ! tr '\n' ' ' <"$T/stderr" | grep -Eq -- "$pat"; then bad "message for '$*' lacks /$pat/:"; cat "$T/stderr"; return; fi
  if ls "$T" | grep -q '^out\.onnx'; then bad "an output file exists after: $*"; return; fi
  ok
}
OK=(--model "$MODEL" --data "$T/ok" --batch 2 --epochs 1)

# usage errors: exit 2
expect_train 2 "required" --model "$MODEL" --data "$T/ok"
expect_train 2 "unknown option '--bogus'" "${OK[@]}" --out "$T/out.onnx" --bogus
expect_train 2 "--augment wants tutorial or none" "${OK[@]}" --out "$T/out.onnx" --augment flip
expect_train 2 "--batch wants an integer >= 1" "${OK[@]}" --out "$T/out.onnx" --batch 0
expect_train 2 "--epochs wants an integer <= 2147483647, got '4294967297'" "${OK[@]}" --out "$T/out.onnx" --epochs 4294967297
expect_train 2 "--regime wants" "${OK[@]}" --out "$T/out.onnx" --regime huge
expect_train 2 "--lr wants a number" "${OK[@]}" --out "$T/out.onnx" --lr fast
# runtime errors: exit 1, the culprit named
expect_train 1 "no layer is named 'layer9'" "${OK[@]}" --out "$T/out.onnx" --freeze upto:layer9
expect_train 1 "log '$T/nodir/log.csv'" "${OK[@]}" --out "$T/out.onnx" --log "$T/nodir/log.csv"
expect_train 1 "CLTRAIN_ERR_IO.*cannot open .$T/missing.onnx" --model "$T/missing.onnx" --data "$T/ok" --out "$T/out.onnx"

# A good tiny run, with --skip-bad over the corrupt folder: log, plot, checkpoint, export.
"$BIN" train "${OK[@]}" --data "$T/corrupt" --skip-bad --freeze all --epochs 2 --seed 7 --out "$T/good.onnx" \
  --log "$T/log.csv" --plot "$T/plot.png" --checkpoint "$T/ck.bin" >"$T/stdout" 2>"$T/stderr"
rc=$?
if [ $rc -ne 0 ]; then bad "good run: exit $rc"; cat "$T/stderr"; fi
grep -q "^epoch 2/2 train loss .* acc .* | val loss .* acc .* | lr 0.001 | .* s, .* img/s, data wait" "$T/stdout" && ok ||
  { bad "per-epoch line"; cat "$T/stdout"; }
grep -q "^best val acc 0\.[0-9]* (epoch [0-2]); .*exported $T/good.onnx" "$T/stdout" && ok || bad "final line"
grep -q "skipped 2 images" "$T/stdout" && ok || { bad "skip count (2 epochs x 1 bad image)"; cat "$T/stdout"; }
[ "$(head -1 "$T/log.csv")" = "epoch,phase,loss,acc,lr,seconds,images_per_s" ] && ok || bad "CSV header"
[ "$(tail -n +2 "$T/log.csv" | cut -d, -f1,2 | tr '\n' ' ')" = "1,train 1,val 2,train 2,val " ] && ok ||
  { bad "CSV rows"; cat "$T/log.csv"; }
$PY -c "import cv2,sys; im=cv2.imread(sys.argv[1]); sys.exit(0 if im is not None and im.shape[1] > 400 and (im < 250).any() else 1)" \
  "$T/plot.png" && ok || bad "plot is not a drawn PNG"
[ -s "$T/good.onnx" ] && ok || bad "no exported model"
ls "$T" | grep -q tmp && bad "a temporary file was left behind" || ok

# Feature caching: refused when forced with augmentation; with --augment none a cached run
# (and its skip of the corrupt image in the cached epoch) exports the uncached run's weights:
# the same bytes where the GEMM backend rounds an image alike whatever its batch (CLBlast,
# OpenBLAS's AVX-512 kernels; test_cache measures which), else every tensor within 1e-5 relative
# L2 (OpenBLAS's AVX2 kernels: the cached features differ in their last bits; a cache bug moves
# the head by its whole update).
expect_train 1 "cannot cache features.*augmented.*--augment none" "${OK[@]}" --freeze all --cache-features --out "$T/out.onnx"
CACHE=("${OK[@]}" --data "$T/corrupt" --skip-bad --freeze all --augment none --epochs 3 --seed 7 --keep last)
"$BIN" train "${CACHE[@]}" --out "$T/cached.onnx" >"$T/stdout" 2>&1 &&
  grep -q "^features cached at .* MiB on the device" "$T/stdout" && grep -q "skipped 3 images" "$T/stdout" && ok ||
  { bad "cached run (features cached, 3 epochs x 1 bad image skipped)"; cat "$T/stdout"; }
"$BIN" train "${CACHE[@]}" --no-cache-features --out "$T/uncached.onnx" >"$T/stdout" 2>&1 &&
  ! grep -q "features cached" "$T/stdout" && { cmp -s "$T/cached.onnx" "$T/uncached.onnx" || $PY -c "
import sys, numpy as np, onnx
from onnx import numpy_helper
a, b = ({t.name: numpy_helper.to_array(t).astype(np.float64) for t in onnx.load(p).graph.initializer} for p in sys.argv[1:])
worst = max(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(b[k]), 1e-30) for k in b if b[k].dtype.kind == 'f')
print('cached vs uncached export: not the same bytes; worst tensor rel L2 %.2e' % worst)
sys.exit(not (a.keys() == b.keys() and worst <= 1e-5))" "$T/cached.onnx" "$T/uncached.onnx"; } && ok ||
  { bad "--no-cache-features run, or its export differs from the cached one"; cat "$T/stdout"; }

# Resuming refuses: other options, corrupt and truncated checkpoints (another model's: bad_input.sh).
expect_train 1 "cannot resume from '$T/ck.bin' with other options: the checkpoint has lr=0.001.*lr=0.01" \
  "${OK[@]}" --data "$T/corrupt" --skip-bad --freeze all --epochs 3 --seed 7 --lr 0.01 --resume "$T/ck.bin" --out "$T/out.onnx"
$PY - "$T/ck.bin" "$T/flip.bin" "$T/short.bin" <<'PYEOF'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
open(sys.argv[3], "wb").write(d[: len(d) // 3])
d[len(d) // 2] ^= 0x10
open(sys.argv[2], "wb").write(d)
PYEOF
RES=("${OK[@]}" --data "$T/corrupt" --skip-bad --freeze all --epochs 3 --seed 7 --out "$T/out.onnx")
expect_train 1 "CLTRAIN_ERR_FORMAT.*'$T/flip.bin' is corrupt or truncated" "${RES[@]}" --resume "$T/flip.bin"
expect_train 1 "CLTRAIN_ERR_FORMAT.*'$T/short.bin' is corrupt or truncated" "${RES[@]}" --resume "$T/short.bin"
expect_train 1 "'$T/log.csv' is not a cltrain checkpoint" "${RES[@]}" --resume "$T/log.csv"
expect_train 1 "cannot open checkpoint '$T/none.bin'" "${RES[@]}" --resume "$T/none.bin"

# --regime small-different: frozen backbone and a hidden 256 head; --head-hidden overrides it.
"$BIN" train "${OK[@]}" --regime small-different --max-steps 0 --out "$T/sd.onnx" >"$T/stdout" 2>&1 &&
  grep -q "no epoch ran" "$T/stdout" && ok || { bad "small-different run"; cat "$T/stdout"; }
"$BIN" train "${OK[@]}" --regime small-different --head-hidden 32,8 --max-steps 0 --out "$T/sd2.onnx" >/dev/null 2>&1
$PY - "$T/sd.onnx" "$T/sd2.onnx" <<'PYEOF' && ok || bad "regime head shapes"
import onnx, sys
def shapes(p):
    return {i.name: list(i.dims) for i in onnx.load(p).graph.initializer if i.name.startswith("fc")}
a, b = shapes(sys.argv[1]), shapes(sys.argv[2])
print(a, b)
assert a == {"fc_hidden.0.weight": [256, 512], "fc_hidden.0.bias": [256], "fc.weight": [2, 256], "fc.bias": [2]}, a
assert b["fc_hidden.0.weight"] == [32, 512] and b["fc_hidden.1.weight"] == [8, 32] and b["fc.weight"] == [2, 8], b
PYEOF

# On a terminal (script(1) gives one): a progress bar per phase, rewritten with \r.
if command -v script >/dev/null; then
  script -qec "$(printf '%q ' "$BIN" train "${OK[@]}" --freeze all --out "$T/tty.onnx")" /dev/null >"$T/tty.out"
  grep -q $'\r\033\[Kepoch 1/1 train \[#*\.*\] 1/4 loss [0-9.]* acc [0-9.]* [0-9.]* img/s ETA' "$T/tty.out" &&
    grep -q $'\r\033\[Kepoch 1/1 val   \[#*\] 2/2 ' "$T/tty.out" && ok || { bad "no progress bar on a tty"; cat -A "$T/tty.out"; }
else
  echo "SKIP: no script(1) for the terminal progress bar"
fi

# The samples: --help, and the feature extractor on the tiny folder.
SAMPLES=$(dirname "$BIN")
"$SAMPLES/finetune" --help | grep -q "^usage: finetune MODEL.onnx DATA_DIR" && ok || bad "finetune --help"
"$SAMPLES/feature_extractor" "$MODEL" "$T/ok" "$T/fe.onnx" 1 >"$T/stdout" 2>&1 && [ -s "$T/fe.onnx" ] &&
  grep -q "^best val acc .*exported $T/fe.onnx" "$T/stdout" && ok || { bad "feature_extractor sample"; cat "$T/stdout"; }

finish
