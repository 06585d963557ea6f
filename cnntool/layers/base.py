"""The layer contract: one class per kind holds its YAML fields and every rule about it.

A kind is a frozen dataclass whose fields are its YAML keys. Its methods give the output shape,
parameters, buffers, MACs, other FLOPs, receptive-field window and the torch module, all from
one ``Io`` record, so adding a kind is one class in one place. ``@register`` adds it to the
registry; registering a name twice is an error.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Literal, Union

__all__ = ["MAX_DIM", "Shape", "Pair", "Ref", "Io", "Win", "GLOBAL", "Layer", "LayerError", "register",
           "REGISTRY", "PEERS", "weighted_peers", "Saved", "Extra", "field_doc", "pair", "numel", "need_dims",
           "need_positive", "conv_out", "pool_out", "Field", "fields_of"]

Shape = tuple[int, ...]
Pair = tuple[int, int]  # (H, W); YAML may give one int for both

# The largest channel count, feature count, spatial size or any other number a field or a shape
# may hold: 2**24. With 100,000 layers, every total (params, MACs, bytes) stays below 2**140,
# far from float's 1e308 and from the 4,300-digit limit of str(int).
MAX_DIM = 2**24


class LayerError(ValueError):
    """A rule violated by a layer's inputs or arguments; the analysis adds the spec location."""


@dataclass(frozen=True, slots=True)
class Ref:
    """What a layer may know about a node it names in a field (e.g. maxunpool's `indices`)."""

    kind: str
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    layer: Any = None


@dataclass(frozen=True, slots=True)
class Io:
    """Inputs (and, once inferred, the output) of one layer instance, batch excluded."""

    ins: tuple[Shape, ...]
    out: Shape = ()
    refs: dict[str, Ref] = dataclasses.field(default_factory=dict)

    @property
    def x(self) -> Shape:
        return self.ins[0]


@dataclass(frozen=True, slots=True)
class Win:
    """A sliding window along one axis, for receptive-field arithmetic (Araujo et al. 2019)."""

    kernel: int  # effective extent, dilation included
    stride: int | Fraction = 1  # a fraction for interpolation (input pixels per output pixel)
    padding: Fraction | int = 0
    transposed: bool = False


@dataclass(frozen=True, slots=True)
class Extra:
    """A tensor autograd saves that is neither an input nor the output (pool indices, BN stats)."""

    elements: int  # per sample, or in all when not per_sample
    itemsize: int = 0  # bytes per element; 0: the activation dtype's
    per_sample: bool = True


@dataclass(frozen=True, slots=True)
class Saved:
    """What a layer keeps for its backward: which data inputs, its output, and extra tensors."""

    inputs: tuple[int, ...] = ()
    output: bool = False
    extra: tuple[Extra, ...] = ()


GLOBAL = "global"  # the window covers the whole input (linear, flatten, global pooling)


PEERS = ("torchinfo", "fvcore", "thop", "ptflops", "ptflops-aten", "flopcounter")


def weighted_peers(macs: int, bias_adds: int, fvcore: int, by_output: int | None = None) -> dict[str, int]:
    """conv, deconv, linear: every tool counts the multiply-accumulates; torchinfo and ptflops add
    one per bias output. thop and torchinfo count a transposed conv over its output (`by_output`)."""
    scattered = macs if by_output is None else by_output
    return {"torchinfo": scattered + bias_adds, "fvcore": fvcore, "thop": scattered,
            "ptflops": macs + bias_adds, "ptflops-aten": macs + bias_adds, "flopcounter": 2 * macs}


def field_doc(text: str) -> dict:
    """Field metadata: the text `cnntool schema` and the docs show for a YAML key."""
    return {"doc": text}


def numel(shape: Shape) -> int:
    return math.prod(shape)


def pair(value: int | Pair) -> Pair:
    return (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


def need_positive(layer: object, *names: str) -> None:
    """Raise naming the first field (int or pair) that is not positive."""
    for name in names:
        value = getattr(layer, name)
        if min(value if isinstance(value, tuple) else (value,)) <= 0:
            shown = list(value) if isinstance(value, tuple) else value
            raise LayerError(f"{name} must be positive, got {shown}")


def need_dims(io: Io, dims: int, kind: str) -> None:
    for shape in io.ins:
        if len(shape) != dims:
            what = "a (C, H, W) feature map" if dims == 3 else "a flat (features,) vector"
            hint = " (add a `flatten` before it)" if dims == 1 else ""
            raise LayerError(f"{kind} needs {what}, got shape {list(shape)}{hint}")


def conv_out(i: int, k: int, s: int, p: int, d: int, ceil: bool, axis: str) -> tuple[int, str, str]:
    """o = floor((i + 2p − d(k−1) − 1) / s) + 1 (ceil for cuda-convnet).

    Returns (o, the arithmetic, a warning or ""). An inexact division only warns when it
    matters: floor leaves real input pixels unread, or ceil reads past the given padding.
    """
    span = i + 2 * p - d * (k - 1) - 1
    if span < 0:
        kernel = f"kernel {k}" if d == 1 else f"dilated kernel {d * (k - 1) + 1}"
        raise LayerError(f"{kernel} is larger than the padded input {i + 2 * p} along {axis}")
    o = (-(-span // s) if ceil else span // s) + 1
    keff = d * (k - 1) + 1
    text = f"{axis}: ({i} + 2×{p} − {keff}) / {s} + 1 = {Fraction(span, s) + 1}"
    if not span % s:
        return o, text, ""
    text += f" → {'ceil' if ceil else 'floor'} {o}"
    reach = (o - 1) * s + keff - 1 - p  # index of the last input pixel the last window reads
    if ceil:
        return o, text, f"{text}: the last window reads {reach - (i - 1 + p)} beyond the padding"
    if reach < i - 1 and keff >= s:  # (with kernel < stride, skipping pixels is the design)
        return o, text, f"{text}: the last {i - 1 - reach} input pixel(s) along {axis} are never read"
    return o, text, ""


def stride_notes(warnings: list[str]) -> list[str]:
    """One warning per axis, or one for both when H and W say the same."""
    found = [w for w in warnings if w]
    if len(found) == 2 and found[0][1:] == found[1][1:]:
        found = ["H and W" + found[0][1:]]
    return [f"stride does not divide the input: {w}" for w in found]


def pool_out(i: int, k: int, s: int, p: int, d: int, ceil: bool, axis: str) -> tuple[int, str, str]:
    """PyTorch pooling: with ceil_mode a last window that would start in the padding is dropped."""
    if 2 * p > k:
        raise LayerError(f"padding {p} must be at most half the kernel {k} along {axis}")
    o, text, warning = conv_out(i, k, s, p, d, ceil, axis)
    if ceil and (o - 1) * s >= i + p:
        o -= 1
        text += f", minus the last window that would start in the padding = {o}"
    return o, text, "" if ceil else warning  # ceil_mode is PyTorch's own, chosen on purpose


# -- fields --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: Any
    default: Any
    required: bool
    doc: str


@functools.cache
def fields_of(cls: type) -> tuple[Field, ...]:
    """A kind's YAML fields (cached: resolving type hints is slow and they never change)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING
        out.append(Field(f.name, hints[f.name], None if required else f.default, required,
                         f.metadata.get("doc", "")))
    return tuple(out)


def _type_name(tp: Any) -> str:
    if tp is Pair or tp == tuple[int, int]:
        return "an integer or [h, w]"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin is Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None)) + " or null"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")
def _in_range(value: Any) -> Any:
    """Numbers a field holds stay within ±MAX_DIM (and are finite)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) <= MAX_DIM:
        raise LayerError(f"{value!r:.40} is over the limit of {MAX_DIM:,} for a field")
    return value


def coerce(value: Any, tp: Any) -> Any:
    """Check a YAML value against a field type and range; raise LayerError naming what was expected."""
    for item in value if isinstance(value, list) else (value,):
        _in_range(item)
    origin = typing.get_origin(tp)
    if origin is Union:
        if value is None and type(None) in typing.get_args(tp):
            return None
        for option in typing.get_args(tp):
            if option is type(None):
                continue
            try:
                return coerce(value, option)
            except LayerError:
                pass
    elif origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif tp is Pair or tp == tuple[int, int]:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value, value)
        if isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    shown = {True: "true", False: "false", None: "null"}.get(value, repr(value)) \
        if isinstance(value, (bool, type(None))) else repr(value)
    why = ""
    if tp is int and isinstance(value, float) and value.is_integer():
        why = " (`/` divides to a float; use `//`)"
    elif tp in (int, float) and isinstance(value, str) and _numeric(value):
        why = " (a quoted number is text; remove the quotes)"
    raise LayerError(f"expected {_type_name(tp)}, got {shown}{why}")


# -- the contract ------------------------------------------------------------------------

class Layer:
    """Base of every kind. Rules take an ``Io`` and count for one sample (batch 1)."""

    kind: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    primary: ClassVar[str | None] = None  # field set by the scalar form, e.g. `conv: 64`
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # min and max data inputs
    refs: ClassVar[tuple[str, ...]] = ()  # fields that name another node

    def check(self) -> None:
        """Validate arguments that do not depend on the input (raise LayerError)."""

    def out_shape(self, io: Io) -> Shape:
        return io.x

    def params(self, io: Io) -> int:
        return 0

    def buffers(self, io: Io) -> int:
        return 0

    def macs(self, io: Io) -> int:
        """Multiply-accumulates of conv/linear, bias excluded: the papers' 'multiply-adds'."""
        return 0

    def ops(self, io: Io) -> int:
        """FLOPs that are not MACs (bias adds, normalisation, activations, pooling, adds)."""
        return 0

    def fvcore(self, io: Io) -> int:
        """What fvcore's FlopCountAnalysis reports for this layer (its unit is one MAC)."""
        return self.macs(io)

    def peers(self, io: Io) -> dict[str, int]:
        """Each peer tool's count for this layer, one image, by that tool's own rule as measured
        (torchinfo 1.8.0, fvcore 0.1.5, thop 0.1.1, ptflops 0.7.5, torch 2.14.1; tests/test_peers.py).
        By default: torchinfo counts each parameter once, FlopCounterMode 2 per MAC, thop and
        ptflops nothing (their hooks do not know the module)."""
        return {"torchinfo": self.params(io), "fvcore": self.fvcore(io), "thop": 0, "ptflops": 0,
                "ptflops-aten": 0, "flopcounter": 2 * self.macs(io)}

    # -- memory in an inference forward (cnntool.analysis.analyze: the peak) --
    view: ClassVar[bool] = False  # the output is a view of input 0 (shares its storage): no new memory

    def working(self, io: Io) -> int:
        """Elements this layer holds at once while it runs, its output included (temporaries)."""
        return 0 if self.view else numel(io.out)

    def side_outputs(self, io: Io) -> dict[str, int]:
        """Bytes per sample of extra tensors that a referenced node (by field) must keep for this
        layer, e.g. a maxpool's int64 switches for maxunpool."""
        return {}

    # -- training (docs/training.md): a kind overrides these where autograd does otherwise --
    def backward_macs(self, io: Io, grad_in: bool) -> int:
        """MACs of the backward: one forward's MACs for the gradient w.r.t. the input (when it
        needs one) and one more w.r.t. the weights (when there are any)."""
        return self.macs(io) * (int(grad_in) + int(self.params(io) > 0))

    def backward_ops(self, io: Io, grad_in: bool) -> int:
        """Element-wise backward FLOPs: as many as the forward's, when any gradient is needed."""
        return self.ops(io) if grad_in or self.params(io) else 0

    def train_view(self) -> bool:
        """Is the output a view of input 0 in a training forward? As in inference unless the kind
        says otherwise (dropout is the identity only at inference)."""
        return self.view

    def saved(self, io: Io) -> Saved:
        """Tensors autograd saves for the backward. Default: every data input, which is what
        most ops keep (conv, linear, mul, SiLU/GELU, layer norm's input)."""
        return Saved(inputs=tuple(range(len(io.ins))))

    def cpu_backward_workspace(self, io: Io, batch: int) -> tuple[tuple[Extra, ...], ...]:
        """Temporaries the layer's backward holds on CPU besides the gradients it makes (which
        the timeline counts), as alternatives, one per stage of the backward, of which the
        largest counts. ``batch`` is 1 or 2 (2: any batch of 2 or more), for a backend whose
        choice depends on it (oneDNN's inner product). Default: none (the op allocates only
        its gradients)."""
        return ()

    def window(self, io: Io) -> tuple[Win, Win] | str | None:
        """Sliding window along H and W; None for element-wise layers, GLOBAL for dense ones."""
        return None

    def notes(self, io: Io) -> list[str]:
        """Warnings about this instance (e.g. a stride that does not divide the input)."""
        return []

    def explain(self, io: Io) -> list[str]:
        """The shape arithmetic, for `--explain`."""
        return []

    def describe(self) -> str:
        """A few characters for tables, e.g. '3×3/2 p1'."""
        return ""

    def build(self, io: Io) -> Any:
        """The equivalent torch.nn.Module (torch is imported inside, never at module level)."""
        raise NotImplementedError(f"{self.kind} has no torch builder")


REGISTRY: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` a frozen dataclass and add it under ``cls.kind``."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no `kind`")
    if cls.kind in REGISTRY:
        raise TypeError(f"layer kind {cls.kind!r} is registered twice "
                        f"({REGISTRY[cls.kind].__name__} and {cls.__name__})")
    cls = dataclass(frozen=True)(cls)
    REGISTRY[cls.kind] = cls
    return cls
