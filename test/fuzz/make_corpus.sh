#!/bin/bash
# make_corpus.sh MAKE_CORPUS PYTHON OUT: the fuzz targets' seed corpus in OUT (the fuzz_corpus
# ctest): tiny_models.py writes ONNX seeds to OUT/onnx, then MAKE_CORPUS (make_corpus.c) writes
# the rest and checks every seed.
set -eu
make_corpus=$1 python=$2 out=$3
"$python" "$(dirname "$0")/tiny_models.py" "$out/onnx"
exec "$make_corpus" "$out"
