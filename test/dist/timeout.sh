#!/usr/bin/env bash
# timeout.sh: a rank that stops without dying (SIGSTOP after its 3rd step, the test hook
# CLTRAIN_TEST_STOP_AT_STEP) must not leave the other waiting forever: with --mpi-timeout 10 the
# other rank names the collective, the step and the stopped rank, and aborts the job with exit
# status 1 well within the bound; nothing is exported. Skipped (77) without mpirun.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (openmpi-bin)"; exit 77; }
T=$(mktemp -d)
cleanup() {
  # the stopped rank, should mpirun have left it behind
  [ -s "$T/pid1" ] && kill -0 "$(cat "$T/pid1")" 2>/dev/null && kill -KILL "$(cat "$T/pid1")" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
export POCL_MAX_PTHREAD_COUNT=1
MPI=(mpirun --oversubscribe --allow-run-as-root)

"$BIN" synth --out "$T/data" --train 4 --val 2 --size 40 >/dev/null || { bad "synth"; finish; }
RUN=(--model "$REF/whole_r18_bn.onnx" --data "$T/data" --freeze upto:layer3 --epochs 2 --batch 2 --image-size 32
     --workers 1 --seed 3 --out "$T/t.onnx")
expect "--mpi-timeout 0 is refused" 1 "MPI timeout must be > 0 seconds, got 0" -- \
  "${MPI[@]}" -np 2 "$BIN" train "${RUN[@]}" --mpi-timeout 0

# rank 1 stops after step 3 of epoch 1; rank 0 waits in the next step's status agreement
start=$(date +%s)
timeout 200 "${MPI[@]}" -np 1 "$BIN" train "${RUN[@]}" --mpi-timeout 10 : \
  -np 1 bash -c 'echo $$ >"$0"; exec env CLTRAIN_TEST_STOP_AT_STEP=3 "$@"' "$T/pid1" "$BIN" train "${RUN[@]}" \
  --mpi-timeout 10 >"$T/out" 2>&1
rc=$? secs=$(($(date +%s) - start))
cat "$T/out" | grep -v '^\s*$' | head -30
[ $rc -eq 1 ] && ok "the job exits 1" || bad "the job exits $rc (want 1)"
# 10 s of timeout after some seconds of training: 120 s leaves room for a loaded machine
[ $secs -le 120 ] && ok "it ended after $secs s (bound 120 s)" || bad "it took $secs s (bound 120 s)"
grep -q "rank 0: the ranks' status agreement (MPI_Iallreduce) did not end within 10 s (epoch 1, after step 3): still waiting for rank 1" "$T/out" &&
  ok "rank 0 names the collective, the step and rank 1" || bad "the timeout message"
grep -q "CLTRAIN_ERR_TIMEOUT" "$T/out" && ok "the status is CLTRAIN_ERR_TIMEOUT" || bad "no CLTRAIN_ERR_TIMEOUT"
[ ! -e "$T/t.onnx" ] && ok "nothing exported" || bad "exported"
# mpirun ends the stopped rank too (SIGCONT, SIGTERM, SIGKILL); give it 15 s (zombies count as gone)
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$s" ] && [ "${s:0:1}" != Z ]; }
pid1=$(cat "$T/pid1" 2>/dev/null)
for i in $(seq 15); do alive "$pid1" || break; sleep 1; done
[ -n "$pid1" ] && ! alive "$pid1" && ok "the stopped rank is gone" ||
  bad "the stopped rank $pid1 is still there: $(ps -o pid=,stat=,etime=,cmd= -p "$pid1" 2>/dev/null)"
finish
