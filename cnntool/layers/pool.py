"""Pooling, un-pooling and up-sampling: windows with no weights."""
from __future__ import annotations

from dataclasses import field
from fractions import Fraction
from typing import Literal, Optional

from .base import GLOBAL, Extra, Saved, field_doc, stride_notes, Io, Layer, LayerError, Pair, Shape, Win, need_dims, numel, pool_out, register
from .conv import window_text



class _Pool(Layer):
    """Shared rules of max and average pooling; subclasses only name their torch module."""

    primary = "kernel"
    torch_name = ""

    def strides(self) -> Pair:
        return self.stride or self.kernel  # PyTorch: stride defaults to the kernel size

    def check(self) -> None:
        if min(self.kernel + self.strides()) <= 0 or min(self.padding) < 0:
            raise LayerError("kernel and stride must be positive, padding non-negative")

    def _sizes(self, x: Shape) -> tuple[list[int], list[str], list[str]]:
        sizes, texts, warnings = [], [], []
        for axis, i, k, s, p in zip("HW", x[1:], self.kernel, self.strides(), self.padding):
            o, text, warning = pool_out(i, k, s, p, 1, self.ceil_mode, axis)
            sizes.append(o), texts.append(text), warnings.append(warning)
        return sizes, texts, warnings

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        return (io.x[0], *self._sizes(io.x)[0])

    def notes(self, io: Io) -> list[str]:
        return stride_notes(self._sizes(io.x)[2])

    def explain(self, io: Io) -> list[str]:
        return self._sizes(io.x)[1]

    def ops(self, io: Io) -> int:
        return numel(io.out) * numel(self.kernel)  # one compare or add per window element

    def peers(self, io: Io) -> dict[str, int]:
        # ptflops: its module hook and its patched F.*_pool2d each count the input once;
        # thop: one per output for average pooling, nothing for max
        thop = numel(io.out) if self.kind == "avgpool" else 0
        return {**super().peers(io), "ptflops": 2 * numel(io.x), "thop": thop}

    def window(self, io: Io) -> tuple[Win, Win]:
        return tuple(Win(k, s, p) for k, s, p in zip(self.kernel, self.strides(), self.padding))  # type: ignore

    def describe(self) -> str:
        return window_text(self.kernel, self.strides(), self.padding) + (" ceil" if self.ceil_mode else "")

    def build(self, io: Io):
        from torch import nn
        return getattr(nn, self.torch_name)(self.kernel, self.strides(), self.padding, ceil_mode=self.ceil_mode)


@register
class MaxPool(_Pool):
    kind = "maxpool"
    doc = "max pooling (torch.nn.MaxPool2d); `maxpool: 2` is 2×2 with stride 2."
    torch_name = "MaxPool2d"

    def saved(self, io: Io) -> Saved:
        return Saved(inputs=(0,), extra=(Extra(numel(io.out), itemsize=8),))  # int64 indices

    kernel: Pair = field(metadata=field_doc("window size"))
    stride: Optional[Pair] = field(default=None, metadata=field_doc("stride; defaults to the kernel size"))
    padding: Pair = field(default=(0, 0), metadata=field_doc("implicit -inf padding per side"))
    ceil_mode: bool = field(default=False, metadata=field_doc("round the output size up, as PyTorch does"))


@register
class AvgPool(_Pool):
    kind = "avgpool"
    doc = "average pooling (torch.nn.AvgPool2d, padding counted in the average)."
    torch_name = "AvgPool2d"
    kernel: Pair = field(metadata=field_doc("window size"))
    stride: Optional[Pair] = field(default=None, metadata=field_doc("stride; defaults to the kernel size"))
    padding: Pair = field(default=(0, 0), metadata=field_doc("zero padding per side"))
    ceil_mode: bool = field(default=False, metadata=field_doc("round the output size up, as PyTorch does"))


@register
class AdaptiveAvgPool(Layer):
    kind = "adaptiveavgpool"
    doc = "adaptive average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)."
    primary = "size"
    size: Pair = field(metadata=field_doc("output size, s or [h, w]"))

    def check(self) -> None:
        if min(self.size) <= 0:
            raise LayerError("size must be positive")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        return (io.x[0], *self.size)

    def ops(self, io: Io) -> int:
        return numel(io.x)  # every input element is added once

    def fvcore(self, io: Io) -> int:
        return numel(io.x)  # fvcore: 1 per input element

    def peers(self, io: Io) -> dict[str, int]:
        return _adaptive_peers(self, io, numel(io.x) // numel(io.out))

    def saved(self, io: Io) -> Saved:
        # to 1×1 ATen computes a mean, which keeps only sizes
        return Saved() if self.size == (1, 1) else Saved(inputs=(0,))

    def window(self, io: Io):
        if io.x[1:] == self.size:
            return None
        # per axis: an exact division is a plain k = s = i/o window; otherwise windows of varying
        # size overlap, and we take the whole axis (a bound, not an average)
        return tuple(Win(i // o, i // o) if i % o == 0 else Win(i, 1) for i, o in zip(io.x[1:], self.size))

    def describe(self) -> str:
        return f"→{self.size[0]}×{self.size[1]}"

    def build(self, io: Io):
        from torch import nn
        return nn.AdaptiveAvgPool2d(self.size)


def _adaptive_peers(layer: Layer, io: Io, window: int | None) -> dict[str, int]:
    """thop: (window + 1) per output for adaptive average pooling (window = input / output
    elements), none for max; ptflops: 2 per input element (module hook and F.adaptive_*)."""
    thop = 0 if window is None else numel(io.out) * (window + 1)
    return {**Layer.peers(layer, io), "thop": thop, "ptflops": 2 * numel(io.x)}


class _GlobalPool(Layer):
    torch_name = ""

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        return (io.x[0], 1, 1)

    def ops(self, io: Io) -> int:
        return numel(io.x)

    def window(self, io: Io) -> str:
        return GLOBAL

    def build(self, io: Io):
        from torch import nn
        return getattr(nn, self.torch_name)(1)


@register
class GlobalAvgPool(_GlobalPool):
    kind = "globalavgpool"
    doc = "average over all of H×W → (C, 1, 1) (torch.nn.AdaptiveAvgPool2d(1))."
    torch_name = "AdaptiveAvgPool2d"

    def fvcore(self, io: Io) -> int:
        return numel(io.x)

    def peers(self, io: Io) -> dict[str, int]:
        return _adaptive_peers(self, io, io.x[1] * io.x[2])

    def saved(self, io: Io) -> Saved:
        return Saved()  # a mean over H×W keeps only sizes


@register
class GlobalMaxPool(_GlobalPool):
    kind = "globalmaxpool"
    doc = "maximum over all of H×W → (C, 1, 1) (torch.nn.AdaptiveMaxPool2d(1))."
    torch_name = "AdaptiveMaxPool2d"

    def peers(self, io: Io) -> dict[str, int]:
        return _adaptive_peers(self, io, None)

    def saved(self, io: Io) -> Saved:
        return Saved(inputs=(0,), extra=(Extra(io.x[0], itemsize=8),))  # int64 indices


@register
class MaxUnpool(Layer):
    kind = "maxunpool"
    doc = ("max un-pooling with the switches of an earlier maxpool (torch.nn.MaxUnpool2d): "
           "each value goes back where the max came from; the output has that pool's input size.")
    refs = ("indices",)
    indices: str = field(metadata=field_doc("name of the maxpool node whose switches are reused"))

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        pool = io.refs["indices"]
        if pool.kind != "maxpool":
            raise LayerError(f"indices must name a maxpool node, not a {pool.kind}")
        if io.x != pool.out_shape:
            raise LayerError(f"input {list(io.x)} does not match the pooled shape "
                             f"{list(pool.out_shape)} of '{self.indices}'")
        return pool.in_shapes[0]

    def window(self, io: Io):
        pool = io.refs["indices"].layer  # un-pooling retraces that pool's windows backwards
        return tuple(Win(k, s, p, transposed=True)
                     for k, s, p in zip(pool.kernel, pool.strides(), pool.padding))

    def side_outputs(self, io: Io) -> dict[str, int]:
        return {"indices": 8 * numel(io.x)}  # the pool's int64 switches, one per pooled value

    def describe(self) -> str:
        return f"← {self.indices}"

    def saved(self, io: Io) -> Saved:
        return Saved()  # keeps the pool's indices, already counted with that maxpool

    def build(self, io: Io):
        # the builder makes the referenced maxpool return its indices and passes them in
        from ..torch.ops import MaxUnpool as TorchMaxUnpool
        pool = io.refs["indices"].layer
        return TorchMaxUnpool(pool.kernel, pool.strides(), pool.padding, io.out[1:])


_TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}  # input pixels read per output, per axis


@register
class Upsample(Layer):
    kind = "upsample"
    doc = "up-sampling by an integer factor (torch.nn.Upsample)."
    primary = "scale"
    scale: int = field(default=2, metadata=field_doc("integer scale factor"))
    mode: Literal["nearest", "bilinear", "bicubic"] = field(default="nearest", metadata=field_doc("interpolation"))
    align_corners: Optional[bool] = field(default=None, metadata=field_doc("bilinear and bicubic only, as in PyTorch"))

    def check(self) -> None:
        if self.scale <= 0:
            raise LayerError("scale must be positive")
        if self.align_corners is not None and self.mode == "nearest":
            raise LayerError("align_corners only applies to modes 'bilinear' and 'bicubic' (as in PyTorch)")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        return (io.x[0], io.x[1] * self.scale, io.x[2] * self.scale)

    def ops(self, io: Io) -> int:
        return 0 if self.mode == "nearest" else _TAPS[self.mode] ** 2 * numel(io.out)  # one per tap; nearest copies

    def fvcore(self, io: Io) -> int:
        return numel(io.out) * {"nearest": 1, "bilinear": 4, "bicubic": 0}[self.mode]  # fvcore has no bicubic rule

    def peers(self, io: Io) -> dict[str, int]:
        # thop: 1 per output (nearest), 11 (bilinear), 259 (bicubic: 224 to solve A, 35 for x);
        # ptflops: its module hook and its patched F.interpolate each count the output once
        thop = {"nearest": 1, "bilinear": 11, "bicubic": 259}[self.mode] * numel(io.out)
        return {**super().peers(io), "thop": thop, "ptflops": 2 * numel(io.out)}

    def window(self, io: Io) -> tuple[Win, Win]:
        """Interpolation as a window with a fractional stride: output o reads `taps` inputs around
        its source coordinate x(o) = (o + ½)/s − ½, or o·(i − 1)/(o_n − 1) with align_corners."""
        taps = _TAPS[self.mode]
        wins = []
        for i in io.x[1:]:
            o = i * self.scale
            if self.align_corners:
                step, x0 = (Fraction(i - 1, o - 1) if o > 1 else Fraction(1)), Fraction(0)
            else:
                step = Fraction(1, self.scale)
                x0 = Fraction(0) if taps == 1 else (step - 1) / 2  # nearest: floor(o / s)
            wins.append(Win(taps, step, Fraction(taps - 1, 2) - x0))
        return tuple(wins)  # type: ignore[return-value]

    def describe(self) -> str:
        corners = " corners" if self.align_corners else ""
        return f"×{self.scale} {self.mode}{corners}"

    def saved(self, io: Io) -> Saved:
        return Saved()  # the backward needs only sizes

    def build(self, io: Io):
        from torch import nn
        return nn.Upsample(scale_factor=self.scale, mode=self.mode, align_corners=self.align_corners)
