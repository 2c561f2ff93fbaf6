#!/usr/bin/env bash
# gpu_check.sh: scripts/gpu-check where no GPU exists (PoCL), so that the script a GPU machine
# runs stays tested: the bundle holds cltrain, the tests and every library they load but glibc and
# libstdc++; `run --quick` from it passes two tests and a one-step benchmark and prints the table;
# the ICD registration really feeds ocl-icd; and each error exits nonzero naming its culprit.
set -u
source "$(dirname "$0")/../common/expect.sh"
check=${CLTRAIN_SOURCE_DIR:?}/scripts/gpu-check
build=$(dirname "$(dirname "${CLTRAIN_BIN:?}")")
T=$(mktemp -d /tmp/cltrain-gpu-check-XXXXXX)
trap 'rm -rf "$T"' EXIT
unset CLTRAIN_NVIDIA_OPENCL
nvidia=0
if ls /usr/local/nvidia/lib*/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 >/dev/null 2>&1; then
  echo "note: an NVIDIA OpenCL driver is installed here: the quick run uses it instead of PoCL"
  nvidia=1
fi

# --pack at xz's fastest level (the real one, -9, takes minutes)
XZ_OPT=-0 expect bundle 0 "bundle $T/b: cltrain, [0-9]+ tests, [0-9]+ libraries" -- "$check" bundle --build "$build" --out "$T/b" --pack
if tar -tJf "$T/b.tar.xz" | grep -qx "b/lib/libclblast.so.1"; then ok "packed"; else bad "$T/b.tar.xz lacks b/lib/libclblast.so.1"; fi
# carried: cltrain's own libraries; never carried: glibc and libstdc++ (the newer system ones serve)
for lib in libOpenCL.so.1 libclblast.so.1 libopencv_dnn.so.406 libprotobuf.so.32; do
  if [ -f "$T/b/lib/$lib" ]; then ok "bundle-has-$lib"; else bad "bundle lacks $lib"; fi
done
for lib in libc.so.6 libstdc++.so.6 libm.so.6; do
  if [ -e "$T/b/lib/$lib" ]; then bad "bundle carries $lib"; else ok "bundle-leaves-$lib"; fi
done
if grep -q '"exe": "test_relu"' "$T/b/manifest.json" && grep -q '"script": "test/model/info_cli.sh"' "$T/b/manifest.json" &&
   ! grep -q '"label": "data"' "$T/b/manifest.json"; then
  ok "manifest-lists-ops-model-train"
else
  bad "manifest.json lacks test_relu or info_cli, or lists data tests:"; head -30 "$T/b/manifest.json"
fi
# a twin runs with its switches on the GPU machine too (not as a repeat of the plain test), and
# no path of this build travels
if /usr/bin/python3 - "$T/b/manifest.json" <<'EOF'
import json, sys
t = {e["name"]: e.get("env", {}) for e in json.load(open(sys.argv[1]))["tests"]}
sys.exit(not (t.get("test_relu_clblast") == {"CLTRAIN_GEMM": "clblast"} and t.get("test_relu") == {}
              and t.get("test_pool_gpushape") == {"CLTRAIN_KERNEL_SHAPE": "gpu"}
              and "CLTRAIN_DEVICE_LIMITS" in t.get("test_relu_small_gpu", {})))
EOF
then ok "manifest-carries-twin-switches"; else bad "manifest.json lacks the twins' CLTRAIN_GEMM / KERNEL_SHAPE / DEVICE_LIMITS"; fi

# The smoke run, from the archive as on a GPU machine: PoCL's device (no NVIDIA driver here), the
# bundle's libraries only.
out=$("$check" run --bundle "$T/b.tar.xz" --quick --work "$T/w" --report "$T/r" 2>&1); rc=$?
has() { # has NAME PATTERN: a line of $out matches PATTERN
  if grep -qE -- "$2" <<<"$out"; then ok "$1"; else bad "$1: no line matches /$2/"; fi
}
row() { has "$1" "^\| $2 \|\$"; } # row NAME PATTERN: a table row matches "| PATTERN |"
if [ "$rc" -eq 0 ]; then ok "quick-exit-0"; else bad "quick run: rc=$rc"; fi
has archive-unpacked "^gpu-check: bundle $T/w/bundle/b \(cltrain "
[ "$nvidia" = 1 ] || has fallback-note "^gpu-check: no libnvidia-opencl\.so\.1 \(searched .*\): falling back to the installed OpenCL drivers"
row table-device "OpenCL device \| .*\(CLTRAIN_DEVICE=[0-9]+:[0-9]+\).*"
row table-ops "ops tests \| 1 passed, 0 failed \([0-9]+ s\)"
row table-model "model tests \| 1 passed, 0 failed \([0-9]+ s\)"
row table-torch "PyTorch \| [0-9].* on .*"
row table-time "time \| tests [0-9]+ s, benchmark [0-9]+ s, all [0-9]+ s"
num='[0-9]+\.[0-9]+'
for regime in "all layers trained" "conv1\.\.layer2 frozen" "only fc trained" "inference"; do
  row "table-$regime" "$regime, batch 1 \(images/s\) \| cltrain $num, PyTorch $num, ratio $num"
done
if grep -qE "^\| ops tests" "$T/r/gpu-check.md" && [ -f "$T/r/bench.log" ] && [ ! -s "$T/r/failed-tests.log" ]; then
  ok "report-files"
else
  bad "report folder: $(ls -l "$T/r" 2>&1)"
fi
[ "$rc" -eq 0 ] || echo "$out" | tail -40

# NVIDIA's driver registered through OCL_ICD_VENDORS: PoCL's ICD library stands in for it, and the
# device list it yields proves ocl-icd read the folder; lacking an NVIDIA GPU, the run stops.
pocl=$(head -n 1 /etc/OpenCL/vendors/pocl.icd 2>/dev/null)
for dir in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
  [ "${pocl#/}" = "$pocl" ] && [ -f "$dir/$pocl" ] && pocl=$dir/$pocl
done
[ -f "$pocl" ] || pocl=
if [ -n "$pocl" ]; then
  out=$(CLTRAIN_NVIDIA_OPENCL=$pocl "$check" run --bundle "$T/b" --quick --work "$T/w2" 2>&1); rc=$?
  if [ "$rc" -eq 1 ]; then ok "icd-exit-1"; else bad "icd run: rc=$rc (want 1)"; fi
  has icd-registered "registered $pocl for ocl-icd in OCL_ICD_VENDORS=$T/w2/icd\$"
  has icd-read "^\* 0:0 .*Portable Computing Language"
  has icd-no-nvidia "$pocl is registered, but no NVIDIA GPU is among the OpenCL devices above"
  if [ "$(cat "$T/w2/icd/nvidia.icd" 2>/dev/null)" = "$pocl" ]; then ok "icd-file"; else bad "icd file: $(cat "$T/w2/icd/nvidia.icd" 2>&1)"; fi
else
  bad "no PoCL ICD library found to stand in for NVIDIA's"
fi
: >"$T/libnvidia-opencl.so.1"
CLTRAIN_NVIDIA_OPENCL=$T/libnvidia-opencl.so.1 expect driver-broken 1 \
  "found no OpenCL device although $T/libnvidia-opencl\.so\.1 is registered" -- "$check" run --bundle "$T/b" --quick --work "$T/w3"

# Bad input: each names its culprit and exits 1.
expect no-build 1 "no cltrain at $T/nobuild/bin/cltrain" -- "$check" bundle --build "$T/nobuild" --out "$T/x"
expect no-archive 1 "no bundle archive $T/nope\.tar\.xz" -- "$check" run --bundle "$T/nope.tar.xz"
mkdir "$T/empty"
expect not-a-bundle 1 "$T/empty is no bundle" -- "$check" run --bundle "$T/empty"
expect unknown-test 1 "no test named nope in the bundle" -- "$check" run --bundle "$T/b" --tests test_relu,nope
printf 'not xz' >"$T/bad.tar.xz"
expect bad-archive 1 "bad\.tar\.xz" -- "$check" run --bundle "$T/bad.tar.xz"
rm "$T/b/lib/libclblast.so.1"
out=$("$check" run --bundle "$T/b" --quick --work "$T/w4" 2>&1); rc=$?
if [ "$rc" -eq 1 ]; then ok "missing-lib-exit-1"; else bad "missing lib: rc=$rc (want 1)"; fi
has missing-lib-bundle "bundle $T/b is not whole:"
# missing on a machine without CLBlast; found outside the bundle here, which counts as broken too
has missing-lib-name "libclblast\.so\.1 \(needed by cltrain\) (is missing|resolves outside the bundle)"
if grep -qE "^  (ok|FAIL) " <<<"$out"; then bad "a test ran from the broken bundle"; else ok "missing-lib-no-run"; fi
finish
