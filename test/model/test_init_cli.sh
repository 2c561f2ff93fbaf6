#!/usr/bin/env bash
# test_init_cli.sh: `cltrain init` and `cltrain bench` as a user runs them: a written model that
# `cltrain info` reads with torchvision's totals, the error exits, and one tiny bench run that
# must print a RESULT line with positive speeds (a check that bench works, not a benchmark).
# For mobilenet_v3_small and efficientnet_b0 also: torchvision's names, shapes, count and
# initial statistics (init_arch_check.py, against torchvision in Python), the same seed gives
# the same bytes (another seed others), and `cltrain train` trains the file (64x64, 1 epoch).
set -u
source "$(dirname "$0")/../common/expect.sh"
bin=${CLTRAIN_BIN:?}
tmp=$(mktemp -d /tmp/cltrain-init-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
expect init 0 "wrote $tmp/r18\.onnx: resnet18, 5 classes, seed 3" -- "$bin" init --classes 5 --out "$tmp/r18.onnx" --seed 3
expect init-info 0 "parameters: 11,179,077 trainable" -- "$bin" info --model "$tmp/r18.onnx"
expect init-names 0 "layer2\.0\.downsample\.0 +conv +128x28x28 +8,192 +stage2" -- "$bin" info --model "$tmp/r18.onnx"
expect init-r34 0 "resnet34, 1000 classes" -- "$bin" init --arch resnet34 --classes 1000 --out "$tmp/r34.onnx"
expect init-r34-info 0 "parameters: 21,797,672 trainable" -- "$bin" info --model "$tmp/r34.onnx"
py=/usr/bin/python3
$py "$(dirname "$0")/../common/image_folders.py" "$tmp/data" >/dev/null
for run in "mobilenet_v3_small 1,522,981" "efficientnet_b0 4,013,953"; do
  arch=${run% *} m="$tmp/${run% *}.onnx"
  expect "init-$arch" 0 "wrote $m: $arch, 5 classes, seed 3" -- "$bin" init --arch "$arch" --classes 5 --out "$m" --seed 3
  expect "init-$arch-info" 0 "parameters: ${run#* } trainable" -- "$bin" info --model "$m"
  expect "init-$arch-torchvision" 0 "^ok   $arch: .* conv weights" -- $py "$(dirname "$0")/init_arch_check.py" "$m" "$arch" 5
  "$bin" init --arch "$arch" --classes 5 --out "$tmp/again.onnx" --seed 3 >/dev/null
  "$bin" init --arch "$arch" --classes 5 --out "$tmp/other.onnx" --seed 4 >/dev/null
  if cmp -s "$m" "$tmp/again.onnx" && ! cmp -s "$m" "$tmp/other.onnx"; then ok "init-$arch-seed-bytes"
  else bad "init-$arch-seed-bytes: seed 3 twice differs, or seed 4 equals it"; fi
  expect "init-$arch-train" 0 "exported $tmp/trained\.onnx" -- "$bin" train --model "$m" --data "$tmp/data/ok" \
    --batch 2 --epochs 1 --image-size 64 --seed 1 --out "$tmp/trained.onnx"
done
expect init-help 0 "usage: cltrain init" -- "$bin" init --help
expect init-help-archs 0 "mobilenet_v3_small .*efficientnet_b0" -- bash -c "'$bin' init --help | tr '\n' ' '"
expect init-bad-arch 1 "unknown architecture 'vgg16'" -- "$bin" init --arch vgg16 --classes 2 --out "$tmp/x.onnx"
expect init-bad-resnet 1 "unknown architecture 'resnet50' \(resnet18, resnet34, mobilenet_v3_small, efficientnet_b0\)" -- \
  "$bin" init --arch resnet50 --classes 2 --out "$tmp/x.onnx"
expect init-classes-0 2 "--classes wants an integer in 1..1000000, got '0'" -- "$bin" init --classes 0 --out "$tmp/x.onnx"
expect init-classes-nan 2 "--classes wants an integer in 1..1000000, got 'two'" -- "$bin" init --classes two --out "$tmp/x.onnx"
expect init-no-out 2 "--out M.onnx are required" -- "$bin" init --classes 2
expect init-bad-seed 2 "--seed wants an unsigned integer, got '-1'" -- "$bin" init --classes 2 --out "$tmp/x.onnx" --seed -1
expect init-unknown 2 "unknown option '--layers'" -- "$bin" init --layers 3
expect init-unwritable 1 "CLTRAIN_ERR_IO.*|cannot write $tmp/no/x\.onnx" -- "$bin" init --classes 2 --out "$tmp/no/x.onnx"
if [ -e "$tmp/x.onnx" ]; then fail=$((fail + 1)); echo "FAIL a failed init left $tmp/x.onnx"; else pass=$((pass + 1)); fi

num='[0-9]+\.[0-9]+'
expect bench 0 "^RESULT train_img_s=$num infer_img_s=$num device_mib=$num" -- "$bin" bench --steps 1 --warmup 0 --batch 2
out=$("$bin" bench --model "$tmp/r18.onnx" --steps 1 --warmup 0 --batch 1 --freeze all --classes 3 2>&1)
if grep -qE "^RESULT train_img_s=0*[1-9]|^RESULT train_img_s=0\.[0-9]*[1-9]" <<<"$out" &&
   grep -qE "infer_img_s=([1-9]|0\.[0-9]*[1-9])" <<<"$out"; then
  pass=$((pass + 1)); echo "ok   bench-model-speeds-positive"
else
  fail=$((fail + 1)); echo "FAIL bench --model: no positive speeds:"; echo "$out"
fi
expect bench-help 0 "RESULT train_img_s" -- "$bin" bench --help
expect bench-both 2 "give --arch or --model" -- "$bin" bench --arch resnet18 --model "$tmp/r18.onnx"
expect bench-infer-flags 2 "exclude each other" -- "$bin" bench --infer --no-infer
expect bench-batch-0 2 "bench: --batch wants an integer in 1..1048576, got '0'" -- "$bin" bench --batch 0
expect bench-bad-arch 1 "unknown architecture 'resnet5'" -- "$bin" bench --arch resnet5
expect bench-bad-arch-list 1 "unknown architecture 'vgg16' \(resnet18, resnet34, mobilenet_v3_small, efficientnet_b0\)" -- \
  "$bin" bench --arch vgg16
expect bench-bad-freeze 1 "CLTRAIN_ERR_ARG" -- "$bin" bench --freeze nosuchlayer --steps 1 --warmup 0 --batch 1
expect bench-missing-model 1 "nope\.onnx" -- "$bin" bench --model "$tmp/nope.onnx"
ops=$("$bin" bench ops --batch 1 --repeats 1 2>&1); ops_rc=$?
for pat in "^sgd \(momentum\) +11,689,512 params +[0-9.]+ +[0-9.]+ GB/s" \
           "^layer4 3x3 +512x7x7 k512 3x3/1 +[0-9.]+ +[0-9.]+ GFLOP/s +[0-9.]+ +[0-9.]+ GFLOP/s" \
           "^batchnorm +64x112x112 +[0-9.]+ +[0-9.]+ GB/s"; do
  if [ "$ops_rc" -eq 0 ] && grep -qE -- "$pat" <<<"$ops"; then
    pass=$((pass + 1)); echo "ok   bench-ops /$pat/"
  else
    fail=$((fail + 1)); echo "FAIL bench ops (rc $ops_rc) lacks /$pat/:"; echo "$ops"
  fi
done
expect bench-ops-batch 2 "--batch wants an integer in 1..4096, got .0." -- "$bin" bench ops --batch 0
expect bench-ops-unknown 2 "unknown option '--steps'" -- "$bin" bench ops --steps 3
finish
