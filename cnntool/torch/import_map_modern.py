"""Import rules for the kinds of mobile and modern CNNs (see cnntool.torch.import_map)."""
from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from .import_map import IDENTITY, Mapped, Unsupported, _arg, _need, on_call, on_module


@on_module(nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Mish)
def _named_activation(m: nn.Module) -> Mapped:
    return Mapped(type(m).__name__.lower())


@on_module(nn.GELU)
def _gelu(m: nn.GELU) -> Mapped:
    return Mapped("gelu", {"approximate": m.approximate})


def _plain_call(kind: str, function: Any) -> None:
    """F.<kind>(x) and x.<kind>(): the kind with its defaults."""
    on_call(function, kind)(lambda node: Mapped(kind))


for _kind, _function in (("relu6", F.relu6), ("silu", F.silu), ("hardswish", F.hardswish),
                         ("hardsigmoid", F.hardsigmoid)):
    _plain_call(_kind, _function)


@on_call(operator.mul, operator.imul, torch.mul, "mul", "mul_")
def _mul(node: fx.Node) -> Mapped:
    a, b = node.args[:2]
    _need(isinstance(a, fx.Node) and isinstance(b, fx.Node), "multiply by a constant")
    if a.op == "get_attr" or b.op == "get_attr":
        return _layer_scale(node, *((a, b) if a.op == "get_attr" else (b, a)))
    return Mapped("mul", inputs=(a, b))


def _layer_scale(node: fx.Node, attr: fx.Node, x: fx.Node) -> Mapped:
    """γ · x with a bare (C, 1, 1) parameter γ (ConvNeXt's CNBlock.layer_scale): `layerscale`,
    named as the attribute so that its state_dict key is the model's. γ's value is not known on
    meta; the kind's default init, 1e-6, is ConvNeXt's (torchvision's `layer_scale` argument)."""
    try:
        gamma = node.graph.owning_module.get_parameter(str(attr.target))
    except AttributeError:
        raise Unsupported(f"a multiply by a buffer ({attr.target})") from None
    _need(gamma.dim() == 3 and tuple(gamma.shape[1:]) == (1, 1) and x.op != "get_attr",
          f"a multiply by a parameter of shape {list(gamma.shape)} ({attr.target}), not (C, 1, 1)")
    return Mapped("layerscale", inputs=(x,), name=str(attr.target).rpartition(".")[2])


@on_module(nn.LayerNorm)
def _layernorm(m: nn.LayerNorm) -> Mapped:
    """Over the last dim: a vector's features, or the channels of a channels-last map (ConvNeXt)."""
    _need(len(m.normalized_shape) == 1, f"LayerNorm over the last {len(m.normalized_shape)} dims")
    _need(m.bias is not None or not m.elementwise_affine, "LayerNorm with a scale but no bias")
    return Mapped("layernorm", {"eps": m.eps, "affine": m.elementwise_affine}, last_dim=True)


@on_call(torch.permute, "permute")
def _permute(node: fx.Node) -> Mapped:
    """NCHW ↔ NHWC writes no node: the calls between are per position (cnntool.torch.import_layout)."""
    dims = node.args[1:] if node.op == "call_method" and len(node.args) > 2 else _arg(node, 1, "dims")
    dims = tuple(d % 4 for d in dims) if all(isinstance(d, int) for d in dims) else None
    _need(dims in ((0, 2, 3, 1), (0, 3, 1, 2)), f"permute{list(dims or [])} (only NCHW ↔ NHWC)")
    return Mapped(IDENTITY, last=dims == (0, 2, 3, 1))


@on_module(nn.GroupNorm)
def _groupnorm(m: nn.GroupNorm) -> Mapped:
    return Mapped("groupnorm", {"groups": m.num_groups, "eps": m.eps, "affine": m.affine})


def _torchvision_rules() -> None:
    """Rules for torchvision's own modules, when torchvision is installed."""
    try:
        from torchvision.models.convnext import LayerNorm2d
        from torchvision.ops import StochasticDepth
    except ImportError:
        return

    @on_module(StochasticDepth)
    def _stochastic_depth(m: StochasticDepth) -> Mapped:
        return Mapped("droppath", {"p": m.p, "mode": m.mode})

    @on_module(LayerNorm2d)
    def _layernorm2d(m: LayerNorm2d) -> Mapped:
        return Mapped("layernorm", {"eps": m.eps, "affine": m.elementwise_affine})


_torchvision_rules()


def _channels(node: fx.Node) -> int:
    meta = node.meta.get("tensor_meta")
    _need(hasattr(meta, "shape") and len(meta.shape) == 4, "a channel split of a tensor whose shape is unknown")
    return int(meta.shape[1])


@on_call("chunk")
def _chunk(node: fx.Node) -> Mapped:
    """x.chunk(n, dim=1) writes no node: each `[k]` of it is a channel `slice` (ShuffleNetV2)."""
    _need(_arg(node, 2, "dim", 0) in (1, -3), "chunk along a dim other than channels")
    _need(all(u.target is operator.getitem for u in node.users), "a chunk used other than by [k]")
    return Mapped(IDENTITY)


@on_call(operator.getitem)
def _getitem(node: fx.Node) -> Mapped:
    source, k = node.args
    _need(isinstance(source, fx.Node) and source.op == "call_method" and source.target == "chunk"
          and isinstance(k, int), "indexing (operator.getitem)")
    channels, n = _channels(source.args[0]), _arg(source, 1, "chunks")
    size = -(-channels // n)  # torch.chunk: pieces of ceil(C / n), the last one smaller
    return Mapped("slice", {"start": k * size, "stop": min((k + 1) * size, channels)}, inputs=(source.args[0],))


@on_call("contiguous")
def _contiguous(node: fx.Node) -> Mapped:
    return Mapped(IDENTITY)


def _shufflenet_rules() -> None:
    try:
        from torchvision.models.shufflenetv2 import channel_shuffle
    except ImportError:
        return

    @on_call(channel_shuffle)
    def _channel_shuffle(node: fx.Node) -> Mapped:
        return Mapped("shuffle", {"groups": _arg(node, 1, "groups")})


_shufflenet_rules()


@on_call("mean", torch.mean)
def _mean(node: fx.Node) -> Mapped:
    dims = _arg(node, 1, "dim")
    dims = sorted(d % 4 for d in dims) if isinstance(dims, (list, tuple)) else None
    _need(dims == [2, 3], "a mean other than over H and W")
    keep = _arg(node, 2, "keepdim", False)
    return Mapped("globalavgpool", then="" if keep else "flatten")  # ShuffleNetV2's x.mean([2, 3])
