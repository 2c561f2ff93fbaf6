#!/usr/bin/env bash
# install.sh BUILD_DIR: `cmake --install` into a temporary prefix, then builds the installed
# samples out of tree twice, through find_package(cltrain) and through
# `pkg-config --cflags --libs cltrain`, and runs the predict sample from each build on the refs
# fixture's images: both builds print the same classes and probabilities.
set -u
source "$(dirname "$0")/../common/expect.sh"
build=${1:?}
ref=${CLTRAIN_REF_DIR:?}
tmp=$(mktemp -d /tmp/cltrain-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix

expect install 0 "" -- cmake --install "$build" --prefix "$p"
libdir=$(dirname "$(find "$p" -name 'libcltrain.so*' -o -name libcltrain.a | head -1)")
for f in include/opencv2/cltrain.h include/opencv2/cltrain.hpp bin/cltrain \
         share/cltrain/samples/CMakeLists.txt share/cltrain/samples/predict.c; do
  if [ -e "$p/$f" ]; then ok "installed $f"; else bad "missing $p/$f"; fi
done
for f in cmake/cltrain/cltrainConfig.cmake cmake/cltrain/cltrainTargets.cmake pkgconfig/cltrain.pc; do
  if [ -e "$libdir/$f" ]; then ok "installed lib/$f"; else bad "missing $libdir/$f"; fi
done
# Nothing of the build tree or of the internal headers may leak into the installed package.
if grep -rlE "$build|module/src" "$libdir/cmake/cltrain" "$libdir/pkgconfig" >/dev/null; then
  bad "the installed package refers to the build or source tree:"; grep -rnE "$build|module/src" "$libdir/cmake/cltrain" "$libdir/pkgconfig"
else ok "package relocatable"; fi

# 1. CMake: find_package(cltrain) from the installed prefix only.
expect cmake-configure 0 "" -- cmake -S "$p/share/cltrain/samples" -B "$tmp/b-cmake" \
  -DCMAKE_PREFIX_PATH="$p" -DCMAKE_BUILD_TYPE=Release
expect cmake-build 0 "" -- cmake --build "$tmp/b-cmake" -j2
# 2. pkg-config, as a Makefile would: cc sample.c $(pkg-config --cflags --libs cltrain).
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs cltrain)
incdir=$(pkg-config --variable=includedir cltrain)
if [ "$(realpath "$incdir")" = "$(realpath "$p/include")" ] && grep -q -- "-lcltrain" <<<"$flags"; then
  ok "pkg-config: $flags"
else bad "pkg-config: includedir $incdir, flags $flags"; fi
# shellcheck disable=SC2086
expect pc-build 0 "" -- cc -o "$tmp/predict-pc" "$p/share/cltrain/samples/predict.c" $flags \
  -Wl,-rpath,"$libdir"

# The installed tool is the public API's client: it loads the installed libcltrain.so (a shared
# build), and the developer commands of cltrain-dev, which is not installed, are refused by name.
if [ -e "$libdir/libcltrain.so.0" ]; then
  loaded=$(ldd "$p/bin/cltrain" | sed -n 's/.*libcltrain\.so\.0 => \([^ ]*\).*/\1/p') # via $ORIGIN/../lib
  if [ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$libdir/libcltrain.so.0")" ]; then
    ok "bin/cltrain loads the installed libcltrain.so.0"
  else bad "bin/cltrain ldd:"; ldd "$p/bin/cltrain" | grep -i cltrain; fi
fi
if [ -e "$p/bin/cltrain-dev" ]; then bad "cltrain-dev was installed"; else ok "cltrain-dev not installed"; fi
expect dev-command-refused 1 "'gemm-check' is a developer command of cltrain-dev" -- "$p/bin/cltrain" gemm-check

# The same two images through the installed tool and both sample builds.
model=$tmp/m.onnx
expect init 0 "wrote" -- "$p/bin/cltrain" init --classes 3 --out "$model" --seed 5
imgs=("$ref/eval_folder/cat/b.jpg" "$ref/eval_folder/dog/"*.png)
out_cmake=$("$tmp/b-cmake/predict" "$model" "${imgs[@]}" 2>&1); rc1=$?
out_pc=$("$tmp/predict-pc" "$model" "${imgs[@]}" 2>&1); rc2=$?
if [ $rc1 -eq 0 ] && grep -qE "b\.jpg: class[0-9]+ \(0\.[0-9]+\)" <<<"$out_cmake"; then ok "run predict (find_package build)"
else bad "predict (find_package build) rc=$rc1:"; echo "$out_cmake" | head; fi
if [ $rc2 -eq 0 ] && [ "$out_pc" = "$out_cmake" ]; then ok "run predict (pkg-config build), same output"
else bad "predict (pkg-config build) rc=$rc2:"; echo "$out_pc" | head; fi
# The sample links the installed libcltrain.so, not the build tree's.
if ldd "$tmp/predict-pc" | grep -q "$libdir/libcltrain.so.0"; then ok "linked against the installed library"
else bad "ldd:"; ldd "$tmp/predict-pc" | grep cltrain; fi
finish
