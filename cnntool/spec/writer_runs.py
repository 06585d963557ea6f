"""Runs of calls → one `for`, and numbers that grow with a block's position (see cnntool.spec.writer).

ConvNeXt's and EfficientNet's stochastic-depth probability differs in every block (torchvision:
``sd_prob = stochastic_depth_prob * stage_block_id / (total_stage_blocks - 1.0)``), so no two
blocks are equal and a stage could not become one `for`. Two steps make it one:
- `ramps`: a field whose values over the whole model are ``scale * k / div`` for its global
  counter k (the hand-written specs' ``${drop_path * k / (sum(depths) - 1)}``) is written as
  that expression of k; k, an integer, is then the number that differs between blocks.
- `Step`: consecutive calls whose integers differ by a fixed step become one `for` over i, each
  such argument written ``${a + b * i}`` (a, the offset of the stage's first block, is then an
  argument of the stage's block where stages differ).
An expression is used only where cnntool's evaluator gives exactly the float the model holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .expr import substitute
from .writer import Op, Tree

if TYPE_CHECKING:
    from .writer_blocks import Blocks

__all__ = ["COUNTER", "Range", "Call", "Ramp", "Step", "ramps", "runs", "step"]

COUNTER = "k"  # the argument that holds a Ramp's block number


def _text(v: Any) -> str:
    """An integer or an argument (`Leaf`) inside an expression, bracketed where it is a product."""
    if isinstance(v, int):
        return str(v)
    return v.text() if v.times == 1 else f"({v.text()})"


@dataclass(frozen=True)
class Ramp:
    """A float field's value ``scale * k / div``: k is the block's number (literal or argument)."""

    scale: float
    k: Any
    div: int

    def text(self) -> str:
        return f"{self.scale!r} * {_text(self.k)} / {self.div}"


@dataclass(frozen=True)
class Step:
    """An integer argument of the i-th call of a `for`: ``a + b * i``."""

    a: Any
    b: Any

    def text(self) -> str:
        a = "" if self.a == 0 else f"{_text(self.a)} + "
        return a + ("i" if self.b == 1 else f"{_text(self.b)} * i")


def _ramp(values: list[float]) -> tuple[float, int, list[int]] | None:
    """(scale, div, k per value) with ``values[j] == scale * k[j] / div``, evaluated as the spec
    would be. A block without a residual branch never calls its stochastic depth, so the ks may
    skip: k is the value over the smallest step between neighbours. div is the least one from
    the largest k on (torchvision divides by the block count, or the count less one; up to 4×)
    that makes a scale of the fewest digits exact: ConvNeXt-T's 0.1 and 17, EfficientNet-B0's
    0.2 and 16."""
    unit = min((abs(b - a) for a, b in zip(values, values[1:]) if a != b), default=0.0)
    ks = [round(v / unit) for v in values] if unit else [0]
    if max(ks) < 1 or max(ks) > 4 * len(values):  # not a block counter (and a bounded search)
        return None
    for digits in range(1, 18):
        for div in range(max(ks), 4 * max(ks) + 5):
            scale = float(f"{unit * div:.{digits}g}")
            if all(scale * k / div == v for k, v in zip(ks, values)) and all(
                    substitute(f"${{{Ramp(scale, k, div).text()}}}", {}) == v for k, v in zip(ks, values)):
                return scale, div, ks
    return None


def ramps(ops: list) -> dict[tuple[str, str], Ramp]:
    """(op id, field) → its Ramp, for every float field (per kind) that is one over the model."""
    columns: dict[tuple[str, str], list] = {}
    for op in ops:
        for name, value in op.fields.items():
            columns.setdefault((op.kind, name), []).append((op.id, value))
    out: dict[tuple[str, str], Ramp] = {}
    for (_, name), column in columns.items():
        values = [v for _, v in column]
        if len(values) < 3 or not all(type(v) is float for v in values) or len(set(values)) == 1:
            continue
        found = _ramp(values)
        if found:
            scale, div, ks = found
            out.update({(op_id, name): Ramp(scale, k, div) for k, (op_id, _) in zip(ks, column)})
    return out


def step(values: list[int], first: int) -> Any:
    """The values of calls first, first+1, …: one number when equal, else the `Step` that gives
    each exactly (None when they are not integers a fixed step apart)."""
    if len(set(values)) == 1:
        return values[0]
    if not all(type(v) is int for v in values):
        return None
    b = values[1] - values[0]
    a = values[0] - b * first
    return Step(a, b) if all(v == a + b * (first + t) for t, v in enumerate(values)) else None


@dataclass(frozen=True)
class Range:
    """A `for` over a Sequential's consecutive children of one block: range(start, stop)."""

    start: Any
    stop: Any


@dataclass
class Call:
    """A sub-call in a body: filled with the block's name and arguments when rendered; ``run``:
    the calls a `for` entry stands for (the first is ``tree``)."""

    tree: Tree
    run: list[Tree]


def runs(blocks: "Blocks", entries: list) -> list:
    """Consecutive calls named i, i+1, … (a Sequential's children) of one block that differ
    at most in their Ramps' k, by one step from call to call → one `for`."""
    out: list = []
    for entry in entries:
        last = out[-1] if out else None
        if last is not None and "from" not in entry and "from" not in last and _follows(blocks, last, entry):
            first, end = _loop(last)
            if end is not None and entry.get("name") == str(end + 1):
                out[-1] = {**{k: v for k, v in last.items() if k not in ("name", "for")},
                           "name": "$i", "for": {"i": Range(first, end + 2)}}
                next(iter(last.values())).run.append(next(iter(entry.values())).tree)
                continue
        out.append(entry)
    return out


def _follows(blocks: "Blocks", last: dict, entry: dict) -> bool:
    """Is entry's call the next of last's run: one block, equal calls but for their Ramps' k,
    and every k one and the same step on from the call before?"""
    ka, kb = next(iter(last)), next(iter(entry))
    if not (ka == kb and isinstance(last[ka], Call) and isinstance(entry[kb], Call)):
        return False
    run, tree = last[ka].run, entry[kb].tree
    if _signature(run[-1], blocks) != _signature(tree, blocks):
        return False
    shifts = {b - a for a, b in zip(_ks(blocks, run[-1]), _ks(blocks, tree))}
    if len(run) > 1:
        shifts |= {b - a for a, b in zip(_ks(blocks, run[0]), _ks(blocks, run[1]))}
    return len(shifts) <= 1


def _ks(blocks: "Blocks", tree: Tree) -> list[int]:
    return [blocks.ramps[(op.id, f)].k for op in tree.ops() for f in op.fields if (op.id, f) in blocks.ramps]


def _signature(tree: Tree, blocks: "Blocks") -> str:
    """A call's ops, fields and names, with each Ramp's k left out."""
    def fields(op: Op) -> dict:
        return {k: Ramp(v.scale, None, v.div) if isinstance(v, Ramp) else v for k, v in blocks.fields(op).items()}
    return repr([(type(i).__name__, getattr(i, "kind", None), fields(i) if isinstance(i, Op) else None,
                  tree.names[id(i)], _signature(i, blocks) if isinstance(i, Tree) else None) for i in tree.items])


def _loop(entry: dict) -> tuple[int | None, int | None]:
    """(first, last) index of a call named by an integer, or of a run already made a `for`."""
    loop = entry.get("for", {}).get("i")
    if isinstance(loop, Range):
        return loop.start, loop.stop - 1
    name = entry.get("name", "")
    return (int(name), int(name)) if isinstance(name, str) and name.isdigit() else (None, None)
