#!/usr/bin/env bash
# run.sh PROGRAM [ARGS]: runs PROGRAM on Oclgrind's simulated device with API checks and data-race
# detection, and fails on any report: oclgrind's exit status stays 0 when it finds an error, so
# its log is read instead. Exits 77 (skipped) where oclgrind is not installed.
set -u
if ! command -v oclgrind >/dev/null; then
  echo "SKIP: oclgrind is not installed (scripts/setup-deps installs it)"
  exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --uniform-writes: also report two work-items writing the same value to one address (still a
# race on a GPU). Kernels build as cltrain builds them; Oclgrind caches nothing between runs.
# $OCLGRIND_EXTRA: more oclgrind options (train_step.sh: a device memory the size of a model's).
# shellcheck disable=SC2086
oclgrind --check-api --data-races --uniform-writes ${OCLGRIND_EXTRA:-} --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
  echo "FAIL: oclgrind reported (full log below)"
  cat "$log"
  exit 1
fi
[ "$rc" -ne 0 ] && echo "FAIL: $* exited with status $rc under oclgrind"
exit "$rc"
