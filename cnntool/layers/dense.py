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
    doc = ("fully connected layer (torch.nn.Linear); `linear: 4096` sets `out`. With `pointwise`, the "
           "same Linear at every position of a (C, H, W) map (torchvision ConvNeXt's nn.Linear on "
           "channels-last maps): a 1×1 conv's counts, weights shaped (out, in) as nn.Linear's.")
    primary = "out"
    out: int = field(metadata=field_doc("output features"))
    bias: bool = field(default=True, metadata=field_doc("learn a bias per output"))
    pointwise: bool = field(default=False, metadata=field_doc(
        "apply to each position of a (C, H, W) map instead of a flat vector"))

    def check(self) -> None:
        if self.out <= 0:
            raise LayerError("out must be positive")

    def out_shape(self, io: Io) -> Shape:
        if self.pointwise:
            need_dims(io, 3, "a pointwise linear")
            return (self.out, *io.x[1:])
        need_dims(io, 1, "linear")
        return (self.out,)

    def params(self, io: Io) -> int:
        return io.x[0] * self.out + (self.out if self.bias else 0)

    def macs(self, io: Io) -> int:
        return numel(io.x) * self.out  # per position C_in·C_out, as a 1×1 conv

    def ops(self, io: Io) -> int:
        return numel(io.out) if self.bias else 0

    def peers(self, io: Io) -> dict[str, int]:
        peers = weighted_peers(self.macs(io), self.ops(io), self.fvcore(io))
        if self.pointwise:  # as measured: thop and ptflops do not know the nn.Linear subclass,
            # torchinfo counts its parameters once (not per position), ptflops' aten pass no bias adds
            peers.update(torchinfo=self.params(io), thop=0, ptflops=0, **{"ptflops-aten": self.macs(io)})
        return peers

    def window(self, io: Io) -> str | None:
        return None if self.pointwise else GLOBAL  # per position: the receptive field is unchanged

    def describe(self) -> str:
        return f"{self.out}" + (" per position" if self.pointwise else "")

    def build(self, io: Io):
        from torch import nn
        if self.pointwise:
            from ..torch.ops import PointwiseLinear
            return PointwiseLinear(io.x[0], self.out, self.bias)
        return nn.Linear(io.x[0], self.out, self.bias)
