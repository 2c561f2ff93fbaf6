#!/usr/bin/env bash
# symbols.sh LIB HEADER: libcltrain.so exports exactly the functions cltrain.h declares CLTRAIN_API
# (no internal function, no C++ template or inline symbol of OpenCV, protobuf or libstdc++), and
# carries the SONAME libcltrain.so.0. Prints any name that is missing or extra.
set -u
source "$(dirname "$0")/../common/expect.sh"
lib=${1:?} header=${2:?}
tmp=$(mktemp -d /tmp/cltrain-symbols-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols (undefined ones are what the library imports, e.g. clCreateBuffer).
nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$tmp/exported"
# Every function whose declaration starts with CLTRAIN_API, up to the '(' of its parameters.
grep -v '^#' "$header" | tr '\n' ' ' | grep -oE 'CLTRAIN_API [^;(]*\(' | grep -oE '[A-Za-z_0-9]+ *\($' |
  tr -d ' (' | sort -u >"$tmp/declared"

if [ "$(wc -l <"$tmp/declared")" -ge 30 ]; then ok "header-parsed ($(wc -l <"$tmp/declared") CLTRAIN_API functions)"
else bad "header-parsed: only $(wc -l <"$tmp/declared") CLTRAIN_API functions found in $header"; fi
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -z "$extra" ]; then ok "no-extra-symbols ($(wc -l <"$tmp/exported") exported)"
else bad "exported but not CLTRAIN_API in cltrain.h:"; echo "$extra" | head -40; fi
if [ -z "$missing" ]; then ok "every-api-function-exported"
else bad "declared CLTRAIN_API but not exported:"; echo "$missing"; fi
if [ -z "$(grep -v '^cltrain_' "$tmp/exported")" ]; then ok "only-cltrain-names"
else bad "exported names outside cltrain_*:"; grep -v '^cltrain_' "$tmp/exported" | head -20; fi

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" = libcltrain.so.0 ]; then ok "soname $soname"; else bad "soname '$soname' (want libcltrain.so.0)"; fi
finish
