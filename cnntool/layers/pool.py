"""Pooling, un-pooling and up-sampling: windows with no weights."""
from __future__ import annotations

from dataclasses import field
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

    def saved(self, io: Io) -> Saved:
        return Saved()  # a mean over H×W keeps only sizes


@register
class GlobalMaxPool(_GlobalPool):
    kind = "globalmaxpool"
    doc = "maximum over all of H×W → (C, 1, 1) (torch.nn.AdaptiveMaxPool2d(1))."
    torch_name = "AdaptiveMaxPool2d"

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

    def describe(self) -> str:
        return f"← {self.indices}"

    def saved(self, io: Io) -> Saved:
        return Saved()  # keeps the pool's indices, already counted with that maxpool

    def build(self, io: Io):
        # the builder makes the referenced maxpool return its indices and passes them in
        from ..torch.ops import MaxUnpool as TorchMaxUnpool
        pool = io.refs["indices"].layer
        return TorchMaxUnpool(pool.kernel, pool.strides(), pool.padding, io.out[1:])


@register
class Upsample(Layer):
    kind = "upsample"
    doc = "up-sampling by an integer factor (torch.nn.Upsample)."
    primary = "scale"
    scale: int = field(default=2, metadata=field_doc("integer scale factor"))
    mode: Literal["nearest", "bilinear"] = field(default="nearest", metadata=field_doc("interpolation"))
    align_corners: Optional[bool] = field(default=None, metadata=field_doc("bilinear only, as in PyTorch"))

    def check(self) -> None:
        if self.scale <= 0:
            raise LayerError("scale must be positive")
        if self.align_corners is not None and self.mode != "bilinear":
            raise LayerError("align_corners only applies to mode 'bilinear' (as in PyTorch)")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        return (io.x[0], io.x[1] * self.scale, io.x[2] * self.scale)

    def ops(self, io: Io) -> int:
        return 4 * numel(io.out) if self.mode == "bilinear" else 0  # nearest only copies

    def fvcore(self, io: Io) -> int:
        return numel(io.out) * (4 if self.mode == "bilinear" else 1)

    def window(self, io: Io):
        return (Win(1, self.scale, transposed=True),) * 2

    def describe(self) -> str:
        return f"×{self.scale} {self.mode}"

    def saved(self, io: Io) -> Saved:
        return Saved()  # the backward needs only sizes

    def build(self, io: Io):
        from torch import nn
        return nn.Upsample(scale_factor=self.scale, mode=self.mode, align_corners=self.align_corners)
