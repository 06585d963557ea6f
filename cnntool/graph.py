"""The expanded model: a list of nodes in topological order, ready for analysis or building."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import Loc
from .layers import Layer

__all__ = ["Node", "Model", "INPUT", "at_input"]

INPUT = "input"


@dataclass(frozen=True, slots=True)
class Node:
    """One layer instance. ``inputs`` are data inputs; ``refs`` map a field to the node it names."""

    name: str  # dotted and unique, e.g. "stage2.conv1"
    kind: str
    layer: Layer | None  # None only for the model input
    inputs: tuple[str, ...]
    refs: tuple[tuple[str, str], ...]
    loc: Loc
    trace: tuple[Loc, ...] = ()  # block call sites, innermost first


@dataclass(frozen=True)
class Model:
    """A spec (or one of its variants) with every block, repeat and loop expanded."""

    name: str
    input_shape: tuple[int, ...]
    nodes: tuple[Node, ...]
    description: str = ""
    source: str = ""
    notes: str = ""
    file: str = ""
    variant: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    expect: tuple[Any, ...] = ()  # cnntool.spec.expect.Expectation records
    reference: str | None = None  # e.g. "torchvision.models.vgg16"
    accuracy: dict[str, Any] = field(default_factory=dict)
    loc: Loc = Loc("<spec>", 0, 0)
    aliases: dict[str, str] = field(default_factory=dict)  # block/branch name -> its output node
    # set when expressions read `in` (the input shape): the same spec expanded at another input
    respec: Callable[[tuple[int, ...]], "Model"] | None = field(default=None, compare=False, repr=False)


def at_input(model: Model, shape: tuple[int, ...] | None) -> Model:
    """``model`` at another input shape: re-expanded when its layers read `in`, else itself."""
    if shape is None or tuple(shape) == model.input_shape or model.respec is None:
        return model
    return model.respec(tuple(shape))
