"""Walk the expanded graph once: shapes, counts and receptive fields, batch and dtype applied."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from collections import defaultdict
from fractions import Fraction

from ..errors import SpecError
from ..graph import Model, Node, at_input
from ..layers import GLOBAL, Io, LayerError, Ref, Win
from ..layers.base import MAX_DIM
from .report import RF, KindTotals, LayerRow, Report, Totals, Warning

__all__ = ["analyze", "collapse", "unread_nodes"]

_Axis = tuple[Fraction, Fraction, Fraction, int]  # size, jump, start, map extent (pixels)


def analyze(model: Model, batch: int = 1, input_shape: tuple[int, ...] | None = None,
            dtype_bytes: int = 4) -> Report:
    """Shape, params, MACs, FLOPs, memory and receptive field of every layer of ``model``."""
    if not 0 < batch <= MAX_DIM:
        raise SpecError(f"batch must be from 1 to {MAX_DIM:,}, got {batch}", model.nodes[0].loc)
    shape = tuple(input_shape or model.input_shape)
    if max(shape, default=1) > MAX_DIM:
        raise SpecError(f"input {list(shape)} is over the limit of {MAX_DIM:,} per dimension", model.nodes[0].loc)
    model = at_input(model, input_shape)
    shapes: dict[str, tuple[int, ...]] = {}
    fields: dict[str, tuple[_Axis, _Axis] | None] = {}
    nodes = {node.name: node for node in model.nodes}
    rows, warnings, mem = [], [], []
    needs_grad: dict[str, bool] = {}  # does the node's output depend on a parameter?
    unread = unread_nodes(model)
    for node in model.nodes:
        if node.layer is None:
            shapes[node.name] = shape
            fields[node.name] = _start_rf(shape)
            rows.append(_row(node, (), shape, None, batch, dtype_bytes, fields[node.name], shape))
            mem.append(_Mem(False, math.prod(shape), {}))
            continue
        ins = tuple(shapes[name] for name in node.inputs)
        refs = {key: _ref(nodes[target], shapes) for key, target in node.refs}
        try:
            io = Io(ins, refs=refs)
            io = Io(ins, node.layer.out_shape(io), refs)
            if min(io.out, default=1) <= 0:
                raise LayerError(f"output shape {list(io.out)} is not positive")
            if max(io.out, default=1) > MAX_DIM:  # keeps every count far below float and digit limits
                raise LayerError(f"output shape {list(io.out)} is over the limit of {MAX_DIM:,} per dimension")
            notes = node.layer.notes(io)
        except LayerError as exc:
            shown = ", ".join(str(list(s)) for s in ins)
            raise SpecError(f"{node.name} ({node.kind}) on input {shown}: {exc}", node.loc,
                            trace=node.trace) from None
        shapes[node.name] = io.out
        fields[node.name] = _next_rf([fields[n] for n in node.inputs], node.layer.window(io), io)
        grad_in = any(needs_grad.get(name, False) for name in node.inputs)
        rows.append(_row(node, ins, io.out, io, batch, dtype_bytes, fields[node.name], shape, grad_in))
        needs_grad[node.name] = grad_in or rows[-1].params > 0
        layer = node.layer
        if node.name in unread:  # never run by the built module: no operations, no memory
            rows[-1] = dataclasses.replace(rows[-1], macs=0, flops=0, fvcore=0, act_bytes=0,
                                           backward_macs=0, backward_flops=0)
            notes = notes + _unread_note(node.name, unread[node.name])
            mem.append(_Mem(False, 0, {}))
        else:
            mem.append(_Mem(layer.view, layer.working(io), layer.side_outputs(io)))
        warnings += [Warning(node.name, str(node.loc), f"{node.name}: {note}") for note in notes]
    totals = _totals(rows, dtype_bytes, _peak_bytes(model, rows, mem, batch, dtype_bytes))
    return Report(model.name, model.file, model.variant, model.description, model.source, shape,
                  batch, dtype_bytes, tuple(rows), totals, tuple(warnings), dict(model.aliases))


def unread_nodes(model: Model) -> dict[str, bool]:
    """Nodes the output does not depend on (a branch a later `from:` skips), each with whether it
    is a sink (nothing reads it at all). The built module never runs them, so they count their
    parameters (torch's parameters() has them) but no MACs, FLOPs or activations."""
    needed, read = {model.nodes[-1].name}, set()
    for node in reversed(model.nodes):
        targets = (*node.inputs, *(t for _, t in node.refs))
        read.update(targets)
        if node.name in needed:
            needed.update(targets)
    return {n.name: n.name not in read for n in model.nodes[1:] if n.name not in needed}


def _unread_note(name: str, sink: bool) -> list[str]:
    if not sink:
        return []
    return ["nothing reads this output, so the built module never runs it (nor what only it reads): "
            "parameters counted, MACs, FLOPs and activations not"]


@dataclass(frozen=True, slots=True)
class _Mem:
    view: bool  # the output shares input 0's storage
    working: int  # elements held at once while the layer runs, output included
    side: dict[str, int]  # bytes per sample a referenced node keeps for this layer


def _peak_bytes(model: Model, rows: list[LayerRow], mem: list[_Mem], batch: int, nbytes: int) -> int:
    """Most activation bytes alive at once in an inference forward as cnntool's torch build runs
    it: the caller holds the input throughout; each output is freed after its last reader; a view
    (flatten, crop, dropout at inference) adds nothing and keeps its base alive; a layer's
    temporaries count while it runs; no in-place ops; weights excluded."""
    nodes = model.nodes
    index = {node.name: i for i, node in enumerate(nodes)}
    owner: dict[str, str] = {}
    last: dict[str, int] = {}
    side_made: dict[int, int] = defaultdict(int)
    side_freed: dict[int, int] = defaultdict(int)
    for i, (node, m) in enumerate(zip(nodes, mem)):
        owner[node.name] = owner[node.inputs[0]] if m.view else node.name
        for name in (node.name, *node.inputs):
            last[owner[name]] = i
        for key, size in m.side.items():
            side_made[index[dict(node.refs)[key]]] += batch * size
            side_freed[i] += batch * size
    for held in (nodes[0].name, nodes[-1].name):  # the caller's input and the result
        last[owner[held]] = len(nodes)
    dying: dict[int, int] = defaultdict(int)
    for name, i in last.items():
        dying[i] += rows[index[name]].act_bytes
    live = peak = 0
    for i, m in enumerate(mem):
        peak = max(peak, live + batch * m.working * nbytes + side_made[i])
        live += (0 if m.view else rows[i].act_bytes) + side_made[i]
        live -= dying[i] + side_freed[i]
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
        loc=first.loc, peers=_sum_peers(rows), backward_macs=total("backward_macs"),
        backward_flops=total("backward_flops"), grad_in=first.grad_in)


def _sum_peers(rows: list[LayerRow]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for row in rows:
        for tool, count in row.peers.items():
            total[tool] += count
    return dict(total)


def _ref(target: Node, shapes: dict) -> Ref:
    return Ref(target.kind, tuple(shapes[n] for n in target.inputs), shapes[target.name], target.layer)


def _row(node: Node, ins, out, io: Io | None, batch: int, nbytes: int, rf, image, grad_in: bool = False) -> LayerRow:
    layer = node.layer
    macs = layer.macs(io) if layer else 0
    ops = layer.ops(io) if layer else 0
    bwd = layer.backward_macs(io, grad_in) if layer else 0
    bwd_ops = layer.backward_ops(io, grad_in) if layer else 0
    elements = math.prod(out)
    return LayerRow(
        name=node.name, kind=node.kind, detail=layer.describe() if layer else "",
        inputs=node.inputs, in_shapes=ins, out_shape=out,
        params=layer.params(io) if layer else 0, buffers=layer.buffers(io) if layer else 0,
        macs=batch * macs, flops=batch * (2 * macs + ops), fvcore=batch * (layer.fvcore(io) if layer else 0),
        elements=elements, act_bytes=batch * elements * nbytes, rf=_public_rf(rf, image), loc=str(node.loc),
        arithmetic=tuple(layer.explain(io)) if layer else (), peers=layer.peers(io) if layer else {},
        backward_macs=batch * bwd, backward_flops=batch * (2 * bwd + bwd_ops), grad_in=grad_in)


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
        peers=_sum_peers(layers),
        by_kind={k: KindTotals(*v) for k, v in by_kind.items()},
        backward_macs=sum(r.backward_macs for r in layers), backward_flops=sum(r.backward_flops for r in layers))


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


def _public_rf(rf, image: tuple[int, ...]) -> RF | None:
    if rf is None:
        return None
    clipped = tuple(_clipped(axis, n) for axis, n in zip(rf, image[1:]))
    return RF((rf[0][0], rf[1][0]), (rf[0][1], rf[1][1]), (rf[0][2], rf[1][2]), clipped)  # type: ignore[arg-type]


def _clipped(axis: _Axis, n: int) -> Fraction:
    """The most input pixels (of n) any output's field covers once cut to the image: the field is
    centred at start + o·jump, and the output nearest the image centre covers the most."""
    size, jump, start, extent = axis
    middle = (Fraction(n, 2) - start) / jump
    best = Fraction(0)
    for o in {max(0, min(extent - 1, math.floor(middle))), max(0, min(extent - 1, math.ceil(middle)))}:
        centre = start + o * jump
        best = max(best, min(centre + size / 2, Fraction(n)) - max(centre - size / 2, Fraction(0)))
    return best
