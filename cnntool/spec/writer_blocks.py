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
from .writer import Op, Tree, WriteError, external
from .writer_runs import COUNTER, Call, Ramp, Range, Step, ramps, runs, step

__all__ = ["Blocks", "Range", "Leaf"]

KEYWORDS = {"seq", "parallel", "input", "name", "from", "repeat", "for", "if"}


@dataclass(frozen=True)
class Leaf:
    """A number in a block body that comes from an argument: `$a`, or `${k * a}`."""

    arg: str
    times: int = 1

    def text(self) -> str:
        return self.arg if self.times == 1 else f"{self.times} * {self.arg}"


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
        self.ramps = ramps(list(root.ops()))  # (op id, field) → its value as `scale * k / div`
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
        return {f.name: self.ramps.get((op.id, f.name), op.fields.get(f.name, _norm(f.default)))
                for f in fields_of(REGISTRY[op.kind])}

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
                entry[child_key] = Call(item, [item])
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
        entries = runs(self, entries)
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
            # a block counter that happens to be twice a padding is not written `${2 * padding}`
            leaf = found.get(column) or (_multiple(column, found) if label != COUNTER else None)
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

    def entry_args(self, call: Call) -> dict[str, Any]:
        """The arguments a body entry passes: its call's, or for a `for` over calls i = first, …
        each one's single value or the Step that gives call i's."""
        if len(call.run) == 1:
            return self.call_args(call.tree)
        columns = [self.call_args(t) for t in call.run]
        out = {}
        for arg in columns[0]:
            out[arg] = step([c[arg] for c in columns], int(call.tree.local))
            if out[arg] is None:
                raise WriteError(f"the calls {call.run[0].path}… differ in '{arg}' by no fixed step")
        return out

    def call_args(self, tree: Tree) -> dict[str, Any]:
        """This call's values of its block's arguments."""
        key = self.key[id(tree)]
        values = [v for _, v in self.leaves(tree)]
        return {leaf.arg: values[j] for j, leaf in self.args[key] if leaf is not None and leaf.times == 1}


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
    if isinstance(value, Ramp):
        return ("ramp", value.scale, value.div)
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
        for arg, v in blocks.entry_args(value).items():
            yield from [(arg, v.a), (f"{arg}_step", v.b)] if isinstance(v, Step) else [(arg, v)]
    elif isinstance(value, Ramp):
        yield (COUNTER, value.k)
    elif _is_num(value):
        yield (getattr(REGISTRY.get(label), "primary", None) or label, value)
