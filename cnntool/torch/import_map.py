"""torch → layer kinds for `cnntool import`: one small rule per nn.Module class or function.

A rule reads a traced call and returns the kind, its YAML fields and the data inputs, or raises
Unsupported saying why (a setting the kind cannot express is an unsupported op, never a guess).
Rules are registered by decorator, keyed by module class or by function / method name, so adding
a mapping is one function here and nothing else changes.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

SHAPED = ("chunk", nn.LayerNorm)  # calls (or module classes) whose rule reads an input's shape:
# the importer runs ShapeProp first (chunk's channels; nn.LayerNorm must see a vector or NHWC map)

__all__ = ["SHAPED", "Mapped", "Unsupported", "IDENTITY", "map_module", "map_function", "MODULES", "FUNCTIONS"]

IDENTITY = ""  # the kind of a call that passes its input through (nn.Identity): no node is written


class Unsupported(Exception):
    """A call with no layer kind (or with a setting the kind cannot express)."""


@dataclass(frozen=True)
class Mapped:
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[Any, ...] = ()  # fx nodes; () means the call's first argument
    then: str = ""  # a second kind applied to the result (x.mean([2, 3]): globalavgpool, flatten)
    name: str | None = None  # the node's name, for a call that stands for a module's attribute
    last: bool | None = None  # a permute: True to channels-last (N, H, W, C), False back to NCHW
    last_dim: bool = False  # works on the last dim (nn.Linear, nn.LayerNorm): per position on NHWC


MODULES: dict[type, Callable[[nn.Module], Mapped]] = {}
FUNCTIONS: dict[Any, Callable[[fx.Node], Mapped]] = {}  # a function, or a method name


def _registrar(table: dict) -> Callable:
    """A decorator factory that files a rule under each key; a key with two rules is an error."""
    def on(*keys: Any) -> Callable:
        def deco(rule: Callable) -> Callable:
            for key in keys:
                if key in table:
                    raise TypeError(f"{getattr(key, '__name__', key)} has two import rules")
                table[key] = rule
            return rule
        return deco
    return on


on_module = _registrar(MODULES)  # @on_module(nn.Conv2d): a rule over the module instance
on_call = _registrar(FUNCTIONS)  # @on_call(F.relu, "relu"): a rule over the fx call node


def map_module(module: nn.Module) -> Mapped:
    rule = MODULES.get(type(module))
    if rule is None:
        raise Unsupported(f"{type(module).__module__}.{type(module).__qualname__}")
    return rule(module)


def map_function(node: fx.Node) -> Mapped:
    key = node.target if node.op == "call_function" else str(node.target)
    rule = FUNCTIONS.get(key)
    if rule is None:
        raise Unsupported(_call_name(node))
    return rule(node)


def _call_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    module = getattr(target, "__module__", None) or "torch"
    return f"{module}.{getattr(target, '__name__', target)}"


def _arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    return node.args[index] if len(node.args) > index else node.kwargs.get(name, default)


def _args(node: fx.Node, *named: tuple[str, Any]) -> list[Any]:
    """The arguments after the input, by position or keyword, in the order of ``named``."""
    return [_arg(node, i, name, default) for i, (name, default) in enumerate(named, start=1)]


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise Unsupported(what)


def pair(value: Any) -> Any:
    """(3, 3) → 3, as a spec writes it; [h, w] when the axes differ."""
    value = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    return value[0] if value[0] == value[1] else list(value)


# -- modules ---------------------------------------------------------------------------------

@on_module(nn.Conv2d, nn.ConvTranspose2d)
def _conv(m: nn.Conv2d) -> Mapped:
    _need(m.padding_mode == "zeros", f"{type(m).__name__} with padding_mode={m.padding_mode!r}")
    fields = {"out": m.out_channels, "kernel": pair(m.kernel_size), "stride": pair(m.stride),
              "padding": m.padding if isinstance(m.padding, str) else pair(m.padding),
              "dilation": pair(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.ConvTranspose2d):
        return Mapped("deconv", {**fields, "output_padding": pair(m.output_padding)})
    return Mapped("conv", fields)


@on_module(nn.BatchNorm2d, nn.BatchNorm1d)
def _bn(m: nn.BatchNorm2d) -> Mapped:
    _need(m.track_running_stats and m.momentum is not None,
          "BatchNorm without running statistics (track_running_stats=False or momentum=None)")
    return Mapped("bn", {"eps": m.eps, "momentum": m.momentum, "affine": m.affine})


@on_module(nn.Linear)
def _linear(m: nn.Linear) -> Mapped:
    return Mapped("linear", {"out": m.out_features, "bias": m.bias is not None}, last_dim=True)


@on_module(nn.MaxPool2d, nn.AvgPool2d)
def _pool(m: nn.MaxPool2d) -> Mapped:
    if isinstance(m, nn.MaxPool2d):
        return _maxpool(m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices)
    return _avgpool(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override)


def _maxpool(kernel, stride, padding, dilation, ceil_mode, return_indices) -> Mapped:
    _need(pair(dilation) == 1 and not return_indices, "max pooling with dilation or return_indices")
    return _pooled("maxpool", kernel, stride, padding, ceil_mode)


def _avgpool(kernel, stride, padding, ceil_mode, count_include_pad, divisor_override) -> Mapped:
    _need(count_include_pad and divisor_override is None,
          "average pooling with count_include_pad=False or divisor_override")
    return _pooled("avgpool", kernel, stride, padding, ceil_mode)


def _pooled(kind: str, kernel, stride, padding, ceil_mode) -> Mapped:
    kernel, stride = pair(kernel), pair(stride or kernel)  # stride None (or []): the kernel
    return Mapped(kind, {"kernel": kernel, "stride": None if stride == kernel else stride,
                         "padding": pair(padding), "ceil_mode": ceil_mode})


@on_module(nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
def _adaptive(m: nn.AdaptiveAvgPool2d) -> Mapped:
    size = pair(m.output_size)
    _need(None not in (size if isinstance(size, list) else [size]), "adaptive pooling with a None size")
    if size == 1:
        return Mapped("globalavgpool" if isinstance(m, nn.AdaptiveAvgPool2d) else "globalmaxpool")
    _need(isinstance(m, nn.AdaptiveAvgPool2d), "AdaptiveMaxPool2d to a size other than 1")
    return Mapped("adaptiveavgpool", {"size": size})


@on_module(nn.ReLU)
def _relu(m: nn.Module) -> Mapped:
    return Mapped("relu")


@on_module(nn.Sigmoid, nn.Tanh)
def _plain(m: nn.Module) -> Mapped:
    return Mapped(type(m).__name__.lower())


@on_module(nn.LeakyReLU)
def _leaky(m: nn.LeakyReLU) -> Mapped:
    return Mapped("leakyrelu", {"slope": m.negative_slope})


@on_module(nn.ELU)
def _elu(m: nn.ELU) -> Mapped:
    return Mapped("elu", {"alpha": m.alpha})


@on_module(nn.Softmax)
def _softmax(m: nn.Softmax) -> Mapped:
    _need(m.dim in (1, -1), f"Softmax over dim {m.dim}")  # -1 is the channel dim of a (N, F) input
    return Mapped("softmax")


@on_module(nn.Dropout)
def _dropout(m: nn.Dropout) -> Mapped:
    return Mapped("dropout", {"p": m.p})


@on_module(nn.Flatten)
def _flatten(m: nn.Flatten) -> Mapped:
    _need(m.start_dim == 1 and m.end_dim == -1, f"Flatten({m.start_dim}, {m.end_dim})")
    return Mapped("flatten")


@on_module(nn.LocalResponseNorm)
def _lrn(m: nn.LocalResponseNorm) -> Mapped:
    return Mapped("lrn", {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k})


@on_module(nn.Identity)
def _identity(m: nn.Module) -> Mapped:
    return Mapped(IDENTITY)


# -- functions and tensor methods --------------------------------------------------------------

@on_call(operator.add, operator.iadd, torch.add, "add", "add_")
def _add(node: fx.Node) -> Mapped:
    a, b = node.args[:2]
    _need(isinstance(a, fx.Node) and isinstance(b, fx.Node) and "alpha" not in node.kwargs,
          "add of a tensor and a constant (or with alpha)")
    return Mapped("add", inputs=(a, b))


@on_call(torch.cat, torch.concat)
def _cat(node: fx.Node) -> Mapped:
    dim = _arg(node, 1, "dim", 0)
    _need(dim in (1, -3), f"torch.cat along dim {dim} (concat joins channels, dim 1)")
    inputs = tuple(node.args[0])
    return Mapped(IDENTITY if len(inputs) == 1 else "concat", inputs=inputs)  # cat([x]) is x (DenseNet)


@on_call(torch.flatten, "flatten")
def _flatten_call(node: fx.Node) -> Mapped:
    start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
    _need(start == 1 and end == -1, f"flatten({start}, {end}) (flatten keeps the batch: start_dim=1)")
    return Mapped("flatten")


@on_call(F.relu, torch.relu, "relu", "relu_")
def _relu_call(node: fx.Node) -> Mapped:
    return Mapped("relu")


@on_call(torch.sigmoid, F.sigmoid, "sigmoid")
def _sigmoid_call(node: fx.Node) -> Mapped:
    return Mapped("sigmoid")


@on_call(F.dropout)
def _dropout_call(node: fx.Node) -> Mapped:
    return Mapped("dropout", {"p": _arg(node, 1, "p", 0.5)})


@on_call(F.max_pool2d)
def _maxpool_call(node: fx.Node) -> Mapped:  # Inception-v3's grid reductions
    return _maxpool(*_args(node, ("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1),
                           ("ceil_mode", False), ("return_indices", False)))


@on_call(F.avg_pool2d)
def _avgpool_call(node: fx.Node) -> Mapped:  # Inception-v3's pool branches
    return _avgpool(*_args(node, ("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False),
                           ("count_include_pad", True), ("divisor_override", None)))


@on_call(F.adaptive_avg_pool2d)
def _adaptive_call(node: fx.Node) -> Mapped:
    size = pair(_arg(node, 1, "output_size"))
    return Mapped("globalavgpool") if size == 1 else Mapped("adaptiveavgpool", {"size": size})


from . import import_map_modern  # noqa: E402,F401  (MobileNet, EfficientNet, RegNet, ShuffleNet, ConvNeXt rules)

# functions fx would trace into that have a rule: the tracer keeps them as calls (channel_shuffle)
WRAPPED = tuple(f for f in FUNCTIONS if callable(f) and getattr(f, "__module__", "").startswith("torchvision"))
