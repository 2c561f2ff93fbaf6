#!/usr/bin/env bash
# api_comm.sh: the C API with a caller's communicator (api_comm.c). 3 ranks split into groups
# of 1 and 2 train the same run side by side; each group's export must be bitwise the CLI's
# run of the same command with as many ranks (alone, and mpirun -np 2). Skipped (77) without
# mpirun.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
API=${CLTRAIN_API_COMM:?}
REF=${CLTRAIN_REF_DIR:?}
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (openmpi-bin)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export POCL_MAX_PTHREAD_COUNT=1 # one PoCL worker per rank
MPI=(mpirun --oversubscribe --allow-run-as-root)

"$BIN" synth --out "$T/data" --train 4 --val 2 --size 40 >/dev/null || { bad "synth"; finish; }
M=$REF/whole_r18_bn.onnx
# api_comm.c's options, as flags: BN in train mode in layer4 (its statistics are broadcast),
# augmentation (per rank), 2 epochs of 4 steps
RUN=(--model "$M" --data "$T/data" --freeze upto:layer3 --augment tutorial --epochs 2 --batch 2 --lr 0.01
     --image-size 32 --workers 1 --keep last --seed 3)

"${MPI[@]}" -np 3 "$API" "$M" "$T/data" "$T/api" >"$T/api.out" 2>&1 && ok "3 ranks in 2 groups trained" ||
  { bad "the API run failed"; cat "$T/api.out"; }
[ "$(grep -c 'trained [0-9]* steps' "$T/api.out")" = 3 ] && ok "every rank reports its group" || { bad "ranks"; cat "$T/api.out"; }
"$BIN" train "${RUN[@]}" --out "$T/cli1.onnx" >"$T/cli1.out" 2>&1 || { bad "CLI 1 rank"; cat "$T/cli1.out"; }
"${MPI[@]}" -np 2 "$BIN" train "${RUN[@]}" --out "$T/cli2.onnx" >"$T/cli2.out" 2>&1 || { bad "CLI 2 ranks"; cat "$T/cli2.out"; }
cmp -s "$T/api1.onnx" "$T/cli1.onnx" && ok "the group of 1 rank exports the CLI's 1-rank model, bit for bit" ||
  bad "group of 1 differs from the CLI's run"
cmp -s "$T/api2.onnx" "$T/cli2.onnx" && ok "the group of 2 ranks exports the CLI's 2-rank model, bit for bit" ||
  bad "group of 2 differs from the CLI's 2-rank run"
# and the two are different trainings (per-rank BN statistics, shares, augmentation)
cmp -s "$T/api1.onnx" "$T/api2.onnx" && bad "1 and 2 ranks export the same bits" || ok "1 and 2 ranks differ"
finish
