#!/usr/bin/env bash
# private_includes.sh: the check that keeps struct cltrain_model inside module/src/model/
# (cmake/private_includes.cmake) passes the tree as it is, and fails, naming the file and the
# line, on a copy where the training loop, predict.cpp (in model/ but not one of its C files)
# or a test includes model/model_impl.h.
set -u
source "$(dirname "$0")/../common/expect.sh"
src=${CLTRAIN_SOURCE_DIR:?}
check() { cmake -DROOT="$1" -P "$src/cmake/private_includes.cmake"; }
tmp=$(mktemp -d /tmp/cltrain-private-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

expect tree-sealed 0 "" -- check "$src"
for f in module/src/train/loop.c module/src/model/predict.cpp test/train/test_export.cpp; do
  name=$(basename "$f")
  rm -rf "$tmp/copy" && mkdir -p "$tmp/copy/$(dirname "$f")" "$tmp/copy/module/src/model"
  cp "$src/module/src/model/model.c" "$tmp/copy/module/src/model/" # allowed: stays quiet
  { echo '#include "model/model_impl.h"'; cat "$src/$f"; } > "$tmp/copy/$f"
  expect "reaches-in-$name" 1 "copy/$f: '#include" \
    -- check "$tmp/copy"
done
finish
