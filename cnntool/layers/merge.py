"""Graph operations: several inputs become one (add, concat) or one is cut to fit (crop)."""
from __future__ import annotations

from dataclasses import field
from typing import Optional

from .base import Saved, field_doc, Io, Layer, LayerError, Pair, Shape, need_dims, numel, register


def broadcast(ins: tuple[Shape, ...], verb: str) -> Shape:
    """The largest input's shape, when every other input matches it or is 1 along each axis
    that differs (an SE gate (C, 1, 1) onto (C, H, W)); numpy's rule, limited to one side."""
    target = max(ins, key=numel)
    for other in ins:
        fits = len(other) == len(target) and all(a in (b, 1) for a, b in zip(other, target))
        if not fits:
            what = "channels" if other[1:] == target[1:] else "shapes"
            first, second = (other, target) if other is ins[0] else (target, other)
            raise LayerError(f"{what} don't match: cannot {verb} {list(first)} and {list(second)}")
    return target


@register
class Add(Layer):
    kind = "add"
    doc = ("element-wise sum of two or more inputs (residual shortcut, HRNet fusion); an input of "
           "size 1 along an axis is broadcast.")
    arity = (2, None)

    def out_shape(self, io: Io) -> Shape:
        return broadcast(io.ins, "add")

    def ops(self, io: Io) -> int:
        return (len(io.ins) - 1) * numel(io.out)

    def saved(self, io: Io) -> Saved:
        return Saved()  # the gradient passes through unchanged

    def build(self, io: Io):
        from ..torch.ops import Sum
        return Sum()


@register
class Mul(Layer):
    kind = "mul"
    doc = ("element-wise product of two or more inputs, broadcast as `add` (the squeeze-and-excitation "
           "gate x·σ(…) of shape (C, 1, 1) against (C, H, W)).")
    arity = (2, None)

    def out_shape(self, io: Io) -> Shape:
        return broadcast(io.ins, "multiply")

    def ops(self, io: Io) -> int:
        return (len(io.ins) - 1) * numel(io.out)  # fvcore has no rule for mul: 0 there

    def build(self, io: Io):
        from ..torch.ops import Product
        return Product()


@register
class Concat(Layer):
    kind = "concat"
    doc = "concatenation along channels (Inception, U-Net skips); H and W must agree."
    arity = (2, None)

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, "concat")
        sizes = {shape[1:] for shape in io.ins}
        if len(sizes) > 1:
            raise LayerError("spatial sizes don't match: cannot concatenate "
                             + ", ".join(str(list(s)) for s in io.ins) + " (crop one first?)")
        return (sum(shape[0] for shape in io.ins), *io.ins[0][1:])

    def saved(self, io: Io) -> Saved:
        return Saved()  # the backward slices the gradient by sizes

    def build(self, io: Io):
        from ..torch.ops import Concat as TorchConcat
        return TorchConcat()


@register
class Crop(Layer):
    kind = "crop"
    doc = "centre crop to the size of another node (`like`) or to a fixed `size` (U-Net skips)."
    refs = ("like",)  # read for its size when the graph is built, not at run time
    view = True  # a slice of its input
    like: Optional[str] = field(default=None, metadata=field_doc("node whose H×W to crop to"))
    size: Optional[Pair] = field(default=None, metadata=field_doc("target size [h, w]"))

    def check(self) -> None:
        if (self.like is None) == (self.size is None):
            raise LayerError("crop needs exactly one of `like` or `size`")

    def target(self, io: Io) -> Pair:
        if self.size is not None:
            return self.size
        return io.refs["like"].out_shape[1:]  # type: ignore[return-value]

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, "crop")
        h, w = self.target(io)
        if h > io.x[1] or w > io.x[2] or min(h, w) <= 0:
            raise LayerError(f"cannot crop {list(io.x)} to {h}×{w}")
        return (io.x[0], h, w)

    def describe(self) -> str:
        return f"to {self.like}" if self.like else f"to {self.size[0]}×{self.size[1]}"

    def saved(self, io: Io) -> Saved:
        return Saved()

    def build(self, io: Io):
        from ..torch.ops import CenterCrop
        return CenterCrop(io.out[1], io.out[2])
