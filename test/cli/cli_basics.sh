#!/usr/bin/env bash
# cli_basics.sh: the cltrain tool as a user runs it: help, version, devices, and error exits.
set -u
source "$(dirname "$0")/../common/expect.sh"
bin=${CLTRAIN_BIN:?}
expect help 0 "usage: cltrain" -- "$bin" --help
expect version 0 "^cltrain [0-9]+\.[0-9]+\.[0-9]+" -- "$bin" --version
expect no-args 2 "usage" -- "$bin"
expect unknown-command 2 "unknown command 'frobnicate'" -- "$bin" frobnicate
expect devices 0 "^\* .*pthread|^\*.*CPU" -- "$bin" devices
expect devices-pocl 0 "Portable Computing Language" -- "$bin" devices
expect devices-bad-option 2 "unknown option" -- "$bin" devices --bogus
# --verbose: the limits a small GPU would have, as CLTRAIN_DEVICE_LIMITS sets them, and the GEMM line
expect devices-verbose 0 "work-group <= 64 items.*local memory 16 KiB" -- env CLTRAIN_DEVICE_LIMITS=wg=64,local=16K,fp64=0 "$bin" devices --verbose
expect devices-verbose-fp64 0 "fp64 no, fp16 (yes|no), subgroups" -- env CLTRAIN_DEVICE_LIMITS=fp64=0 "$bin" devices --verbose
expect devices-verbose-gemm 0 "GEMM parameters: " -- "$bin" devices --verbose
expect gemm-bad-device 1 "no OpenCL device matches 'no-such-gpu'.*" -- "$bin" gemm-check --device no-such-gpu
expect gemm-bad-device-lists 1 "pthread" -- "$bin" gemm-check --device no-such-gpu
expect gemm-env-device 1 "CLTRAIN_DEVICE" -- env CLTRAIN_DEVICE=zzz "$bin" gemm-check
expect gemm-bad-shape 2 "bad --shape" -- "$bin" gemm-check --shape 0,1,2
expect gemm-missing-value 2 "needs a value" -- "$bin" gemm-check --device
expect gemm-small 0 "gemm-check: ok" -- "$bin" gemm-check --reps 1 --shape 33,47,29 --shape 128,3136,64
# synth: the demo's offline data set, deterministic by seed.
tmp=$(mktemp -d)
expect synth 0 "4 classes x \(3 train \+ 2 val\)" -- "$bin" synth --out "$tmp/s1" --set b --train 3 --val 2 --seed 5
"$bin" synth --out "$tmp/s2" --set b --train 3 --val 2 --seed 5 >/dev/null
n=$(find "$tmp/s1" -name '*.png' | wc -l)
if [ "$n" -eq 20 ] && diff -r "$tmp/s1" "$tmp/s2" >/dev/null && [ -d "$tmp/s1/val/hexagon" ]; then
  pass=$((pass + 1)); echo "ok   synth-deterministic"
else
  fail=$((fail + 1)); echo "FAIL synth-deterministic: $n files, or two runs with one seed differ"
fi
expect synth-bad-set 2 "--set a\|b" -- "$bin" synth --out "$tmp/s3" --set c
expect synth-unwritable 1 "cannot create" -- "$bin" synth --out /proc/nope/x
rm -rf "$tmp"
# One strict number parser for every command (cli_int/cli_u64/cli_number in cli.c): trailing
# junk, overflow, an empty value and out-of-range values are usage errors naming the flag;
# none of these reach a device or a file.
big=99999999999999999999
expect num-gemm-reps 2 "gemm-check: --reps wants an integer in 1\.\.1000000, got '12abc'" -- "$bin" gemm-check --reps 12abc
expect num-gemm-shape 2 "gemm-check: --shape wants an integer in 1\.\.65536, got '3x'" -- "$bin" gemm-check --shape 1,2,3x
expect num-gemm-shape-big 2 "--shape wants an integer in 1\.\.65536, got '$big'" -- "$bin" gemm-check --shape 1,$big,3
expect num-synth-train 2 "synth: --train wants an integer in 1\.\.100000, got '12abc'" -- "$bin" synth --out /nonexistent --train 12abc
expect num-synth-val 2 "synth: --val wants an integer in 1\.\.100000, got ''" -- "$bin" synth --out /nonexistent --val=
expect num-synth-size 2 "synth: --size wants an integer in 16\.\.1024, got '$big'" -- "$bin" synth --out /nonexistent --size $big
expect num-synth-seed 2 "synth: --seed wants an unsigned integer, got '-1'" -- "$bin" synth --out /nonexistent --seed -1
expect num-bench-ops-batch 2 "bench ops: --batch wants an integer in 1\.\.4096, got '12abc'" -- "$bin" bench ops --batch 12abc
expect num-bench-ops-repeats 2 "bench ops: --repeats wants an integer in 1\.\.1000000, got ' 5'" -- "$bin" bench ops --repeats " 5"
expect num-bench-steps 2 "bench: --steps wants an integer in 1\.\.1048576, got '3x'" -- "$bin" bench --steps 3x
expect num-eval-batch 2 "eval: --batch wants an integer in 1\.\.4096, got '12abc'" -- "$bin" eval --model m.onnx --data d --batch 12abc
expect num-eval-workers 2 "eval: --workers wants an integer in 0\.\.256, got '$big'" -- "$bin" eval --model m.onnx --data d --workers $big
expect num-init-classes 2 "init: --classes wants an integer in 1\.\.1000000, got '2x'" -- "$bin" init --classes 2x --out /nonexistent/m.onnx
expect num-init-seed 2 "init: --seed wants an unsigned integer, got '$big'" -- "$bin" init --classes 2 --seed $big --out /nonexistent/m.onnx
expect num-predict-top 2 "predict: --top wants an integer >= 1, got '1x'" -- "$bin" predict --model m.onnx --top 1x a.jpg
expect num-train-epochs 2 "train: --epochs wants an integer >= 0, got '12abc'" -- "$bin" train --model m.onnx --data d --out o.onnx --epochs 12abc
expect num-train-lr 2 "train: --lr wants a number, got '1e999'" -- "$bin" train --model m.onnx --data d --out o.onnx --lr 1e999
expect num-train-seed 2 "train: --seed wants an unsigned integer, got '0x1g'" -- "$bin" train --model m.onnx --data d --out o.onnx --seed 0x1g
# No OpenCL platform at all: an empty vendors folder for the ICD loader.
empty=$(mktemp -d)
expect no-platform 1 "no OpenCL platform found" -- env OCL_ICD_VENDORS="$empty" "$bin" devices
rmdir "$empty"
finish
