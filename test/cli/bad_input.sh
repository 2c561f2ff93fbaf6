#!/bin/bash
# bad_input.sh: `cltrain train` on each kind of bad input, one table row per case. Each row
# checks the exit code (the expected one, 1..127: an error, never a signal), that the message
# names the culprit (file, node, device, option), and that no file changed: every file under
# the test folder (the output folder with an earlier run's model, checkpoint and log in it, the
# data, the full-disk mount) keeps its size, mtime and checksum, and no file (a temporary one
# included) appears. Ends with the table of what each case printed.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
MODEL=$REF/whole_r18_bn.onnx
PY=/usr/bin/python3
T=$(mktemp -d)
LOGS=$(mktemp -d) # outside $T: the runs' stdout and stderr are not part of the snapshot
FULL=$T/full
trap 'mountpoint -q "$FULL" && umount "$FULL"; rm -rf "$T" "$LOGS"' EXIT

# Tiny ImageFolders: ok (2 classes, 4+2 images each) and broken variants (see image_folders.py).
$PY "$(dirname "$0")/../common/image_folders.py" "$T"
[ -f "$T/textjpg/val/dog/notes.jpg" ] || { echo "FAIL: could not make the test folders"; exit 1; }

# The output folder holds an earlier good run's model, checkpoint and log; every case writes
# (or would write) there, and none may change them.
O=$T/out
mkdir -p "$O"
ARGS=(--batch 2 --epochs 1 --freeze all --image-size 64 --augment none)
OUT=(--out "$O/model.onnx" --checkpoint "$O/ck.bin" --log "$O/log.csv")
"$BIN" train --model "$MODEL" --data "$T/ok" "${ARGS[@]}" "${OUT[@]}" >"$LOGS/setup" 2>&1 ||
  { echo "FAIL: the setup run failed"; cat "$LOGS/setup"; exit 1; }
touch "$T/file.txt" # "a folder" that is a regular file: not writable, for root too

# The full disk: a tmpfs holding a copy of the checkpoint, with room for only a third of another.
ck_bytes=$(stat -c %s "$O/ck.bin")
disk=""
if [ "$(id -u)" != 0 ]; then
  disk="not root, cannot mount a small tmpfs"
elif ! mkdir -p "$FULL" || ! mount -t tmpfs -o size=$((ck_bytes * 4 / 3 / 4096 * 4096 + 8192)) cltrain-full "$FULL"; then
  disk="mount -t tmpfs failed (a container without CAP_SYS_ADMIN?)"
else
  cp "$O/ck.bin" "$FULL/ck.bin"
fi

# snapshot: every path under $T with its type, and every file's size, mtime and checksum (not
# folders' mtimes: the writability probe creates and deletes a file in the output folder).
snapshot() {
  (cd "$T" && find . -printf '%y %p\n' | sort && find . -type f -printf '%p %s %T@\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0 md5sum)
}

TABLE=()
# row NAME WANT_RC PATTERN -- ARGS...: runs `cltrain ARGS`, checks the exit code, that the output
# (stderr and stdout, newlines as spaces) matches the ERE PATTERN and that the snapshot is unchanged.
row() {
  local name=$1 want=$2 pat=$3
  shift 4
  local before after rc
  before=$(snapshot)
  "$BIN" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
  rc=$?
  after=$(snapshot)
  TABLE+=("$(printf '%-22s %4d  %s' "$name" "$rc" "$(grep -v '^cltrain: ' "$LOGS/$name.err" | head -1 | sed 's/^ *//')")")
  local msg
  msg=$(cat "$LOGS/$name.err" "$LOGS/$name.out" | tr '\n' ' ')
  if [ "$rc" -lt 1 ] || [ "$rc" -gt 127 ]; then
    bad "$name: exit $rc is not an error exit (1..127; over 128 is a signal)"
  elif [ "$rc" -ne "$want" ]; then
    bad "$name: exit $rc, want $want"
  elif ! grep -Eq -- "$pat" <<<"$msg"; then
    bad "$name: the message lacks /$pat/"
  elif [ "$before" != "$after" ]; then
    bad "$name: files changed:"
    diff <(echo "$before") <(echo "$after") | head
  else
    ok "$name"
    return
  fi
  cat "$LOGS/$name.err"
}

TRAIN=(train --model "$MODEL" --data "$T/ok" "${ARGS[@]}")
# name                 exit  the message names                       the command
row corrupt-jpeg          1 "CLTRAIN_ERR_.*'$T/corrupt/train/dog/1\.jpg'" -- \
  "${TRAIN[@]}" "${OUT[@]}" --data "$T/corrupt"
row empty-png             1 "'$T/zeropng/train/cat/empty\.png' is an empty file" -- \
  "${TRAIN[@]}" "${OUT[@]}" --data "$T/zeropng"
row text-as-jpg           1 "cannot decode image '$T/textjpg/val/dog/notes\.jpg'" -- \
  "${TRAIN[@]}" "${OUT[@]}" --data "$T/textjpg"
row empty-class           1 "$T/emptyclass/train/dog" -- \
  "${TRAIN[@]}" "${OUT[@]}" --data "$T/emptyclass"
row class-mismatch        1 "CLTRAIN_ERR_FORMAT.*$T/mismatch.*emu" -- \
  "${TRAIN[@]}" "${OUT[@]}" --data "$T/mismatch"
row missing-val           1 "$T/noval/val" -- \
  "${TRAIN[@]}" "${OUT[@]}" --data "$T/noval"
row truncated-onnx        1 "CLTRAIN_ERR_FORMAT.*'$REF/bad_truncated\.onnx' is not an ONNX model" -- \
  "${TRAIN[@]}" "${OUT[@]}" --model "$REF/bad_truncated.onnx"
row unsupported-op        1 "bad_unsupported\.onnx': node 'onnx_node!/act/Softmax' \(type Softmax\)" -- \
  "${TRAIN[@]}" "${OUT[@]}" --model "$REF/bad_unsupported.onnx"
row no-classifier         1 "bad_no_classifier\.onnx': the model ends in node '[^']*GlobalAveragePool'.*not in a fully-connected classifier" -- \
  "${TRAIN[@]}" "${OUT[@]}" --model "$REF/bad_no_classifier.onnx"
row classes-0             1 "at least 1 class, got 0" -- \
  "${TRAIN[@]}" "${OUT[@]}" --classes 0
row freeze-nothing        1 "freeze spec 'nosuch': 'nosuch' matches no parameter layer" -- \
  "${TRAIN[@]}" "${OUT[@]}" --freeze nosuch
row unwritable-folder     1 "folder '$T/file\.txt' is not writable" -- \
  "${TRAIN[@]}" --out "$T/file.txt/model.onnx"
if [ -z "$disk" ]; then
  row full-disk           1 "CLTRAIN_ERR_IO.*cannot write '$FULL/ck\.bin': No space left on device" -- \
    "${TRAIN[@]}" --out "$FULL/model.onnx" --checkpoint "$FULL/ck.bin"
else
  echo "SKIP full-disk: $disk"
  TABLE+=("$(printf '%-22s %4s  %s' full-disk - "skipped: $disk")")
fi
row no-such-device        1 "no OpenCL device matches 'nosuch'; the devices are: .*[0-9]:[0-9] " -- \
  "${TRAIN[@]}" "${OUT[@]}" --device nosuch
# 8 images of 8192x8192: the first conv's output alone is 32 GiB. The memory check must refuse it
# before any buffer is made (PoCL would accept the buffers and the kernel OOM killer end the run).
# The memory checks, against a fake small device (CLTRAIN_DEVICE_LIMITS), so that the case
# does not depend on this machine's memory: all buffers over the device's memory, then one
# buffer over its largest allocation; both refused before any buffer is made.
CLTRAIN_DEVICE_LIMITS=mem=2G,alloc=1G \
row batch-too-large       1 "CLTRAIN_ERR_OUT_OF_MEMORY.*a batch of 8 images of 8192x8192 needs .* GiB on device '.*', which has 2.00 GiB .*try a smaller --batch" -- \
  "${TRAIN[@]}" "${OUT[@]}" --batch 8 --image-size 8192
# The plan in one arena (a fake 200 MiB device that allows it in one buffer), at batch 4 with
# every layer training: named as the arena, with the freezing hint.
CLTRAIN_DEVICE_LIMITS=mem=200M,alloc=200M \
row arena-too-large       1 "CLTRAIN_ERR_OUT_OF_MEMORY.*a batch of 4 images of 224x224 .* MiB in one arena.*largest buffer: the activation arena \([0-9]+ activation buffers in one allocation\).*hint: train fewer layers: --freeze" -- \
  "${TRAIN[@]}" "${OUT[@]}" --batch 4 --image-size 224 --freeze none
CLTRAIN_DEVICE_LIMITS=alloc=64M \
row buffer-too-large      1 "CLTRAIN_ERR_OUT_OF_MEMORY.*a batch of 2 images of 1024x1024 .*largest buffer: [^,]+, 0\.[0-9]+ GiB; the device allows 0.06 GiB per buffer.*try a smaller --batch" -- \
  "${TRAIN[@]}" "${OUT[@]}" --batch 2 --image-size 1024
# --lr 1e38 overflows the logits in the second step (--lr 1e9 with --freeze all only grows them
# to ~1e12, a finite loss).
row nan-loss              1 "CLTRAIN_ERR_NUMERIC.*epoch 1, step 2: the training loss is -?(nan|inf).*smaller --lr" -- \
  "${TRAIN[@]}" "${OUT[@]}" --lr 1e38
row other-models-ckpt     1 "CLTRAIN_ERR_FORMAT.*checkpoint '$O/ck\.bin' belongs to a different model" -- \
  "${TRAIN[@]}" "${OUT[@]}" --model "$REF/resnet18_bn_op13.onnx" --resume "$O/ck.bin"

echo
echo "case                   exit  message (first line after the status)"
printf '%s\n' "${TABLE[@]}"
echo
finish
