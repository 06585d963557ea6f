"""Layers that act per element or per channel: activations, normalisation, dropout, softmax."""
from __future__ import annotations

from dataclasses import field

from .base import Extra, Saved, field_doc, Io, Layer, LayerError, Shape, numel, register



def _activation(kind: str, torch_name: str, doc: str, ops_per_element: int, ptflops: int,
                arg: tuple[str, float, str] | None = None, saves_output: bool = False) -> type[Layer]:
    """Factory for element-wise activations: same shape, no parameters, a fixed cost per element.
    ``ptflops``: what ptflops counts per element (its module hook, plus its patched F.relu/F.elu).
    ``saves_output``: autograd keeps the result (ReLU, tanh, sigmoid), not the input."""
    namespace = {"kind": kind, "doc": doc, "__annotations__": {}}
    if arg:
        name, default, text = arg
        namespace["__annotations__"][name] = "float"
        namespace[name] = field(default=default, metadata=field_doc(text))
        namespace["primary"] = name

    def ops(self, io: Io) -> int:
        return ops_per_element * numel(io.out)

    def build(self, io: Io):
        from torch import nn
        return getattr(nn, torch_name)(*([getattr(self, arg[0])] if arg else []))

    def peers(self, io: Io) -> dict[str, int]:
        return {**Layer.peers(self, io), "ptflops": ptflops * numel(io.out)}

    def saved(self, io: Io) -> Saved:
        return Saved(output=True) if saves_output else Saved(inputs=(0,))

    namespace.update(ops=ops, build=build, peers=peers, saved=saved, __module__=__name__, __qualname__=torch_name)
    return register(type(torch_name, (Layer,), namespace))


ReLU = _activation("relu", "ReLU", "max(0, x)", 1, 2, saves_output=True)
LeakyReLU = _activation("leakyrelu", "LeakyReLU", "max(εx, x)", 1, 1,
                        ("slope", 0.01, "negative slope ε (YOLO: 0.1)"))
ELU = _activation("elu", "ELU", "x if x > 0 else α(eˣ − 1)", 1, 2, ("alpha", 1.0, "α"))
Tanh = _activation("tanh", "Tanh", "hyperbolic tangent", 1, 0, saves_output=True)
Sigmoid = _activation("sigmoid", "Sigmoid", "logistic sigmoid", 1, 0, saves_output=True)


@register
class Softmax(Layer):
    kind = "softmax"
    doc = "softmax over channels (dim 1 in NCHW)."

    def ops(self, io: Io) -> int:
        return 3 * numel(io.out)  # exp, sum, divide

    def peers(self, io: Io) -> dict[str, int]:
        # thop: per position, C exps, C − 1 adds and C divides; ptflops: its F.softmax, 1 per element
        n, c = numel(io.out), io.x[0]
        return {**super().peers(io), "thop": 3 * n - n // c, "ptflops": n}

    def saved(self, io: Io) -> Saved:
        return Saved(output=True)  # _softmax_backward_data reads the result

    def build(self, io: Io):
        from torch import nn
        return nn.Softmax(dim=1)


@register
class Dropout(Layer):
    kind = "dropout"
    doc = "dropout; the identity at inference, so it costs nothing here."
    primary = "p"
    view = True  # nn.Dropout in eval mode returns its input
    p: float = field(default=0.5, metadata=field_doc("drop probability"))

    def check(self) -> None:
        if not 0 <= self.p < 1:
            raise LayerError(f"p must be in [0, 1), got {self.p}")

    def describe(self) -> str:
        return f"p={self.p:g}"

    def saved(self, io: Io) -> Saved:
        # CUDA's native_dropout keeps a bool mask; on CPU PyTorch multiplies by a noise tensor of
        # the input's dtype and keeps that instead (docs/training.md)
        return Saved(extra=(Extra(numel(io.x), itemsize=1),))

    def build(self, io: Io):
        from torch import nn
        return nn.Dropout(self.p)


@register
class BatchNorm(Layer):
    kind = "bn"
    doc = "batch normalisation (BatchNorm2d on maps, BatchNorm1d on vectors); inference cost."
    eps: float = field(default=1e-5, metadata=field_doc("ε added to the variance"))
    momentum: float = field(default=0.1, metadata=field_doc("running-statistics momentum"))
    affine: bool = field(default=True, metadata=field_doc("learn γ and β"))

    def params(self, io: Io) -> int:
        return 2 * io.x[0] if self.affine else 0

    def buffers(self, io: Io) -> int:
        return 2 * io.x[0] + 1  # running mean, running var, num_batches_tracked

    def ops(self, io: Io) -> int:
        return 2 * numel(io.out)  # folded to one scale and one shift per element

    def fvcore(self, io: Io) -> int:
        return numel(io.x) * (2 if self.affine else 1)

    def peers(self, io: Io) -> dict[str, int]:
        per = 2 if self.affine else 1  # thop: 2 per element, twice with affine; ptflops as fvcore
        return {**super().peers(io), "thop": 2 * per * numel(io.x), "ptflops": per * numel(io.x)}

    def saved(self, io: Io) -> Saved:
        # native_batch_norm_backward reads the input, save_mean and save_invstd (fp32, per channel)
        return Saved(inputs=(0,), extra=(Extra(2 * io.x[0], itemsize=4, per_sample=False),))

    def build(self, io: Io):
        from torch import nn
        cls = nn.BatchNorm2d if len(io.x) == 3 else nn.BatchNorm1d
        return cls(io.x[0], eps=self.eps, momentum=self.momentum, affine=self.affine)


@register
class LocalResponseNorm(Layer):
    kind = "lrn"
    doc = "local response normalisation across channels (AlexNet; VGG A-LRN)."
    primary = "size"
    size: int = field(default=5, metadata=field_doc("channels in the window (n)"))
    alpha: float = field(default=1e-4, metadata=field_doc("α"))
    beta: float = field(default=0.75, metadata=field_doc("β"))
    k: float = field(default=2.0, metadata=field_doc("k (AlexNet and VGG use 2; PyTorch's default is 1)"))

    def check(self) -> None:
        if self.size <= 0:
            raise LayerError("size must be positive")

    def out_shape(self, io: Io) -> Shape:
        if len(io.x) != 3:
            raise LayerError(f"lrn needs a (C, H, W) feature map, got {list(io.x)}")
        return io.x

    def ops(self, io: Io) -> int:
        return (self.size + 3) * numel(io.out)  # square, window sum, scale+k, power, divide

    def working(self, io: Io) -> int:
        # F.local_response_norm: x² and its channel-padded copy, then the window average and
        # `div.mul(α).add(k).pow(β)`, whose chain holds three full-size tensors at once
        return max(3 * numel(io.out), 2 * numel(io.out) + (self.size - 1) * io.x[1] * io.x[2])

    def peers(self, io: Io) -> dict[str, int]:
        # ptflops patches Tensor.mul/add (x·x, ·α, +k) and F.avg_pool3d over the padded x²
        padded = (io.x[0] + self.size - 1) * io.x[1] * io.x[2]
        return {**super().peers(io), "ptflops": 3 * numel(io.out) + padded}

    def describe(self) -> str:
        return f"n={self.size}"

    def saved(self, io: Io) -> Saved:
        # F.local_response_norm: the input, the zero-padded squares (C + n − 1 maps) kept by
        # avg_pool3d, and two input-sized intermediates kept by pow and the final division
        c, hw = io.x[0], numel(io.x[1:])
        return Saved(inputs=(0,), extra=(Extra((c + self.size - 1) * hw), Extra(2 * c * hw)))

    def build(self, io: Io):
        from torch import nn
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)
