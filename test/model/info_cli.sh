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
expect r18-count 0 "^stages: stem, stage1\.\.stage4, head$" -- "$bin" info --model "$r18"
expect dn-count 0 "^stages: stem, stage1\.\.stage4, head$" -- "$bin" info --model "$ref/densenet121_bn.onnx"
expect sq-count 0 "^stages: stem, stage1\.\.stage4, head$" -- "$bin" info --model "$ref/squeezenet1_1.onnx"
expect tiny-count 0 "^stages: stem, head$" -- "$bin" info --model "$ref/tiny_ok.onnx"
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
# Stages per family (graph_assign_stages), from one `cltrain info` per model (VGG's file is
# 515 MB): each stage starts at the torchvision module named here. EfficientNet-B0: stageN is
# features.N (features.8, the last 1x1 conv, is stage8), and squeeze-excitation stays inside its
# block. MobileNetV3: runs of blocks with one output shape (the paper's bneck groups). VGG-11
# (test/ref/ref_vgg.py, 224x224): the pooling groups, the classifier's Linears in the head.
for m in ef:effb0_bn s3:mnv3s_bn l3:mnv3l_bn vg:vgg11_bn; do
  "$bin" info --model "$ref/${m#*:}.onnx" >"$T/${m%%:*}.txt" 2>&1
  echo "exit $?" >>"$T/${m%%:*}.txt"
done
while read -r tag pat; do
  expect "$tag" 0 "$pat" -- cat "$T/${tag%%-*}.txt"
done <<'EOF'
ef-exit ^exit 0$
ef-count ^stages: stem, stage1\.\.stage8, head$
s3-count ^stages: stem, stage1\.\.stage6, head$
l3-count ^stages: stem, stage1\.\.stage7, head$
vg-count ^stages: stem, stage1\.\.stage4, head$
s3-exit ^exit 0$
l3-exit ^exit 0$
vg-exit ^exit 0$
ef-stem stem +4 nodes +features\.0\.0 \.\. features\.0\.2\.mul +928 parameters
ef-stage1 stage1 +[0-9]+ nodes +features\.1\.0\.block\.0\.0 \.\. features\.1\.
ef-stage2 stage2 +[0-9]+ nodes +features\.2\.0\.block\.0\.0 \.\. features\.2\.
ef-stage3 stage3 +[0-9]+ nodes +features\.3\.0\.block\.0\.0 \.\. features\.3\.
ef-stage4 stage4 +[0-9]+ nodes +features\.4\.0\.block\.0\.0 \.\. features\.4\.
ef-stage5 stage5 +[0-9]+ nodes +features\.5\.0\.block\.0\.0 \.\. features\.5\.
ef-stage6 stage6 +[0-9]+ nodes +features\.6\.0\.block\.0\.0 \.\. features\.6\.
ef-stage7 stage7 +[0-9]+ nodes +features\.7\.0\.block\.0\.0 \.\. features\.7\.
ef-stage8 stage8 +4 nodes +features\.8\.0 \.\. features\.8\.2\.mul .*output 1280x2x2
ef-head head +5 nodes +avgpool \.\. logits
ef-se-inside features\.2\.0\.block\.2\.avgpool +global_avgpool .* stage2
s3-stem stem +4 nodes +features\.0\.0 \.\. features\.0\.2\.mul +464 parameters
s3-stage1 stage1 .*features\.1\.block\.0\.0 \.\. features\.1\.block\.2\.1 .*output 16x16x16
s3-stage2 stage2 .*features\.2\.block\.0\.0 \.\. features\.3\.add .*output 24x8x8
s3-stage3 stage3 .*features\.4\.block\.0\.0 \.\. features\.6\.add
s3-stage4 stage4 .*features\.7\.block\.0\.0 \.\. features\.8\.add
s3-stage5 stage5 .*features\.9\.block\.0\.0 \.\. features\.11\.add
s3-stage6 stage6 +4 nodes +features\.12\.0 \.\. features\.12\.2\.mul
s3-head head +8 nodes +avgpool \.\. logits
l3-stage1 stage1 +6 nodes +features\.1\.block\.0\.0 \.\. features\.1\.add
l3-stage4 stage4 .*features\.7\.block\.0\.0 \.\. features\.10\.add .*output 80x4x4
l3-stage7 stage7 +4 nodes +features\.16\.0 \.\. features\.16\.2\.mul
l3-head head +8 nodes +avgpool
vg-stem stem +4 nodes +features\.0 \.\. features\.3 .*output 64x112x112
vg-stage1 stage1 +4 nodes +features\.4 \.\. features\.7 .*output 128x56x56
vg-stage4 stage4 +7 nodes +features\.22 \.\. features\.28 .*output 512x7x7
vg-head head +9 nodes +avgpool \.\. logits
vg-classifier0 classifier\.0 +linear +4096x1x1 +102,764,544 +head
EOF
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
