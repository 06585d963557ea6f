"""Layers that only move values: no weights, no arithmetic.

``shortcut_a`` is the CIFAR ResNet's parameter-free projection (He et al., arXiv 1512.03385,
§3.3 option A and §4.2); ``unflatten`` turns a flat vector back into a (C, H, W) map, as YOLO
reads its 1470 outputs as a 7×7×30 tensor.
"""
from __future__ import annotations

from dataclasses import field

from .base import Saved, field_doc, Io, Layer, LayerError, Pair, Shape, Win, need_dims, numel, register



@register
class ShortcutA(Layer):
    kind = "shortcut_a"
    doc = ("ResNet option-A shortcut: the identity sub-sampled by `stride` (x[:, :, ::s, ::s]) with "
           "zero channels added up to `out`; no parameters.")
    primary = "out"
    out: int = field(metadata=field_doc("output channels (the extra ones are zeros)"))
    stride: int = field(default=1, metadata=field_doc("keep every stride-th row and column"))

    def check(self) -> None:
        if self.out <= 0 or self.stride <= 0:
            raise LayerError("out and stride must be positive")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        if self.out < io.x[0]:
            raise LayerError(f"cannot pad {io.x[0]} channels down to {self.out}")
        return (self.out, *(-(-i // self.stride) for i in io.x[1:]))  # x[::s] keeps ceil(i / s)

    def window(self, io: Io) -> tuple[Win, Win]:
        return (Win(1, self.stride),) * 2

    def describe(self) -> str:
        return f"/{self.stride} +{self.out}ch" if self.stride > 1 else f"+{self.out}ch"

    def saved(self, io: Io) -> Saved:
        return Saved()  # a strided view, then zero padding: the backward needs only sizes

    def build(self, io: Io):
        from ..torch.ops import ShortcutA as TorchShortcutA
        return TorchShortcutA(self.stride, self.out - io.x[0])


@register
class Unflatten(Layer):
    kind = "unflatten"
    doc = "(C·H·W,) → (C, H, W), as torch.nn.Unflatten(1, (C, H, W)); the inverse of flatten."
    primary = "channels"
    view = True
    channels: int = field(metadata=field_doc("C"))
    size: Pair = field(metadata=field_doc("H×W, s or [h, w]"))

    def check(self) -> None:
        if self.channels <= 0 or min(self.size) <= 0:
            raise LayerError("channels and size must be positive")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 1, self.kind)
        shape = (self.channels, *self.size)
        if numel(shape) != io.x[0]:
            raise LayerError(f"{io.x[0]} features cannot be viewed as {list(shape)} "
                             f"({numel(shape)} elements)")
        return shape

    def describe(self) -> str:
        return f"→{self.channels}×{self.size[0]}×{self.size[1]}"

    def saved(self, io: Io) -> Saved:
        return Saved()

    def build(self, io: Io):
        from torch import nn
        return nn.Unflatten(1, (self.channels, *self.size))
