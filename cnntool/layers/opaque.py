"""A stand-in for an operation no kind describes, written by `cnntool import --allow-unsupported`.

It keeps the graph whole (the measured output shape, so later layers still analyse) but counts
nothing, so every report warns about it: its parameters and MACs are not in the totals.
"""
from __future__ import annotations

import functools
from dataclasses import field
from typing import Optional

from .base import Io, Layer, LayerError, Pair, Shape, field_doc, register


@register
class Opaque(Layer):
    kind = "opaque"
    doc = ("an operation cnntool cannot count (from `cnntool import --allow-unsupported`): the output "
           "shape measured at import, zero parameters, MACs and FLOPs, and a warning in every report")
    primary = "op"
    arity = (1, None)
    op: str = field(metadata=field_doc("what it stands for, e.g. torch.nn.MultiheadAttention at attn"))
    channels: int = field(default=0, metadata=field_doc("output C (or features, without `size`)"))
    size: Optional[Pair] = field(default=None, metadata=field_doc("output H×W; null for a (features,) output"))

    def check(self) -> None:
        if self.channels <= 0 or (self.size is not None and min(self.size) <= 0):
            raise LayerError("opaque needs the measured output: channels (and size) must be positive")

    def out_shape(self, io: Io) -> Shape:
        return (self.channels,) if self.size is None else (self.channels, *self.size)

    def notes(self, io: Io) -> list[str]:
        return [f"opaque ({self.op}): not counted, its parameters, MACs and FLOPs are missing from the totals"]

    def describe(self) -> str:
        return "not counted"

    def build(self, io: Io):
        return _torch_class()(self.out_shape(io))


@functools.cache
def _torch_class() -> type:
    """The torch module, made on first use so that importing the kinds never imports torch."""
    import torch
    from torch import nn

    class OpaqueOp(nn.Module):
        """Zeros of the measured shape: keeps a built spec running where the real op is unknown."""

        def __init__(self, shape: Shape):
            super().__init__()
            self.shape = shape

        def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
            return x.new_zeros((x.shape[0], *self.shape))

    return OpaqueOp
