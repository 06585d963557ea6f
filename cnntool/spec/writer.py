"""Traced ops → the layer lists of a readable spec (torch-free; `cnntool import` feeds it).

Every module call becomes a block call named as the module (`layer1`, `0`, `downsample`), so the
built spec's ``named_modules()`` match the model's. Calls of one class with the same structure
share one block; the numbers that differ between them become its arguments (a number that is
always k times another is written `${k * a}`), consecutive identical calls in a Sequential
become one entry with `for` (also when they differ only in a stochastic-depth probability that
grows with the block's number: see writer_runs), and `defaults:` takes the most common field values.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Op", "Tree", "WriteError", "tree_of", "Blocks"]


class WriteError(ValueError):
    """A graph a spec cannot express (e.g. a module call with two inputs)."""


@dataclass
class Op:
    """One traced call mapped to a kind. ``id`` is unique (fx's node name); ``inputs`` are ids."""

    id: str
    kind: str
    fields: dict[str, Any]
    inputs: tuple[str, ...]
    scope: tuple[str, ...]  # enclosing module calls, outermost first: ("layer1", "layer1.0")
    name: str | None = None  # the module's attribute name (conv1, relu_1); None: a function call


@dataclass
class Tree:
    """One module call: its ops and sub-calls in graph order."""

    path: str  # "" for the model, "layer1.0" for a call
    cls: str
    items: list[Union[Op, "Tree"]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # id(item) → its name in this scope
    explicit: set[int] = field(default_factory=set)  # items whose name the spec must state

    @property
    def local(self) -> str:
        return self.path.rpartition(".")[2]

    def ops(self):
        for item in self.items:
            yield from item.ops() if isinstance(item, Tree) else (item,)

    def out(self) -> str:
        last = self.items[-1]
        return last.out() if isinstance(last, Tree) else last.id


def tree_of(ops: list[Op], classes: dict[str, str], output: str) -> Tree:
    """Nest the ops by their module calls, then make each call a one-input, one-output scope."""
    root = Tree("", "model")
    trees = {"": root}
    for op in ops:
        parent = root
        for path in op.scope:
            if path not in trees:
                trees[path] = Tree(path, classes.get(path, "Module"))
                parent.items.append(trees[path])
            elif parent.items[-1] is not trees[path]:
                raise WriteError(f"the calls of module '{path}' are interleaved with other work")
            parent = trees[path]
        parent.items.append(op)
    _hoist(root, {op.id: op for op in ops})
    if not root.items or root.out() != output:
        raise WriteError("the model's output is not its last operation")
    _check_outputs(root, ops, output)
    _name(root)
    return root


def external(tree: Tree) -> list[str]:
    """Values a call reads from outside it, in order of first use."""
    made = {op.id for op in tree.ops()}
    seen: list[str] = []
    for op in tree.ops():
        seen += [v for v in op.inputs if v not in made and v not in seen]
    return seen


def _hoist(tree: Tree, by_id: dict[str, Op]) -> None:
    """A call that reads several outside values (DenseNet's layers concatenate all earlier
    features first) gets its leading ops moved out before it, until one input remains."""
    for i, item in enumerate(list(tree.items)):
        if not isinstance(item, Tree):
            continue
        _hoist(item, by_id)
        while len(external(item)) > 1:
            first = item.items[0]
            if isinstance(first, Tree) or len(item.items) == 1:
                raise WriteError(f"module '{item.path}' ({item.cls}) takes {len(external(item))} inputs; "
                                 "a block call has one")
            item.items.pop(0)
            first.scope = first.scope[:-1]
            tree.items.insert(tree.items.index(item), first)


def _check_outputs(root: Tree, ops: list[Op], output: str) -> None:
    readers: dict[str, set[str]] = {}
    for op in ops:
        for v in op.inputs:
            readers.setdefault(v, set()).add(op.id)

    def visit(tree: Tree) -> None:
        inside = {op.id for op in tree.ops()}
        leaving = {v for v in inside if readers.get(v, set()) - inside or v == output}
        if tree.path and leaving != {tree.out()}:
            raise WriteError(f"module '{tree.path}' ({tree.cls}) passes {len(leaving)} values out "
                             "that are not its last result; a block call returns one")
        for item in tree.items:
            if isinstance(item, Tree):
                visit(item)
    visit(root)


def _name(tree: Tree) -> None:
    """Names as the expander would make them (`<kind><n>` per scope), stated where they differ."""
    wanted = {item.local if isinstance(item, Tree) else item.name for item in tree.items} - {None}
    counters: Counter = Counter()
    used: set[str] = set()
    for item in tree.items:
        if isinstance(item, Tree):
            _name(item)
            given = item.local
        else:
            given = item.name
        base = item.kind if isinstance(item, Op) else None
        auto = None
        if base is not None:
            n = counters[base] + 1
            while f"{base}{n}" in used:
                n += 1
            auto = f"{base}{n}"
        if given is None:  # a function call: take the automatic name unless a module has it
            given = auto if auto not in wanted else _free(base, used | wanted)
        if given == auto:
            counters[base] = int(auto[len(base):])
        else:
            tree.explicit.add(id(item))
        tree.names[id(item)] = given
        used.add(given)


def _free(base: str, taken: set[str]) -> str:
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


from .writer_blocks import Blocks  # noqa: E402  (the second half: blocks, arguments, defaults)
