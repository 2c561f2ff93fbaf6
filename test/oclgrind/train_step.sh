#!/usr/bin/env bash
# train_step.sh: one whole ResNet-18 training step through the CLI (`cltrain train`, batch 2 at
# 32x32, train-mode BN, every layer trained, validation and export) under run.sh, i.e. oclgrind
# --check-api --data-races --uniform-writes, failing on any report. Label oclgrind_step (opt-in:
# see docs/performance.md for its running time).
set -eu
: "${CLTRAIN_BIN:?}" "${CLTRAIN_REF_DIR:?}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$CLTRAIN_BIN" synth --out "$tmp/data" --train 1 --val 1 --size 32 >/dev/null
# Oclgrind's simulated device reports 128 MiB by default (a quarter of it per buffer), below what
# cltrain's memory check asks for ResNet-18 (0.13 GiB at batch 2): give it 2 GiB - 1 (4 GiB
# reads as 0: the option is parsed into 32 bits).
OCLGRIND_EXTRA="--global-mem-size 2147483647" bash "$here/run.sh" "$CLTRAIN_BIN" train --model "$CLTRAIN_REF_DIR/whole_r18_bn.onnx" \
  --data "$tmp/data" --out "$tmp/out.onnx" --image-size 32 --batch 2 --max-steps 1 --epochs 1 \
  --augment none --workers 1 --no-cache-features
test -s "$tmp/out.onnx"
