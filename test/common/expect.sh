# expect.sh: sourced by the shell tests. Counts checks and ends with the "N passed, N failed"
# line ctest's logs are read for.
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# expect NAME WANT_RC PATTERN -- CMD...: CMD exits WANT_RC and its output matches PATTERN (ERE).
expect() {
  local name=$1 want=$2 pat=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out"; then
    ok "$name"
  else
    bad "$name: rc=$rc (want $want), output lacks /$pat/:"; echo "$out" | head -20
  fi
}
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
