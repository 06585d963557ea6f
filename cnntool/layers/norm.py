"""Normalisations that compute their statistics at inference too: LayerNorm and GroupNorm.

Unlike batch norm (folded into one scale and shift), they cost per element: the mean (1), the
subtraction (1), the square (1), the variance sum (1) and the normalisation (1), plus a scale and
a shift when affine: 5 or 7 FLOPs per element. fvcore counts 5 per element with affine, 4 without
(its norm_flop_counter, "a rough estimate").
"""
from __future__ import annotations

from dataclasses import field

from .base import Extra, Saved, Io, Layer, LayerError, Shape, field_doc, need_positive, numel, register


def _norm_ops(layer: Layer, io: Io) -> int:
    return (7 if layer.affine else 5) * numel(io.out)


def _norm_fvcore(layer: Layer, io: Io) -> int:
    return (5 if layer.affine else 4) * numel(io.x)


@register
class LayerNorm(Layer):
    kind = "layernorm"
    doc = ("layer normalisation over the channels at each position of a (C, H, W) map (ConvNeXt's "
           "LayerNorm2d), or over the features of a vector (torch.nn.LayerNorm).")
    eps: float = field(default=1e-5, metadata=field_doc("ε added to the variance (ConvNeXt: 1e-6)"))
    affine: bool = field(default=True, metadata=field_doc("learn a per-channel scale and shift"))

    def params(self, io: Io) -> int:
        return 2 * io.x[0] if self.affine else 0

    ops = _norm_ops
    fvcore = _norm_fvcore

    def saved(self, io: Io) -> Saved:
        # native_layer_norm keeps its input and fp32 mean and rstd per normalised row; on maps
        # LayerNorm2d permutes first, so the kept input is a contiguous copy (a new storage)
        if len(io.x) == 1:
            return Saved(inputs=(0,), extra=(Extra(2, itemsize=4),))
        return Saved(extra=(Extra(numel(io.x)), Extra(2 * numel(io.x[1:]), itemsize=4)))

    def peers(self, io: Io) -> dict[str, int]:
        """As measured (ptflops 0.7.5, thop 0.1.1): on a vector, ptflops 1 and thop 4 per element (2
        without affine); on a map, torchvision's LayerNorm2d is a subclass neither tool knows: 0."""
        if len(io.x) > 1:
            return super().peers(io)
        return {**super().peers(io), "ptflops": numel(io.x), "thop": (4 if self.affine else 2) * numel(io.x)}

    def build(self, io: Io):
        from torch import nn
        if len(io.x) == 1:
            return nn.LayerNorm(io.x[0], eps=self.eps, elementwise_affine=self.affine)
        from torchvision.models.convnext import LayerNorm2d  # permute, layer_norm over C, permute back
        return LayerNorm2d(io.x[0], eps=self.eps, elementwise_affine=self.affine)


@register
class GroupNorm(Layer):
    kind = "groupnorm"
    doc = "group normalisation (torch.nn.GroupNorm): statistics over each group of channels and all positions."
    primary = "groups"
    groups: int = field(default=32, metadata=field_doc("channel groups; must divide the channels"))
    eps: float = field(default=1e-5, metadata=field_doc("ε added to the variance"))
    affine: bool = field(default=True, metadata=field_doc("learn a per-channel scale and shift"))

    def check(self) -> None:
        need_positive(self, "groups")

    def out_shape(self, io: Io) -> Shape:
        if io.x[0] % self.groups:
            raise LayerError(f"groups {self.groups} does not divide the {io.x[0]} channels")
        return io.x

    def params(self, io: Io) -> int:
        return 2 * io.x[0] if self.affine else 0

    ops = _norm_ops
    fvcore = _norm_fvcore

    def describe(self) -> str:
        return f"g{self.groups}"

    def saved(self, io: Io) -> Saved:
        return Saved(inputs=(0,), extra=(Extra(2 * self.groups, itemsize=4),))  # fp32 mean, rstd per group

    def peers(self, io: Io) -> dict[str, int]:  # ptflops 0.7.5: 1 per element, 2 with affine (measured)
        return {**super().peers(io), "ptflops": (2 if self.affine else 1) * numel(io.x)}

    def build(self, io: Io):
        from torch import nn
        return nn.GroupNorm(self.groups, io.x[0], eps=self.eps, affine=self.affine)


