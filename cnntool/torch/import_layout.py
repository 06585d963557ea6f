"""Channels-last stretches of a traced forward, for `cnntool import`.

torchvision's ConvNeXt block permutes its map to (N, H, W, C), applies LayerNorm, Linear, GELU
and Linear over the last dim, and permutes back. A permute is a layout change, not a kind: the
pair writes no node, and the calls between them are the same per-position kinds on the (C, H, W)
map (`layernorm`; `linear` with `pointwise: true`, whose weight is nn.Linear's (out, in)).
Anything else on a channels-last value, or a permute other than NCHW ↔ NHWC, is unsupported.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from torch import fx

from .import_map import Mapped, _need

__all__ = ["relayout", "ELEMENTWISE"]

# kinds that act on each element alone, so they run on a channels-last value unchanged
ELEMENTWISE = frozenset({"relu", "relu6", "silu", "gelu", "hardswish", "hardsigmoid", "mish", "sigmoid",
                         "tanh", "leakyrelu", "elu", "dropout", "droppath", "add", "mul"})


def relayout(node: fx.Node, mapped: Mapped, args: tuple[Any, ...], last: set[str]) -> Mapped:
    """The call's mapping given which inputs are channels-last (fx node names in ``last``);
    adds the call's result to ``last`` when it is channels-last too."""
    on_last = [isinstance(a, fx.Node) and a.name in last for a in args]
    if mapped.last is not None:  # a permute
        _need(on_last[:1] == [not mapped.last], "a permute that is not NCHW → NHWC or back")
        if mapped.last:
            last.add(node.name)
        return mapped
    if not any(on_last):
        _need(not mapped.last_dim or _flat(args[0]), f"{mapped.kind} over the last dim (W) of an NCHW map")
        return mapped
    _need(all(on_last), "a call on both channels-last and NCHW values")
    _need(mapped.last_dim or mapped.kind in ELEMENTWISE, f"{mapped.kind or 'a call'} on a channels-last map")
    last.add(node.name)
    if mapped.kind == "linear":
        return dataclasses.replace(mapped, fields={**mapped.fields, "pointwise": True})
    return mapped


def _flat(value: Any) -> bool:
    """A (N, F) input, or one whose shape was not propagated (then the analysis checks it)."""
    meta = value.meta.get("tensor_meta") if isinstance(value, fx.Node) else None
    return not hasattr(meta, "shape") or len(meta.shape) == 2
