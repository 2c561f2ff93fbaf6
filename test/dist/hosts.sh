#!/usr/bin/env bash
# hosts.sh: data-parallel training across two hosts. The test makes two test hosts as network
# namespaces joined by a veth pair (10.77.0.1 and 10.77.0.2; traffic stays on them), runs
# mpirun inside the first with a hostfile of both addresses, Open MPI's TCP transport only
# (btl tcp,self, out-of-band TCP on the veth), and reaches the second through plm_rsh_agent: a
# script that runs the daemon under `ip netns exec`. The export must be bitwise that of the same
# 2-rank command on one box (2 ranks: each sum is a + b either way). Skipped (77) without root,
# ip netns or mpirun.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (openmpi-bin)"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no ip (iproute2)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
T=$(mktemp -d)
NS0=cltrain_h0_$$ NS1=cltrain_h1_$$
cleanup() {
  ip netns del "$NS0" 2>/dev/null
  ip netns del "$NS1" 2>/dev/null # deleting a namespace deletes its end of the veth pair
  rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NS0" 2>"$T/err" && ip netns add "$NS1" 2>>"$T/err" ||
  { echo "SKIP: cannot make network namespaces: $(cat "$T/err")"; exit 77; }
ip link add cltv0_$$ type veth peer name cltv1_$$ 2>"$T/err" ||
  { echo "SKIP: cannot make a veth pair: $(cat "$T/err")"; exit 77; }
ip link set cltv0_$$ netns "$NS0" && ip link set cltv1_$$ netns "$NS1" || { bad "moving the veth ends"; finish; exit; }
for i in 0 1; do
  ns=cltrain_h${i}_$$
  ip -n "$ns" addr add 10.77.0.$((i + 1))/24 dev cltv${i}_$$ && ip -n "$ns" link set cltv${i}_$$ up &&
    ip -n "$ns" link set lo up || { bad "configuring $ns"; finish; exit; }
done

# the "ssh" of the test hosts: host 10.77.0.2 is the second namespace
cat >"$T/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case "\$host" in
  10.77.0.2) exec ip netns exec $NS1 sh -c "\$*" ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
AGENT
chmod +x "$T/agent"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$T/hosts"

export POCL_MAX_PTHREAD_COUNT=1
"$BIN" synth --out "$T/data" --train 4 --val 2 --size 40 >/dev/null || { bad "synth"; finish; exit; }
RUN=(--model "$REF/whole_r18_bn.onnx" --data "$T/data" --freeze upto:layer3 --augment tutorial --epochs 2
     --batch 2 --lr 0.01 --image-size 32 --workers 1 --keep last --seed 3)
mpirun --oversubscribe --allow-run-as-root -np 2 "$BIN" train "${RUN[@]}" --out "$T/box.onnx" >"$T/box.out" 2>&1 ||
  { bad "the one-box run"; cat "$T/box.out"; }
# README's several-boxes line (one rank per box here), plus the agent and the daemons' network
TCP=(--map-by ppr:1:node --mca btl tcp,self,vader --mca btl_tcp_if_include 10.77.0.0/24
     --mca plm_rsh_agent "$T/agent" --mca pml ob1 --mca oob_tcp_if_include 10.77.0.0/24
     -x POCL_MAX_PTHREAD_COUNT -x POCL_CACHE_DIR)
ip netns exec "$NS0" mpirun --allow-run-as-root -np 2 --hostfile "$T/hosts" "${TCP[@]}" \
  bash -c 'echo "rank $OMPI_COMM_WORLD_RANK on $(ip -4 -o addr show | grep -o "10\.77\.0\.[0-9]")"; exec "$@"' _ \
  "$BIN" train "${RUN[@]}" --mpi-timeout 600 --out "$T/hosts.onnx" >"$T/hosts.out" 2>&1 ||
  { bad "the two-host run"; cat "$T/hosts.out"; }
grep -q "rank 0 on 10.77.0.1" "$T/hosts.out" && grep -q "rank 1 on 10.77.0.2" "$T/hosts.out" &&
  ok "rank 0 ran on the first test host, rank 1 on the second" || { bad "where the ranks ran"; cat "$T/hosts.out"; }
cmp -s "$T/box.onnx" "$T/hosts.onnx" && ok "two hosts over TCP export the one-box 2-rank model, bit for bit" ||
  bad "the two-host export differs from the one-box one"
finish
