"""What an analysis produces: typed, frozen records; rendering happens elsewhere."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["RF", "LayerRow", "KindTotals", "Totals", "Warning", "Report"]


@dataclass(frozen=True, slots=True)
class RF:
    """Receptive field along (H, W) in input pixels: size, jump (distance between neighbouring
    outputs) and start (centre of the first output's field; 0.5 is the first pixel's centre)."""

    size: tuple[Fraction, Fraction]
    jump: tuple[Fraction, Fraction]
    start: tuple[Fraction, Fraction]
    clipped: tuple[Fraction, Fraction] = (Fraction(0), Fraction(0))  # the most input pixels any
    # one output's field covers once cut to the image (size counts padding too)


@dataclass(frozen=True, slots=True)
class LayerRow:
    """One layer. Counts are for the whole batch except params/buffers; ``elements`` is per sample."""

    name: str
    kind: str
    detail: str
    inputs: tuple[str, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    out_shape: tuple[int, ...]
    params: int
    buffers: int
    macs: int
    flops: int
    fvcore: int
    elements: int
    act_bytes: int
    rf: RF | None
    loc: str
    arithmetic: tuple[str, ...] = ()  # the output-size arithmetic, for --explain
    peers: dict[str, int] = field(default_factory=dict)  # each peer tool's count, one image
    backward_macs: int = 0  # Layer.backward_macs: input gradient (if needed) + weight gradient
    backward_flops: int = 0  # 2 × backward_macs + element-wise backward ops
    grad_in: bool = False  # its input depends on a parameter, so autograd needs its gradient


@dataclass(frozen=True, slots=True)
class KindTotals:
    layers: int
    params: int
    macs: int
    flops: int


@dataclass(frozen=True)
class Totals:
    params: int
    buffers: int
    macs: int
    flops: int
    fvcore: int
    act_bytes: int  # every layer output once (what a training step keeps), input excluded
    input_bytes: int
    peak_act_bytes: int  # most activations alive at once in inference, input included
    weight_bytes: int  # parameters and buffers at the same element size
    peers: dict[str, int] = field(default_factory=dict)  # each peer tool's total, one image
    by_kind: dict[str, KindTotals] = field(default_factory=dict)
    backward_macs: int = 0
    backward_flops: int = 0


@dataclass(frozen=True, slots=True)
class Warning:
    layer: str
    loc: str
    message: str


@dataclass(frozen=True)
class Report:
    model: str
    file: str
    variant: str | None
    description: str
    source: str
    input: tuple[int, ...]
    batch: int
    dtype_bytes: int
    layers: tuple[LayerRow, ...]
    totals: Totals
    warnings: tuple[Warning, ...]
    aliases: dict[str, str] = field(default_factory=dict)  # block/branch name -> its output layer

    def row(self, name: str) -> LayerRow:
        """A layer by name; a block's or branch's name gives its output layer."""
        for wanted in (name, self.aliases.get(name)):
            for layer in self.layers:
                if layer.name == wanted:
                    return layer
        raise KeyError(name)
