#!/usr/bin/env bash
# info_cli.sh: `cltrain info` as a user runs it on PyTorch's exports (refs fixture): names, stages,
# totals, and the error exits.
set -u
source "$(dirname "$0")/../common/expect.sh"
bin=${CLTRAIN_BIN:?} ref=${CLTRAIN_REF_DIR:?}
r18=$ref/resnet18_bn_op13.onnx
expect r18-conv 0 "layer1\.0\.conv1 +conv +64x56x56 +36,864 +stage1" -- "$bin" info --model "$r18"
expect r18-downsample 0 "layer2\.0\.downsample\.1 +bn +128x28x28 +256 +stage2" -- "$bin" info --model "$r18"
expect r18-fc 0 "fc +linear +1000x1x1 +513,000 +head" -- "$bin" info --model "$r18"
expect r18-stem 0 "stem +4 nodes +conv1 \.\. maxpool" -- "$bin" info --model "$r18"
expect r18-stage4 0 "stage4 .*output 512x7x7" -- "$bin" info --model "$r18"
expect r18-counts 0 "20 conv, 20 bn, 1 linear" -- "$bin" info --model "$r18"
expect r18-total 0 "parameters: 11,689,512 trainable" -- "$bin" info --model "$r18"
expect r18-folded 0 "20 conv, 0 bn, 1 linear" -- "$bin" info --model "$ref/resnet18_fold_op11.onnx"
# a file that declares a 64x64 input (as cltrain's exports of a --image-size 64 run do) is shown
# at that size, not at 224x224
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 -c "
import onnx, sys
m = onnx.load(sys.argv[1])
d = m.graph.input[0].type.tensor_type.shape.dim
d[2].dim_value, d[3].dim_value = 64, 64
onnx.save(m, sys.argv[2])" "$r18" "$T/r18_64.onnx"
expect declared-size 0 "input: 3x64x64 per image" -- "$bin" info --model "$T/r18_64.onnx"
expect declared-size-nodes 0 "layer1\.0\.conv1 +conv +64x16x16 +36,864 +stage1" -- "$bin" info --model "$T/r18_64.onnx"
expect declared-size-stage4 0 "stage4 .*output 512x2x2" -- "$bin" info --model "$T/r18_64.onnx"
expect undeclared-224 0 "input: 3x224x224 per image" -- "$bin" info --model "$r18"
expect r34-total 0 "parameters: 21,797,672 trainable" -- "$bin" info --model "$ref/resnet34_bn_op13.onnx"
# The concatenating families (test/ref/ref_densenet.py, 64x64 exports): their stages.
dn=$ref/densenet121_bn.onnx sq=$ref/squeezenet1_1.onnx
expect dn-stem 0 "stem +4 nodes +features\.conv0 \.\. features\.pool0" -- "$bin" info --model "$dn"
expect dn-stage1 0 "stage1 .*features\.denseblock1\.denselayer1\.concat \.\. features\.denseblock1\.concat" -- "$bin" info --model "$dn"
expect dn-stage3 0 "stage3 .*features\.transition2\.norm \.\. features\.denseblock3\.concat" -- "$bin" info --model "$dn"
expect dn-head 0 "head +5 nodes +globalaveragepool \.\. logits" -- "$bin" info --model "$dn"
expect sq-stem 0 "stem +3 nodes +features\.0 \.\. features\.2 " -- "$bin" info --model "$sq"
expect sq-stage2 0 "stage2 .*features\.5 \.\. features\.7\.concat" -- "$bin" info --model "$sq"
expect sq-head 0 "classifier\.1 +conv +4x3x3 +2,052 +head" -- "$bin" info --model "$sq"
expect sq-classes 0 "classes 4 \(node classifier\.3\)" -- "$bin" info --model "$sq"
expect with-device 0 "device: .*pthread|device: .*CPU" -- "$bin" info --model "$r18" --device cpu
expect missing 1 "CLTRAIN_ERR_IO.*|cannot open '$ref/nope\.onnx'" -- "$bin" info --model "$ref/nope.onnx"
expect missing-names-path 1 "'$ref/nope\.onnx'" -- "$bin" info --model "$ref/nope.onnx"
expect truncated 1 "'$ref/bad_truncated\.onnx' is not an ONNX model" -- "$bin" info --model "$ref/bad_truncated.onnx"
expect unsupported 1 "onnx_node!/act/Softmax' \(type Softmax\)" -- "$bin" info --model "$ref/bad_unsupported.onnx"
expect sub 1 "onnx_node!/Sub' \(type Eltwise\): an elementwise op other than x \+ y" -- "$bin" info --model "$ref/bad_sub.onnx"
expect no-model 2 "--model M.onnx is required" -- "$bin" info
expect bad-option 2 "unknown option '--bogus'" -- "$bin" info --bogus
expect help 0 "usage: cltrain info" -- "$bin" info --help
expect listed 0 "info +show how cltrain imports" -- "$bin" --help
finish
