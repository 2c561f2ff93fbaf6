"""tiny_models.py OUT_DIR: small ONNX seeds for the onnx fuzz target that reach every layer kind
cltrain imports (the refs fixture's tiny models have conv, ReLU, global pool, flatten and fc only):
  tiny_block.onnx    conv -> BN -> ReLU -> max pool -> conv (no bias) -> BN -> add (residual)
                     -> ReLU -> average pool -> global average pool -> flatten -> fc
  tiny_reshape.onnx  conv -> ReLU -> global average pool -> reshape (C,1,1 -> C) -> identity -> fc
Weights are seeded random values, BN statistics included (never the defaults)."""
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper, save

rng = np.random.default_rng(8)


def tensor(name, *shape, positive=False):
    v = rng.uniform(0.5, 1.5, shape) if positive else rng.normal(0, 0.5, shape)
    return numpy_helper.from_array(v.astype(np.float32), name)


def bn_tensors(prefix, c):
    return [tensor(f"{prefix}.g", c), tensor(f"{prefix}.b", c), tensor(f"{prefix}.m", c),
            tensor(f"{prefix}.v", c, positive=True)]


def model(path, nodes, inits):
    graph = helper.make_graph(
        nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    checker.check_model(m)
    save(m, str(path))


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model(out / "tiny_block.onnx", [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="/conv1/Conv", **conv),
        helper.make_node("BatchNormalization", ["c1", "bn1.g", "bn1.b", "bn1.m", "bn1.v"], ["n1"],
                         name="/bn1/BatchNormalization", epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"], name="/relu1/Relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "W2"], ["c2"], name="/conv2/Conv", **conv),
        helper.make_node("BatchNormalization", ["c2", "bn2.g", "bn2.b", "bn2.m", "bn2.v"], ["n2"],
                         name="/bn2/BatchNormalization", epsilon=1e-5),
        helper.make_node("Add", ["n2", "p1"], ["a"], name="/Add"),
        helper.make_node("Relu", ["a"], ["r2"], name="/relu2/Relu"),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="/avg/AveragePool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p2"], ["g"], name="/gap/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "FW", "FB"], ["y"], name="/fc/Gemm", transB=1),
    ], [tensor("W1", 4, 2, 3, 3), tensor("B1", 4), tensor("W2", 4, 4, 3, 3), tensor("FW", 3, 4),
        tensor("FB", 3)] + bn_tensors("bn1", 4) + bn_tensors("bn2", 4))
    model(out / "tiny_reshape.onnx", [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="/conv1/Conv", **conv),
        helper.make_node("Relu", ["c1"], ["r1"], name="/relu1/Relu"),
        helper.make_node("GlobalAveragePool", ["r1"], ["g"], name="/gap/GlobalAveragePool"),
        helper.make_node("Reshape", ["g", "shape"], ["f"], name="/Reshape"),
        helper.make_node("Identity", ["f"], ["i"], name="/Identity"),
        helper.make_node("Gemm", ["i", "FW", "FB"], ["y"], name="/fc/Gemm", transB=1),
    ], [tensor("W1", 4, 2, 3, 3), tensor("B1", 4), numpy_helper.from_array(np.array([1, -1], np.int64), "shape"),
        tensor("FW", 3, 4), tensor("FB", 3)])


if __name__ == "__main__":
    main(sys.argv[1])
