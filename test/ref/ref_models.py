"""Whole-model references: torchvision ResNets exported to ONNX the ways users export them, plus
broken models for the importer's error paths.

Weights are seeded and random, BN affine parameters and running statistics included: default BN
(gamma 1, beta 0) makes torch 1.13 emit Identity nodes OpenCV refuses, and would let a test miss
a swapped gamma/beta or mean/var. Files written into the refs folder:
  resnet18_bn_op13.onnx, resnet18_bn_op11.onnx   BN kept (TrainingMode.PRESERVE, eval mode)
  resnet18_fold_op13.onnx, resnet18_fold_op11.onnx   default export: BN folded into the convs
  resnet34_bn_op13.onnx                           BN kept
  models_<arch>.ref        state_dict tensors by name, a (2,3,224,224) input and its eval-mode
                           logits: float64 (computed from the float32 weights) and float32
  models_<arch>_names.txt  the torchvision module paths of the parameter layers, in order
  models_resnet18_fold.ref the folded conv weights and biases (float64 -> f32) by conv name
  bad_unsupported.onnx     a tiny conv -> Softmax -> pool -> fc model: Softmax is not supported
  bad_sub.onnx, bad_grouped.onnx   the same with x - relu(x), or a grouped conv whose groups
                           do not divide its outputs (2 groups of 2 channels in, 3 out), in the middle
  bad_group_channels.onnx  the same with a conv whose filters span 3 of its 4 input channels
  tiny_ok.onnx             the same with a ReLU: imports (2 input channels, unused GW initializer)
  bad_truncated.onnx       the first half of resnet18_bn_op13.onnx
  bad_no_classifier.onnx   ResNet-18 without fc: the graph ends in the global average pool
"""
import warnings

import numpy as np
import onnx
import torch
import torchvision
from onnx import TensorProto, helper


def randomise(model, seed):
    """Seeded random weights, including every BN parameter and running statistic."""
    g = torch.Generator().manual_seed(seed)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                uniform(m.weight, 0.5, 1.0)
                uniform(m.bias, -0.1, 0.1)
                uniform(m.running_mean, -0.2, 0.2)
                uniform(m.running_var, 0.5, 1.5)
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                # He scale, so that activations stay O(1) through the network
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    uniform(m.bias, -0.1, 0.1)
    return model.eval()


def param_layer_names(model):
    return [n for n, m in model.named_modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear))]


def export(model, x, path, opset, keep_bn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"training": torch.onnx.TrainingMode.PRESERVE} if keep_bn else {}
        torch.onnx.export(model, x, str(path), opset_version=opset, input_names=["input"],
                          output_names=["logits"], **kw)


def folded(model):
    """What torch's exporter folds into each conv followed by BN, in float64."""
    out = {}
    mods = dict(model.named_modules())
    for name, m in mods.items():
        if not isinstance(m, torch.nn.Conv2d):
            continue
        bn_name = name[:-1] + "1" if name.endswith("downsample.0") else name.replace("conv", "bn")
        bn = mods[bn_name]
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        out[name + ".weight"] = (m.weight.double() * scale[:, None, None, None]).float()
        out[name + ".bias"] = (bn.bias.double() - bn.running_mean.double() * scale).float()
    return out


def generate(w):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    one = x[:1]
    for arch, seed, variants in (("resnet18", 18, ((13, True), (11, True), (13, False), (11, False))),
                                 ("resnet34", 34, ((13, True),))):
        model = randomise(getattr(torchvision.models, arch)(), seed)
        for opset, keep_bn in variants:
            export(model, one, w.out / f"{arch}_{'bn' if keep_bn else 'fold'}_op{opset}.onnx", opset, keep_bn)
        with torch.no_grad():
            logits32 = model(x)
            logits64 = model.double()(x.double())
            model.float()
        sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        w.case(f"models_{arch}", input=x, logits=logits64, logits_f32=logits32,
               nparams=np.array([sum(p.numel() for p in model.parameters())]), **sd)
        (w.out / f"models_{arch}_names.txt").write_text("\n".join(param_layer_names(model)) + "\n")
        if arch == "resnet18":
            w.case("models_resnet18_fold", **folded(model))
            src = (w.out / "resnet18_bn_op13.onnx").read_bytes()
            (w.out / "bad_truncated.onnx").write_bytes(src[: len(src) // 2])
            backbone = torch.nn.Sequential(*list(model.children())[:-1]).eval()
            export(backbone, one, w.out / "bad_no_classifier.onnx", 13, True)

    tiny(w.out / "bad_unsupported.onnx", [
        helper.make_node("Softmax", ["c"], ["m"], name="/act/Softmax", axis=1)])
    tiny(w.out / "bad_sub.onnx", [  # OpenCV makes x - y an Eltwise, as x + y
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("Sub", ["c", "r"], ["m"], name="/Sub")])
    tiny(w.out / "bad_grouped.onnx", [
        helper.make_node("Conv", ["c", "GW"], ["m"], name="/dw/Conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], group=2)])
    tiny(w.out / "bad_group_channels.onnx", [
        helper.make_node("Conv", ["c", "GW3"], ["m"], name="/g3/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])])
    tiny(w.out / "tiny_ok.onnx", [helper.make_node("Relu", ["c"], ["m"], name="/relu/Relu")])


def tiny(path, middle):
    """conv (2->4, 3x3) -> `middle` (from c to m) -> global average pool -> flatten -> fc (4->3)."""
    rng = np.random.default_rng(5)
    init = [helper.make_tensor("W", TensorProto.FLOAT, [4, 2, 3, 3], rng.standard_normal(72).tolist()),
            helper.make_tensor("B", TensorProto.FLOAT, [4], rng.standard_normal(4).tolist()),
            # (the draw of 36 keeps the other tensors' values; the model is refused before they matter)
            # 3 filters of 2 channels: as group 2 over 4 channels, 3 outputs do not split in 2 groups
            helper.make_tensor("GW", TensorProto.FLOAT, [3, 2, 3, 3], np.tile(rng.standard_normal(36), 2)[:54].tolist()),
            helper.make_tensor("FW", TensorProto.FLOAT, [3, 4], rng.standard_normal(12).tolist()),
            helper.make_tensor("FB", TensorProto.FLOAT, [3], rng.standard_normal(3).tolist()),
            # filters over 3 channels, which do not divide the 4 they get
            helper.make_tensor("GW3", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).tolist())]
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="/conv/Conv", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1])] + middle + [
             helper.make_node("GlobalAveragePool", ["m"], ["p"], name="/pool/GlobalAveragePool"),
             helper.make_node("Flatten", ["p"], ["f"], name="/Flatten", axis=1),
             helper.make_node("Gemm", ["f", "FW", "FB"], ["y"], name="/fc/Gemm", transB=1)]
    graph = helper.make_graph(nodes, path.stem,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], init)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
