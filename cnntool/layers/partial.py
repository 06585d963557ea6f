"""LeNet-5's layers that today's libraries lack (LeCun et al. 1998, §II.B).

``partialconv`` is a convolution whose output maps each read only some input maps, as C3 reads
S2 through Table I; ``subsample`` is S2/S4's trainable sub-sampling (a window sum times a
coefficient plus a bias, one pair per map); ``rbf`` is the Euclidean RBF output layer.
"""
from __future__ import annotations

from dataclasses import field
from functools import cache
from typing import Optional

from .base import Extra, Saved, field_doc, weighted_peers, GLOBAL, Io, Layer, LayerError, Pair, Shape, Win, conv_out, need_dims, numel, register, stride_notes
from .conv import window_text

_LINKED, _OPEN = frozenset("Xx"), frozenset(".-")



def parse_table(text: str) -> tuple[tuple[int, ...], ...]:
    """Rows are input maps, columns output maps, 'X' a connection ('.' none; spaces are ignored).
    Returns, for every output map, the input maps it reads."""
    rows = ["".join(line.split()) for line in text.strip().splitlines()]
    if not rows or not rows[0]:
        raise LayerError("table is empty")
    if len({len(r) for r in rows}) > 1:
        raise LayerError(f"table rows have different lengths {[len(r) for r in rows]}")
    bad = set("".join(rows)) - _LINKED - _OPEN
    if bad:
        raise LayerError(f"table may hold only 'X' (connected) and '.' (not), found {''.join(sorted(bad))!r}")
    columns = tuple(tuple(i for i, row in enumerate(rows) if row[j] in _LINKED) for j in range(len(rows[0])))
    empty = [j for j, ins in enumerate(columns) if not ins]
    if empty:
        raise LayerError(f"output map {empty[0]} reads no input map (its column has no 'X')")
    return columns


@register
class PartialConv(Layer):
    kind = "partialconv"
    doc = ("convolution in which output map j reads only the input maps marked in column j of a "
           "connection table (LeNet-5's C3, Table I); the number of output maps is the column count.")
    table: str = field(metadata=field_doc(
        "connection table as text: one line per input map, one column per output map, 'X' connected, "
        "'.' not (spaces ignored)"))
    kernel: Pair = field(metadata=field_doc("kernel size, k or [kh, kw]"))
    stride: Pair = field(default=(1, 1), metadata=field_doc("stride"))
    padding: Pair = field(default=(0, 0), metadata=field_doc("zero padding per side"))
    bias: bool = field(default=True, metadata=field_doc("learn a bias per output map"))

    def check(self) -> None:
        if min(self.kernel + self.stride) <= 0 or min(self.padding) < 0:
            raise LayerError("kernel and stride must be positive, padding non-negative")
        parse_table(self.table)

    def connections(self) -> tuple[tuple[int, ...], ...]:
        return parse_table(self.table)

    def links(self) -> int:
        return sum(len(ins) for ins in self.connections())

    def _sizes(self, x: Shape) -> list[tuple[int, str, str]]:
        return [conv_out(i, k, s, p, 1, False, axis)
                for axis, i, k, s, p in zip("HW", x[1:], self.kernel, self.stride, self.padding)]

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        rows = len(self.table.strip().splitlines())
        if rows != io.x[0]:
            raise LayerError(f"the table has {rows} rows (input maps) but the input has {io.x[0]} channels")
        return (len(self.connections()), *(o for o, _, _ in self._sizes(io.x)))

    def notes(self, io: Io) -> list[str]:
        return stride_notes([warning for _, _, warning in self._sizes(io.x)])

    def explain(self, io: Io) -> list[str]:
        return [text for _, text, _ in self._sizes(io.x)]

    def params(self, io: Io) -> int:
        # one k×k kernel per (input map, output map) link, one bias per output map
        return self.links() * numel(self.kernel) + (io.out[0] if self.bias else 0)

    def macs(self, io: Io) -> int:
        # Σ over output maps of |inputs| · kh · kw · H · W
        return self.links() * numel(self.kernel) * numel(io.out[1:])

    def ops(self, io: Io) -> int:
        return numel(io.out) if self.bias else 0

    def peers(self, io: Io) -> dict[str, int]:
        return weighted_peers(self.macs(io), self.ops(io), self.fvcore(io))  # one Conv2d per map

    def window(self, io: Io) -> tuple[Win, Win]:
        return tuple(Win(k, s, p) for k, s, p in zip(self.kernel, self.stride, self.padding))  # type: ignore

    def saved(self, io: Io) -> Saved:
        # each map's conv keeps its gathered input maps (a copy), the gather its int64 indices
        return Saved(extra=(Extra(self.links() * numel(io.x[1:])),
                            Extra(self.links(), itemsize=8, per_sample=False)))

    def describe(self) -> str:
        full = len(self.connections()) * len(self.table.strip().splitlines())
        return window_text(self.kernel, self.stride, self.padding) + f" {self.links()}/{full} links"

    def working(self, io: Io) -> int:
        # per map: a copy of its input maps (x[:, ins]) and its output, the earlier maps' outputs
        # kept for the concatenation, which then doubles them
        hw_in, hw_out = io.x[1] * io.x[2], io.out[1] * io.out[2]
        during = max((m + 1) * hw_out + len(ins) * hw_in for m, ins in enumerate(self.connections()))
        return max(2 * numel(io.out), during)

    def build(self, io: Io):
        return _torch_modules()["PartialConv"](io.x[0], self.connections(), self.kernel, self.stride,
                                               self.padding, self.bias)


@register
class Subsample(Layer):
    kind = "subsample"
    doc = ("LeNet-5's trainable sub-sampling (S2, S4): per map, y = a · Σ(window) + b with a "
           "learned coefficient a and bias b; `subsample: 2` is 2×2 with stride 2.")
    primary = "kernel"
    kernel: Pair = field(default=(2, 2), metadata=field_doc("window size"))
    stride: Optional[Pair] = field(default=None, metadata=field_doc("stride; defaults to the kernel size"))
    bias: bool = field(default=True, metadata=field_doc("learn a bias per map"))

    def strides(self) -> Pair:
        return self.stride or self.kernel

    def check(self) -> None:
        if min(self.kernel + self.strides()) <= 0:
            raise LayerError("kernel and stride must be positive")

    def _sizes(self, x: Shape) -> list[tuple[int, str, str]]:
        return [conv_out(i, k, s, 0, 1, False, axis)
                for axis, i, k, s in zip("HW", x[1:], self.kernel, self.strides())]

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, self.kind)
        return (io.x[0], *(o for o, _, _ in self._sizes(io.x)))

    def notes(self, io: Io) -> list[str]:
        return stride_notes([warning for _, _, warning in self._sizes(io.x)])

    def explain(self, io: Io) -> list[str]:
        return [text for _, text, _ in self._sizes(io.x)]

    def params(self, io: Io) -> int:
        return io.x[0] * (2 if self.bias else 1)  # a coefficient (and a bias) per map

    def ops(self, io: Io) -> int:
        # the window sum (as avgpool: k·k per output), the coefficient, the bias
        return numel(io.out) * (numel(self.kernel) + 1 + (1 if self.bias else 0))

    def window(self, io: Io) -> tuple[Win, Win]:
        return tuple(Win(k, s) for k, s in zip(self.kernel, self.strides()))  # type: ignore[return-value]

    def working(self, io: Io) -> int:
        return 2 * numel(io.out)  # the window sums, then the scaled (and shifted) copy

    def peers(self, io: Io) -> dict[str, int]:
        return {**super().peers(io), "ptflops": numel(io.x)}  # its F.avg_pool2d: 1 per input element

    def saved(self, io: Io) -> Saved:
        return Saved(inputs=(0,), extra=(Extra(numel(io.out)),))  # avg_pool2d's input, the window sums

    def describe(self) -> str:
        return window_text(self.kernel, self.strides()) + " a·Σ+b"

    def build(self, io: Io):
        return _torch_modules()["Subsample"](io.x[0], self.kernel, self.strides(), self.bias)


@register
class RBF(Layer):
    kind = "rbf"
    doc = ("Euclidean radial basis function units (LeNet-5's output): y_i = Σ_j (x_j − w_ij)², "
           "one parameter vector per unit, no bias; `rbf: 10` sets `out`.")
    primary = "out"
    out: int = field(metadata=field_doc("number of units (classes)"))

    def check(self) -> None:
        if self.out <= 0:
            raise LayerError("out must be positive")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 1, self.kind)
        return (self.out,)

    def params(self, io: Io) -> int:
        return io.x[0] * self.out

    def macs(self, io: Io) -> int:
        return io.x[0] * self.out  # one multiply-accumulate of (x − w)² per weight

    def ops(self, io: Io) -> int:
        return io.x[0] * self.out  # the subtraction x − w

    def saved(self, io: Io) -> Saved:
        return Saved(extra=(Extra(io.x[0] * self.out),))  # pow keeps the differences x − w

    def fvcore(self, io: Io) -> int:
        return 0  # the module is sub, pow and sum, for which fvcore has no counting rule

    def working(self, io: Io) -> int:
        return 2 * io.x[0] * self.out  # x − w and its square, (units × features) each

    def peers(self, io: Io) -> dict[str, int]:
        return {**super().peers(io), "flopcounter": 0}  # sub, pow, sum: FlopCounterMode counts none

    def window(self, io: Io) -> str:
        return GLOBAL

    def describe(self) -> str:
        return f"{self.out}"

    def build(self, io: Io):
        return _torch_modules()["RBF"](io.x[0], self.out)


@cache
def _torch_modules() -> dict[str, type]:
    """The torch modules, defined on first use so that importing cnntool never imports torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class PartialConv(nn.Module):
        """One Conv2d per output map over its own input maps; outputs concatenated in order."""

        def __init__(self, in_maps, connections, kernel, stride, padding, bias):
            super().__init__()
            self.in_maps, self.connections = in_maps, tuple(tuple(c) for c in connections)
            self.maps = nn.ModuleList(nn.Conv2d(len(ins), 1, kernel, stride, padding, bias=bias)
                                      for ins in self.connections)

        def forward(self, x):
            return torch.cat([conv(x[:, list(ins)]) for conv, ins in zip(self.maps, self.connections)], 1)

        def extra_repr(self):
            return f"in_maps={self.in_maps}, connections={self.connections}"

    class Subsample(nn.Module):
        """y = a · Σ(window) + b per map (LeNet-5's S2 and S4)."""

        def __init__(self, maps, kernel, stride, bias):
            super().__init__()
            self.kernel, self.stride = tuple(kernel), tuple(stride)
            self.weight = nn.Parameter(torch.ones(maps))
            self.bias = nn.Parameter(torch.zeros(maps)) if bias else None

        def forward(self, x):
            y = F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1) * self.weight[:, None, None]
            return y if self.bias is None else y + self.bias[:, None, None]

        def extra_repr(self):
            return f"maps={self.weight.numel()}, kernel={self.kernel}, stride={self.stride}"

    class RBF(nn.Module):
        """y_i = Σ_j (x_j − w_ij)²: the squared distance to each unit's parameter vector."""

        def __init__(self, features, units):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(units, features))

        def forward(self, x):
            return (x[:, None, :] - self.weight).pow(2).sum(-1)

    return {"PartialConv": PartialConv, "Subsample": Subsample, "RBF": RBF}
