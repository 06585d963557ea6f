"""Fully connected layers and the flatten that precedes them."""
from __future__ import annotations

from dataclasses import field

from .base import Saved, field_doc, weighted_peers, GLOBAL, Io, Layer, LayerError, Shape, need_dims, numel, register


@register
class Flatten(Layer):
    kind = "flatten"
    doc = "(C, H, W) → (C·H·W,), as torch.nn.Flatten()."
    view = True

    def saved(self, io: Io) -> Saved:
        return Saved()

    def out_shape(self, io: Io) -> Shape:
        return (numel(io.x),)

    def build(self, io: Io):
        from torch import nn
        return nn.Flatten()


@register
class Linear(Layer):
    kind = "linear"
    doc = "fully connected layer (torch.nn.Linear); `linear: 4096` sets `out`."
    primary = "out"
    out: int = field(metadata=field_doc("output features"))
    bias: bool = field(default=True, metadata=field_doc("learn a bias per output"))

    def check(self) -> None:
        if self.out <= 0:
            raise LayerError("out must be positive")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 1, "linear")
        return (self.out,)

    def params(self, io: Io) -> int:
        return io.x[0] * self.out + (self.out if self.bias else 0)

    def macs(self, io: Io) -> int:
        return io.x[0] * self.out

    def ops(self, io: Io) -> int:
        return self.out if self.bias else 0

    def peers(self, io: Io) -> dict[str, int]:
        return weighted_peers(self.macs(io), self.ops(io), self.fvcore(io))

    def window(self, io: Io) -> str:
        return GLOBAL

    def describe(self) -> str:
        return f"{self.out}"

    def build(self, io: Io):
        from torch import nn
        return nn.Linear(io.x[0], self.out, self.bias)
