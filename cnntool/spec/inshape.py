"""`in` in expressions: the shape of the node an entry reads, inferred during expansion on demand.

Shapes are inferred only when an expression asks, for all nodes up to the one asked for, once and
in order (the nodes are topological), with the analysis' rules and messages; a spec that never
reads `in` is expanded exactly as before.
"""
from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..graph import Node
from ..layers import Io, LayerError, Ref
from .expr import ExprError, Namespace

__all__ = ["Shapes", "InputView"]


class InputView(Namespace):
    """`in` bound to one node: `in.c`, `in.h`, `in.w`, `in.shape`."""

    def __init__(self, shapes: "Shapes", node: str):
        self.shapes, self.node = shapes, node

    def expr_attr(self, name: str) -> Any:
        shape = self.shapes.shape_of(self.node)
        if name == "shape":
            return list(shape)
        if name == "c":
            return shape[0]
        if name in ("h", "w"):
            if len(shape) != 3:
                raise ExprError(f"in.{name}: the input is a vector {list(shape)}, not a (C, H, W) map")
            return shape[1 if name == "h" else 2]
        raise ExprError(f"`in` has no attribute '{name}' (in.c, in.h, in.w, in.shape)")


class Shapes:
    """Output shapes of the nodes expanded so far, computed lazily."""

    def __init__(self, nodes: list[Node], index: dict[str, int], input_shape: tuple[int, ...]):
        self.nodes, self.index, self.input_shape = nodes, index, input_shape
        self.known: list[tuple[int, ...]] = []  # shapes of nodes[:len(known)]
        self.read = False

    def view(self, node: str) -> InputView:
        return InputView(self, node)

    def shape_of(self, name: str) -> tuple[int, ...]:
        self.read = True
        target = self.index[name]
        while len(self.known) <= target:
            node = self.nodes[len(self.known)]
            self.known.append(self.input_shape if node.layer is None else self._infer(node))
        return self.known[target]

    def _get(self, name: str) -> tuple[int, ...]:
        return self.known[self.index[name]]

    def _infer(self, node: Node) -> tuple[int, ...]:
        ins = tuple(self._get(n) for n in node.inputs)
        refs = {}
        for key, target in node.refs:
            ref = self.nodes[self.index[target]]
            refs[key] = Ref(ref.kind, tuple(self._get(n) for n in ref.inputs), self._get(target), ref.layer)
        try:
            out = node.layer.out_shape(Io(ins, refs=refs))
            if min(out, default=1) <= 0:
                raise LayerError(f"output shape {list(out)} is not positive")
        except LayerError as exc:
            shown = ", ".join(str(list(s)) for s in ins)
            raise SpecError(f"{node.name} ({node.kind}) on input {shown}: {exc}", node.loc,
                            trace=node.trace) from None
        return out
