#!/usr/bin/env bash
# public_includes.sh: the check that keeps apps/cltrain on cltrain.h (cmake/public_includes.cmake)
# passes the tool as it is, and fails, naming the file, on a copy that includes an internal
# header by name or by a relative path.
set -u
source "$(dirname "$0")/../common/expect.sh"
src=${CLTRAIN_SOURCE_DIR:?}
check() { cmake -DSRC="$src/module/src" -DDIR="$1" -P "$src/cmake/public_includes.cmake"; }
tmp=$(mktemp -d /tmp/cltrain-includes-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

expect apps-cltrain-public 0 "" -- check "$src/apps/cltrain"
cp -r "$src/apps/cltrain" "$tmp/by-name"
sed -i 's|#include "cli.h"|#include "cli.h"\n#include "runtime.h"|' "$tmp/by-name/cmd_info.c"
expect internal-by-name 1 "by-name/cmd_info.c: '#include \"runtime.h\"'" \
  -- check "$tmp/by-name"
cp -r "$src/apps/cltrain" "$tmp/by-path"
sed -i 's|#include "cli.h"|#include "cli.h"\n#include "../../module/src/graph/graph.h"|' "$tmp/by-path/cmd_eval.c"
expect internal-by-path 1 "by-path/cmd_eval.c: '#include" \
  -- check "$tmp/by-path"
# the developer tool may (it is what it is for)
expect dev-tool-internal 1 "apps/cltrain-dev/[a-z_]+\.c: '#include" -- check "$src/apps/cltrain-dev"
finish
