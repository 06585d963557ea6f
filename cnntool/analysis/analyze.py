"""Walk the expanded graph once: shapes, counts and receptive fields, batch and dtype applied."""
from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from fractions import Fraction

from ..errors import SpecError
from ..graph import Model, Node, at_input
from ..layers import GLOBAL, Io, LayerError, Ref, Win
from .report import RF, KindTotals, LayerRow, Report, Totals, Warning

__all__ = ["analyze", "collapse"]

_Axis = tuple[Fraction, Fraction, Fraction, int]  # size, jump, start, map extent (pixels)


def analyze(model: Model, batch: int = 1, input_shape: tuple[int, ...] | None = None,
            dtype_bytes: int = 4) -> Report:
    """Shape, params, MACs, FLOPs, memory and receptive field of every layer of ``model``."""
    if batch <= 0:
        raise SpecError(f"batch must be positive, got {batch}")
    model = at_input(model, input_shape)
    shape = tuple(input_shape or model.input_shape)
    shapes: dict[str, tuple[int, ...]] = {}
    fields: dict[str, tuple[_Axis, _Axis] | None] = {}
    nodes = {node.name: node for node in model.nodes}
    rows, warnings = [], []
    for node in model.nodes:
        if node.layer is None:
            shapes[node.name] = shape
            fields[node.name] = _start_rf(shape)
            rows.append(_row(node, (), shape, None, batch, dtype_bytes, fields[node.name]))
            continue
        ins = tuple(shapes[name] for name in node.inputs)
        refs = {key: _ref(nodes[target], shapes) for key, target in node.refs}
        try:
            io = Io(ins, refs=refs)
            io = Io(ins, node.layer.out_shape(io), refs)
            if min(io.out, default=1) <= 0:
                raise LayerError(f"output shape {list(io.out)} is not positive")
            notes = node.layer.notes(io)
        except LayerError as exc:
            shown = ", ".join(str(list(s)) for s in ins)
            raise SpecError(f"{node.name} ({node.kind}) on input {shown}: {exc}", node.loc,
                            trace=node.trace) from None
        shapes[node.name] = io.out
        fields[node.name] = _next_rf([fields[n] for n in node.inputs], node.layer.window(io), io)
        rows.append(_row(node, ins, io.out, io, batch, dtype_bytes, fields[node.name]))
        warnings += [Warning(node.name, str(node.loc), f"{node.name}: {note}") for note in notes]
    totals = _totals(rows, dtype_bytes, _peak_bytes(model, rows))
    return Report(model.name, model.file, model.variant, model.description, model.source, shape,
                  batch, dtype_bytes, tuple(rows), totals, tuple(warnings), dict(model.aliases))


def _peak_bytes(model: Model, rows: list[LayerRow]) -> int:
    """Most activation bytes alive at once in an inference pass that frees each output after its
    last reader (no in-place ops, weights excluded): the memory a forward really needs."""
    last = {node.name: i for i, node in enumerate(model.nodes)}
    for i, node in enumerate(model.nodes):
        for name in (*node.inputs, *(target for _, target in node.refs)):
            last[name] = i
    last[model.nodes[-1].name] = len(model.nodes)  # the result outlives the pass
    live = peak = 0
    dying: dict[int, int] = defaultdict(int)
    for i, row in enumerate(rows):
        live += row.act_bytes
        peak = max(peak, live)
        dying[last[row.name]] += row.act_bytes
        live -= dying.pop(i, 0)
    return peak


def collapse(report: Report, depth: int) -> Report:
    """Rows rolled up to `depth` levels of dotted names (torchinfo's depth): `layer3` sums its
    blocks. Totals and warnings are unchanged."""
    groups: list[list[LayerRow]] = []
    for row in report.layers:
        key = ".".join(row.name.split(".")[:depth])
        if groups and ".".join(groups[-1][0].name.split(".")[:depth]) == key and key != row.name:
            groups[-1].append(row)
        else:
            groups.append([row])
    return dataclasses.replace(report, layers=tuple(_merge(g, depth) for g in groups))


def _merge(rows: list[LayerRow], depth: int) -> LayerRow:
    if len(rows) == 1 and rows[0].name.count(".") < depth:
        return rows[0]
    first, last = rows[0], rows[-1]
    total = lambda attr: sum(getattr(r, attr) for r in rows)  # noqa: E731
    return LayerRow(
        name=".".join(first.name.split(".")[:depth]), kind="block", detail=f"{len(rows)} layers",
        inputs=first.inputs, in_shapes=first.in_shapes, out_shape=last.out_shape,
        params=total("params"), buffers=total("buffers"), macs=total("macs"), flops=total("flops"),
        fvcore=total("fvcore"), elements=last.elements, act_bytes=total("act_bytes"), rf=last.rf,
        loc=first.loc)


def _ref(target: Node, shapes: dict) -> Ref:
    return Ref(target.kind, tuple(shapes[n] for n in target.inputs), shapes[target.name], target.layer)


def _row(node: Node, ins, out, io: Io | None, batch: int, nbytes: int, rf) -> LayerRow:
    layer = node.layer
    macs = layer.macs(io) if layer else 0
    ops = layer.ops(io) if layer else 0
    elements = math.prod(out)
    return LayerRow(
        name=node.name, kind=node.kind, detail=layer.describe() if layer else "",
        inputs=node.inputs, in_shapes=ins, out_shape=out,
        params=layer.params(io) if layer else 0, buffers=layer.buffers(io) if layer else 0,
        macs=batch * macs, flops=batch * (2 * macs + ops), fvcore=batch * (layer.fvcore(io) if layer else 0),
        elements=elements, act_bytes=batch * elements * nbytes, rf=_public_rf(rf), loc=str(node.loc),
        arithmetic=tuple(layer.explain(io)) if layer else ())


def _totals(rows: list[LayerRow], nbytes: int, peak: int) -> Totals:
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows[1:]:
        acc = by_kind[row.kind]
        acc[0] += 1
        acc[1] += row.params
        acc[2] += row.macs
        acc[3] += row.flops
    layers = rows[1:]
    return Totals(
        params=sum(r.params for r in layers), buffers=sum(r.buffers for r in layers),
        macs=sum(r.macs for r in layers), flops=sum(r.flops for r in layers),
        fvcore=sum(r.fvcore for r in layers), act_bytes=sum(r.act_bytes for r in layers),
        input_bytes=rows[0].act_bytes, peak_act_bytes=peak, weight_bytes=nbytes * sum(r.params + r.buffers for r in layers),
        by_kind={k: KindTotals(*v) for k, v in by_kind.items()})


# -- receptive field ---------------------------------------------------------------------
def _start_rf(shape: tuple[int, ...]) -> tuple[_Axis, _Axis] | None:
    if len(shape) != 3:
        return None
    one, half = Fraction(1), Fraction(1, 2)
    return (one, one, half, shape[1]), (one, one, half, shape[2])


def _next_rf(inputs: list, window, io: Io) -> tuple[_Axis, _Axis] | None:
    known = [f for f in inputs if f is not None]
    if not known:
        return None
    # a merge sees the union of its inputs' fields; take the widest along each axis
    current = tuple(max((f[axis] for f in known), key=lambda a: a[0]) for axis in (0, 1))
    if window is None:
        return _with_extent(current, io)
    if window == GLOBAL:  # one output sees the whole current map, after which the map is 1 wide
        return tuple(_step(axis, Win(axis[3]))[:3] + (1,) for axis in current)
    return _with_extent(tuple(_step(axis, win) for axis, win in zip(current, window)), io)


def _with_extent(current, io: Io):
    if len(io.out) != 3:
        return current
    return tuple((a[0], a[1], a[2], n) for a, n in zip(current, io.out[1:]))


def _step(axis: _Axis, win: Win) -> _Axis:
    size, jump, start, extent = axis
    if win.transposed:  # an output pixel depends on ceil(k / s) inputs
        out_jump = jump / win.stride
        reach = -(-win.kernel // win.stride)
        return (size + (reach - 1) * jump, out_jump,
                start + (Fraction(win.padding) - Fraction(win.kernel - 1, 2)) * out_jump, extent)
    return (size + (win.kernel - 1) * jump, jump * win.stride,
            start + (Fraction(win.kernel - 1, 2) - Fraction(win.padding)) * jump, extent)


def _public_rf(rf) -> RF | None:
    if rf is None:
        return None
    return RF((rf[0][0], rf[1][0]), (rf[0][1], rf[1][1]), (rf[0][2], rf[1][2]))
