#!/bin/bash
# crash_safety.sh: a training run killed with SIGKILL, (b) in the middle of an epoch and (c) in
# the middle of writing a checkpoint, then resumed, must export bitwise the weights of (a) an
# uninterrupted run, and no checkpoint may ever be left half-written. The kills come from the
# library's test hooks (train_internal.h) so that they land at a known point:
# CLTRAIN_TEST_KILL_AT_STEP=N raises SIGKILL once N SGD steps are done, and
# CLTRAIN_TEST_KILL_IN_WRITE=N halfway through the N-th atomic write's temporary file, before
# its fsync and rename. (train_hymenoptera.sh kills a run from outside with kill -9.)
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

$PY "$(dirname "$0")/../common/image_folders.py" "$T" # $T/ok: 2 classes, 4 train + 2 val images each
[ -d "$T/ok/val/dog" ] || { echo "FAIL: could not make the test folder"; exit 1; }

# 3 epochs of 4 steps; layer4 and the head train, with random crops and flips (seeded). --keep
# last: the export holds the final weights, not an earlier epoch's best.
ARGS=(--model "$REF/whole_r18_bn.onnx" --data "$T/ok" --image-size 64 --batch 2 --epochs 3 --freeze upto:layer3
      --seed 5 --keep last)

# debris NAME: how many temporary files atomic writes left next to $T/NAME.
debris() { ls "$T" | grep -cF "$1.tmp."; }

# (a) uninterrupted
"$BIN" train "${ARGS[@]}" --checkpoint "$T/a.ckpt" --log "$T/a.csv" --out "$T/a.onnx" >"$T/a.out" 2>&1 ||
  { bad "run a failed"; cat "$T/a.out"; }
# The weights move each epoch (else equal exports would prove little): 3 different train losses.
[ "$(awk -F, '$2 == "train" { print $3 }' "$T/a.csv" | sort -u | wc -l)" = 3 ] && ok "a: the loss changes" ||
  { bad "a: train losses do not change"; cat "$T/a.csv"; }
# Checkpoint sizes: each epoch adds its 2 log rows (2 int32 and 6 doubles each) to the final one.
ck3=$(stat -c %s "$T/a.ckpt")
ck1=$((ck3 - 2 * 2 * 56)) ck2=$((ck3 - 2 * 56))

# (b) killed after step 6 of 12 (in epoch 2, after epoch 1's checkpoint), then resumed
CLTRAIN_TEST_KILL_AT_STEP=6 "$BIN" train "${ARGS[@]}" --checkpoint "$T/b.ckpt" --log "$T/b.csv" --out "$T/b.onnx" \
  >"$T/b1.out" 2>&1
rc=$?
[ $rc -eq 137 ] && ok "b: killed by SIGKILL (exit 137)" || { bad "b: exit $rc, want 137 (SIGKILL)"; cat "$T/b1.out"; }
grep -q "^epoch 1/3" "$T/b1.out" && ! grep -q "^epoch 2/3" "$T/b1.out" && ok "b: killed during epoch 2" ||
  { bad "b: not killed during epoch 2"; cat "$T/b1.out"; }
[ ! -e "$T/b.onnx" ] && ok "b: no export" || bad "b: the killed run exported"
[ "$(stat -c %s "$T/b.ckpt")" = "$ck1" ] && ok "b: epoch 1's checkpoint is whole" ||
  bad "b: checkpoint of $(stat -c %s "$T/b.ckpt") bytes, want $ck1"
[ "$(debris b.ckpt)" = 0 ] && ok "b: no temporary file" || bad "b: temporary files left: $(ls "$T")"
"$BIN" train "${ARGS[@]}" --checkpoint "$T/b.ckpt" --resume "$T/b.ckpt" --log "$T/b.csv" --out "$T/b.onnx" \
  >"$T/b2.out" 2>&1 || { bad "b: resume failed"; cat "$T/b2.out"; }
[ "$(grep -c "^epoch [0-9]/3" "$T/b2.out")" = 2 ] && grep -q "^epoch 2/3" "$T/b2.out" &&
  ok "b: resumed at epoch 2" || { bad "b: did not resume at epoch 2"; cat "$T/b2.out"; }
cmp "$T/a.onnx" "$T/b.onnx" && ok "b: export bitwise equal to a's" || bad "b: export differs from a's"
[ "$(cut -d, -f1-5 "$T/b.csv")" = "$(cut -d, -f1-5 "$T/a.csv")" ] && ok "b: log's losses and accuracies equal a's" ||
  { bad "b: log differs"; paste -d' ' "$T/a.csv" "$T/b.csv"; }

# (c) killed halfway through writing epoch 2's checkpoint (the 2nd atomic write: no log, no
# plot), then resumed: epoch 1's checkpoint must be intact and the temporary file the only debris.
CLTRAIN_TEST_KILL_IN_WRITE=2 "$BIN" train "${ARGS[@]}" --checkpoint "$T/c.ckpt" --out "$T/c.onnx" >"$T/c1.out" 2>&1
rc=$?
[ $rc -eq 137 ] && ok "c: killed by SIGKILL (exit 137)" || { bad "c: exit $rc, want 137 (SIGKILL)"; cat "$T/c1.out"; }
grep -q "^epoch 1/3" "$T/c1.out" && ! grep -q "^epoch 2/3" "$T/c1.out" && ok "c: killed at the end of epoch 2" ||
  { bad "c: not killed at the end of epoch 2"; cat "$T/c1.out"; }
[ "$(stat -c %s "$T/c.ckpt")" = "$ck1" ] && ok "c: epoch 1's checkpoint is whole" ||
  bad "c: checkpoint of $(stat -c %s "$T/c.ckpt") bytes, want $ck1"
tmp=$(ls "$T" | grep -F "c.ckpt.tmp.")
[ "$(ls "$T" | grep '^c\.' | tr '\n' ' ')" = "c.ckpt $tmp " ] && [ "$(stat -c %s "$T/$tmp")" = $((ck2 / 2)) ] &&
  ok "c: the checkpoint and one half-written temporary file ($tmp), nothing else" ||
  bad "c: want c.ckpt and one temporary file of $((ck2 / 2)) bytes: $(ls -l "$T")"
"$BIN" train "${ARGS[@]}" --checkpoint "$T/c.ckpt" --resume "$T/c.ckpt" --out "$T/c.onnx" >"$T/c2.out" 2>&1 ||
  { bad "c: resume failed"; cat "$T/c2.out"; }
[ "$(grep -c "^epoch [0-9]/3" "$T/c2.out")" = 2 ] && grep -q "^epoch 2/3" "$T/c2.out" &&
  ok "c: resumed at epoch 2 from epoch 1's checkpoint" || { bad "c: did not resume at epoch 2"; cat "$T/c2.out"; }
[ "$(debris c.ckpt)" = 0 ] && ok "c: the resumed run removed the temporary file" || bad "c: $tmp is still there"
cmp "$T/a.onnx" "$T/c.onnx" && ok "c: export bitwise equal to a's" || bad "c: export differs from a's"
[ "$(stat -c %s "$T/c.ckpt")" = "$ck3" ] && ok "c: final checkpoint whole" || bad "c: final checkpoint size"
finish
