"""Broken models for the importer's Concat and Pad error paths (test/model/test_import.c), built
with ref_models.tiny (conv -> middle -> global pool -> flatten -> fc):
  bad_pad.onnx          a Pad that pads (1 on each side of H and W): only a Pad of zeros imports
  bad_concat_axis.onnx  a Concat over H (axis 2): only channel concatenation imports
"""
from onnx import TensorProto, helper

from ref_models import tiny


def generate(w):
    pads = helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1])
    tiny(w.out / "bad_pad.onnx", [
        helper.make_node("Constant", [], ["pads"], name="/pad/Constant", value=pads),
        helper.make_node("Pad", ["c", "pads"], ["m"], name="/pad/Pad", mode="constant")])
    tiny(w.out / "bad_concat_axis.onnx", [helper.make_node("Concat", ["c", "c"], ["m"], name="/cat/Concat", axis=2)])
