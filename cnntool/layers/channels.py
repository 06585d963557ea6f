"""Channel operations of modern CNNs: slice (ShuffleNetV2's split), shuffle, layer scale, drop path."""
from __future__ import annotations

from dataclasses import field
from typing import Literal, Optional

from .base import Io, Layer, LayerError, Shape, field_doc, numel, register


@register
class Slice(Layer):
    kind = "slice"
    doc = ("channels start … stop − 1 of the input, x[:, start:stop] (a split is two slices of one "
           "input, each with `from:`); copies nothing it counts.")
    start: int = field(default=0, metadata=field_doc("first channel (from 0)"))
    stop: Optional[int] = field(default=None, metadata=field_doc("one past the last channel; null: to the end"))

    def check(self) -> None:
        if self.start < 0 or (self.stop is not None and self.stop <= self.start):
            raise LayerError(f"need 0 ≤ start < stop, got start {self.start}, stop {self.stop}")

    def out_shape(self, io: Io) -> Shape:
        stop = io.x[0] if self.stop is None else self.stop
        if stop > io.x[0] or self.start >= stop:
            raise LayerError(f"channels {self.start}:{stop} are not within the input's {io.x[0]}")
        return (stop - self.start, *io.x[1:])

    def describe(self) -> str:
        return f"[{self.start}:{'' if self.stop is None else self.stop}]"

    def build(self, io: Io):
        from ..torch.ops import ChannelSlice
        return ChannelSlice(self.start, self.start + io.out[0])


@register
class Shuffle(Layer):
    kind = "shuffle"
    doc = "channel shuffle (ShuffleNet, torch.nn.ChannelShuffle): a reshape to (g, C/g), transposed; no arithmetic."
    primary = "groups"
    groups: int = field(default=2, metadata=field_doc("groups; must divide the channels"))

    def out_shape(self, io: Io) -> Shape:
        if self.groups <= 0 or io.x[0] % self.groups:
            raise LayerError(f"groups {self.groups} does not divide the {io.x[0]} channels")
        return io.x

    def describe(self) -> str:
        return f"g{self.groups}"

    def build(self, io: Io):
        from torch import nn
        return nn.ChannelShuffle(self.groups)


@register
class LayerScale(Layer):
    kind = "layerscale"
    doc = "a learned per-channel scale γ·x (ConvNeXt's layer scale; CaiT): C parameters, one multiply per element."
    primary = "init"
    init: float = field(default=1e-6, metadata=field_doc("initial γ (ConvNeXt: 1e-6)"))

    def params(self, io: Io) -> int:
        return io.x[0]

    def ops(self, io: Io) -> int:
        return numel(io.out)  # fvcore has no rule for mul: 0 there

    def peers(self, io: Io) -> dict[str, int]:
        return {**super().peers(io), "torchinfo": 0}  # torchinfo 1.8.0 counts no module of its own kind

    def build(self, io: Io):
        from ..torch.ops import LayerScale as TorchLayerScale
        return TorchLayerScale(io.x, self.init)


@register
class DropPath(Layer):
    kind = "droppath"
    doc = ("stochastic depth (torchvision.ops.StochasticDepth): drops a residual branch in training; "
           "the identity at inference, so it counts nothing.")
    primary = "p"
    p: float = field(default=0.0, metadata=field_doc("drop probability, in [0, 1)"))
    mode: Literal["row", "batch"] = field(default="row", metadata=field_doc("`row` (per sample) or `batch`"))

    def check(self) -> None:
        if not 0 <= self.p < 1:
            raise LayerError(f"p must be in [0, 1), got {self.p}")

    def describe(self) -> str:
        return f"p={self.p:g}"

    def build(self, io: Io):
        from torchvision.ops import StochasticDepth
        return StochasticDepth(self.p, self.mode)
