#!/bin/bash
# durability.sh: every kind of output cltrain writes (the exported model, the checkpoint, the
# log, the plot, `init`'s model, eval's --dump-logits, predict's --grid) reaches the disk
# through core/atomic_file.c: under strace, its temporary file PATH.tmp.XXXXXX is fsynced before
# the rename to PATH, and PATH's folder is fsynced after it. Also: a temporary file a crashed
# export left beside --out is deleted by the next run, like the checkpoint's.
set -u
source "$(dirname "$0")/../common/expect.sh"
BIN=${CLTRAIN_BIN:?}
REF=${CLTRAIN_REF_DIR:?}
PY=/usr/bin/python3
command -v strace >/dev/null || { echo "SKIP: strace is not installed (scripts/setup-deps installs it)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$PY "$(dirname "$0")/../common/image_folders.py" "$T/data"
O=$T/out
mkdir -p "$O"

# traced NAME CMD...: runs CMD under strace, its trace in $T/NAME.trace (paths decoded by -y).
traced() {
  local name=$1
  shift
  strace -f -y -qq -o "$T/$name.trace" -e trace=fsync,fdatasync,rename,renameat,renameat2 "$@" >"$T/$name.out" 2>&1 ||
    { bad "$name: the command failed"; cat "$T/$name.out"; }
}

# synced NAME FILE: in NAME's trace, FILE's temporary is fsynced, then renamed to FILE, then
# FILE's folder is fsynced (the last such rename counts).
synced() {
  local name=$1 file=$2
  if $PY - "$T/$name.trace" "$file" <<'PYEOF'; then ok "$name: $(basename "$file") synced, renamed, folder synced"; else bad "$name: $(basename "$file")"; fi
import os, re, sys
trace, path = open(sys.argv[1]).read().splitlines(), sys.argv[2]
folder, tmp_re = os.path.dirname(path), re.escape(path) + r"\.tmp\.[A-Za-z0-9]{6}"
ren = [i for i, l in enumerate(trace) if re.search(r'rename(at2?)?\(.*"(' + tmp_re + r')".*"' + re.escape(path) + r'".*= 0', l)]
if not ren:
    print("  no rename of a temporary file to", path)
    sys.exit(1)
r = ren[-1]
tmp = re.search('"(' + tmp_re + ')"', trace[r]).group(1)
data = [i for i, l in enumerate(trace[:r]) if re.search(r"f(data)?sync\(\d+<" + re.escape(tmp) + r">\) = 0", l)]
dir_ = [i for i, l in enumerate(trace[r:]) if re.search(r"fsync\(\d+<" + re.escape(folder) + r">\) = 0", l)]
if not data:
    print("  no fsync of", tmp, "before its rename")
if not dir_:
    print("  no fsync of the folder", folder, "after the rename")
sys.exit(0 if data and dir_ else 1)
PYEOF
}

# A crashed export's leftover, which the run must delete.
echo partial >"$O/model.onnx.tmp.AbC123"
traced train "$BIN" train --model "$REF/whole_r18_bn.onnx" --data "$T/data/ok" --batch 2 --epochs 1 --freeze all \
  --image-size 64 --augment none --out "$O/model.onnx" --checkpoint "$O/ck.bin" --log "$O/log.csv" --plot "$O/plot.png"
for f in model.onnx ck.bin log.csv plot.png; do synced train "$O/$f"; done
[ ! -e "$O/model.onnx.tmp.AbC123" ] && ok "a crashed export's temporary file is deleted by the next run" ||
  bad "$O/model.onnx.tmp.AbC123 is still there"

traced init "$BIN" init --classes 3 --out "$O/init.onnx"
synced init "$O/init.onnx"
traced eval "$BIN" eval --model "$O/model.onnx" --data "$T/data/ok/val" --dump-logits "$O/logits.csv"
synced eval "$O/logits.csv"
traced predict "$BIN" predict --model "$O/model.onnx" --labels cat,dog --grid "$O/grid.png" "$T/data/ok/val/cat/0.jpg"
synced predict "$O/grid.png"
left=$(find "$O" -name '*.tmp*')
[ -z "$left" ] && ok "no temporary file left" || bad "temporary files left: $left"
finish
