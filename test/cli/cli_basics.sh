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
# No OpenCL platform at all: an empty vendors folder for the ICD loader.
empty=$(mktemp -d)
expect no-platform 1 "no OpenCL platform found" -- env OCL_ICD_VENDORS="$empty" "$bin" devices
rmdir "$empty"
finish
