"""Blocks, their arguments and `defaults:` for the spec writer (see cnntool.spec.writer).

Two passes. The first walks the calls bottom-up and keys each by its class and the shape of its
body with every number blanked out; calls with one key share a block. The second, per block in
the order first met (children before parents), finds the numbers that differ between its calls:
those become arguments, the rest stay literal.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..layers import REGISTRY, fields_of
from .writer import Op, Tree, external

__all__ = ["Blocks", "Range", "Leaf"]

KEYWORDS = {"seq", "parallel", "input", "name", "from", "repeat", "for", "if"}


@dataclass(frozen=True)
class Range:
    """A `for` over a Sequential's consecutive identical children: range(start, stop)."""

    start: Any
    stop: Any


@dataclass(frozen=True)
class Leaf:
    """A number in a block body that comes from an argument: `$a`, or `${k * a}`."""

    arg: str
    times: int = 1

    def text(self) -> str:
        return self.arg if self.times == 1 else f"{self.times} * {self.arg}"


@dataclass
class Call:
    """A sub-call in a body: filled with the block's name and arguments when rendered."""

    tree: Tree


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _norm(v: Any) -> Any:
    if isinstance(v, tuple):
        return v[0] if len(v) == 2 and v[0] == v[1] else list(v)
    return v


class Blocks:
    """The spec's `defaults`, `blocks` and `layers` for a nested tree of calls."""

    def __init__(self, root: Tree):
        self.root = root
        self.defaults = self._defaults([op for op in root.ops()])
        self.key: dict[int, tuple] = {}  # id(tree) → its block key
        self.body: dict[int, list] = {}  # id(tree) → body entries with Call placeholders
        self.instances: dict[tuple, list[Tree]] = {}
        self._collect(root)
        self.names = self._block_names()
        self.args: dict[tuple, list[tuple[int, Any]]] = {}  # key → (position, literal | Leaf | None)
        for key in self.instances:
            if key[0] != "model":
                self.args[key] = self._arguments(key)

    # -- defaults ----------------------------------------------------------------------------
    def _defaults(self, ops: list[Op]) -> dict[str, dict[str, Any]]:
        """Per kind and field, the most common value, when it saves stating it."""
        out: dict[str, dict[str, Any]] = {}
        for kind in sorted({op.kind for op in ops}):
            mine = [op for op in ops if op.kind == kind]
            for f in fields_of(REGISTRY[kind]):
                if f.name == REGISTRY[kind].primary:
                    continue  # `conv: 64` reads better than a default width
                values = Counter(repr(op.fields.get(f.name, _norm(f.default))) for op in mine)
                text, count = values.most_common(1)[0]
                base = values.get(repr(_norm(f.default)), 0) if not f.required else 0
                if count >= 2 and count > base:
                    out.setdefault(kind, {})[f.name] = next(
                        op.fields[f.name] for op in mine if repr(op.fields.get(f.name)) == text)
        return out

    def fields(self, op: Op) -> dict[str, Any]:
        """Every field's value: blocks are keyed on these, defaults are dropped when writing."""
        return {f.name: op.fields.get(f.name, _norm(f.default)) for f in fields_of(REGISTRY[op.kind])}

    def prune(self, kind: str, given: dict[str, Any]) -> Any:
        """The fields an entry must state, given the kind's and the spec's defaults."""
        cls, mine = REGISTRY[kind], self.defaults.get(kind, {})
        out = {}
        for f in fields_of(cls):
            value = given[f.name]
            if isinstance(value, Leaf) or ((value != mine[f.name]) if f.name in mine
                                           else (f.required or value != _norm(f.default))):
                out[f.name] = value
        if cls.primary and list(out) == [cls.primary] and not isinstance(out[cls.primary], (list, Leaf)):
            return out[cls.primary]
        if cls.primary and list(out) == [cls.primary] and out[cls.primary] == Leaf(out[cls.primary].arg):
            return out[cls.primary]
        return out or None

    # -- pass 1 ------------------------------------------------------------------------------
    def _collect(self, tree: Tree) -> tuple:
        prev = (external(tree) or ["input"])[0] if tree.path else "input"
        inside = {}  # value id → local name
        entries: list = []
        for item in tree.items:
            name = tree.names[id(item)]
            entry: dict[str, Any] = {}
            if isinstance(item, Tree):
                child_key = self._collect(item)
                entry[child_key] = Call(item)
                ins, out = external(item), item.out()
            else:
                ins, out = list(item.inputs), item.id
                listed = REGISTRY[item.kind].arity[1] != 1 and not fields_of(REGISTRY[item.kind])
                entry[item.kind] = [self._ref(v, tree, inside) for v in ins] if listed else self.fields(item)
            if id(item) in tree.explicit:
                entry["name"] = name
            if isinstance(item, Op) and not listed and len(ins) > 1:
                entry["from"] = [self._ref(v, tree, inside) for v in ins]  # e.g. an opaque call of two tensors
            elif not (isinstance(item, Op) and listed) and ins and ins[0] != prev:
                entry["from"] = self._ref(ins[0], tree, inside)
            entries.append(entry)
            inside[out], prev = name, out
        entries = self._runs(entries)
        key = (tree.cls, _skeleton(entries))
        self.key[id(tree)], self.body[id(tree)] = key, entries
        self.instances.setdefault(key, []).append(tree)
        return key

    def _ref(self, value: str, tree: Tree, inside: dict[str, str]) -> str:
        if value in inside:
            return inside[value]
        if tree.path and value == external(tree)[0]:
            return "input"
        if not tree.path and value == "input":
            return "input"
        return self.full_name(value)

    def full_name(self, value: str) -> str:
        def find(tree: Tree, prefix: str) -> str | None:
            for item in tree.items:
                name = prefix + tree.names[id(item)]
                if isinstance(item, Tree):
                    found = find(item, name + ".")
                    if found:
                        return found
                elif item.id == value:
                    return name
            return None
        return find(self.root, "") or value

    def _runs(self, entries: list) -> list:
        """Consecutive identical calls named i, i+1, … (a Sequential's children) → one `for`."""
        out: list = []
        for entry in entries:
            last = out[-1] if out else None
            if last is not None and _same_call(last, entry) and "from" not in entry and "from" not in last:
                first, end = _loop(last)
                if end is not None and entry.get("name") == str(end + 1):
                    out[-1] = {**{k: v for k, v in last.items() if k not in ("name", "for")},
                               "name": "$i", "for": {"i": Range(first, end + 2)}}
                    continue
            out.append(entry)
        return out

    # -- pass 2 ------------------------------------------------------------------------------
    def _block_names(self) -> dict[tuple, str]:
        names: dict[tuple, str] = {}
        taken = set(REGISTRY) | KEYWORDS
        for key in self.instances:
            if key[0] == "model":
                continue
            first = self.instances[key][0]
            cls = key[0] if key[0] != "Sequential" or first.local.isdigit() else first.local.rstrip("0123456789")
            base = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", cls).lower()
            base = re.sub(r"[^a-z0-9_]", "_", base).strip("_") or "block"
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}{n}"
            taken.add(name)
            names[key] = name
        return names

    def leaves(self, tree: Tree) -> list[tuple[str, Any]]:
        """(what it is, value) for every number in a call's body, in a fixed order."""
        return list(_walk(self.body[id(tree)], self))

    def _arguments(self, key: tuple) -> list[tuple[int, Any]]:
        vectors = [[v for _, v in self.leaves(t)] for t in self.instances[key]]
        labels = [label for label, _ in self.leaves(self.instances[key][0])]
        plan: list[tuple[int, Any]] = []
        found: dict[tuple, Leaf] = {}
        used: set[str] = {"i"}  # `i` is the loop variable of Sequential runs
        for j, label in enumerate(labels):
            column = tuple(vec[j] for vec in vectors)
            if len(set(column)) == 1:
                plan.append((j, None))
                continue
            leaf = found.get(column) or _multiple(column, found)
            if leaf is None:
                arg, n = label, 1
                while arg in used:
                    n += 1
                    arg = f"{label}{n}"
                used.add(arg)
                leaf = found[column] = Leaf(arg)
            plan.append((j, leaf))
        return plan

    def arg_names(self, key: tuple) -> list[str]:
        names: list[str] = []
        for _, leaf in self.args.get(key, []):
            if leaf is not None and leaf.times == 1 and leaf.arg not in names:
                names.append(leaf.arg)
        return names

    def call_args(self, tree: Tree) -> dict[str, Any]:
        """This call's values of its block's arguments."""
        key = self.key[id(tree)]
        values = [v for _, v in self.leaves(tree)]
        return {leaf.arg: values[j] for j, leaf in self.args[key] if leaf is not None and leaf.times == 1}


def _same_call(a: dict, b: dict) -> bool:
    ka, kb = next(iter(a)), next(iter(b))
    return (ka == kb and isinstance(a[ka], Call) and isinstance(b[kb], Call)
            and _signature(a[ka].tree) == _signature(b[kb].tree))


def _signature(tree: Tree) -> str:
    return repr([(type(i).__name__, getattr(i, "kind", None), getattr(i, "fields", None), tree.names[id(i)],
                  _signature(i) if isinstance(i, Tree) else None) for i in tree.items])


def _loop(entry: dict) -> tuple[int | None, int | None]:
    """(first, last) index of a call named by an integer, or of a run already made a `for`."""
    loop = entry.get("for", {}).get("i")
    if isinstance(loop, Range):
        return loop.start, loop.stop - 1
    name = entry.get("name", "")
    return (int(name), int(name)) if isinstance(name, str) and name.isdigit() else (None, None)


def _multiple(column: tuple, found: dict[tuple, Leaf]) -> Leaf | None:
    """An argument this column is a whole multiple of (`${4 * width}`)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in column):
        return None
    for base, leaf in found.items():
        if leaf.times == 1 and all(isinstance(b, int) and b > 0 and v % b == 0 for v, b in zip(column, base)):
            ratios = {v // b for v, b in zip(column, base)}
            if len(ratios) == 1 and (k := ratios.pop()) > 1:
                return Leaf(leaf.arg, k)
    return None


def _skeleton(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((k if isinstance(k, str) else ("call", k), _skeleton(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("list", tuple(_skeleton(v) for v in value))
    if isinstance(value, Range):
        return ("range", _skeleton(value.start), _skeleton(value.stop))
    if isinstance(value, Call):
        return "call"
    return "#" if _is_num(value) else value


def _walk(value: Any, blocks: Blocks, label: str = "value"):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, blocks, k if isinstance(k, str) else label)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, blocks, label)
    elif isinstance(value, Range):
        yield ("start", value.start)
        yield ("n", value.stop)
    elif isinstance(value, Call):
        yield from blocks.call_args(value.tree).items()
    elif _is_num(value):
        yield (getattr(REGISTRY.get(label), "primary", None) or label, value)
