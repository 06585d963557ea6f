"""The activations of mobile and modern CNNs (MobileNet, EfficientNet, ConvNeXt, RegNet).

Like relu, each counts one FLOP per output element whatever its formula (the convention for every
activation, so a model's FLOPs do not depend on how a library spells its non-linearity), and
nothing in fvcore's column (fvcore has no rule for any of them).
"""
from __future__ import annotations

from dataclasses import field
from typing import Literal

from .base import Io, Layer, LayerError, Shape, field_doc, numel, register
from .pointwise import _activation

# the last number: what ptflops 0.7.5's pytorch backend counts per element (measured on nn.Sequential(m))
SiLU = _activation("silu", "SiLU", "x·σ(x), a.k.a. swish (EfficientNet, RegNetY's blocks)", 1, 1)
Hardswish = _activation("hardswish", "Hardswish", "x·relu6(x + 3) / 6 (MobileNetV3)", 1, 0)
Hardsigmoid = _activation("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6 (MobileNetV3's SE gate)", 1, 0)
ReLU6 = _activation("relu6", "ReLU6", "min(max(0, x), 6) (MobileNetV2)", 1, 1)
Mish = _activation("mish", "Mish", "x·tanh(ln(1 + eˣ))", 1, 0)


@register
class GELU(Layer):
    kind = "gelu"
    doc = "x·Φ(x), Φ the normal CDF (ConvNeXt); `approximate: tanh` is the tanh formula."
    primary = "approximate"
    approximate: Literal["none", "tanh"] = field(default="none", metadata=field_doc(
        "`none` (exact, erf) or `tanh` (the tanh approximation), as torch.nn.GELU"))

    def ops(self, io: Io) -> int:
        return numel(io.out)

    def describe(self) -> str:
        return "tanh" if self.approximate == "tanh" else ""

    def peers(self, io: Io) -> dict[str, int]:
        return {**super().peers(io), "ptflops": 2 * numel(io.out)}  # module hook + patched F.gelu (measured)

    def build(self, io: Io):
        from torch import nn
        return nn.GELU(approximate=self.approximate)


@register
class PReLU(Layer):
    kind = "prelu"
    doc = "max(0, x) + a·min(0, x) with a learned slope a, one for all channels or one per channel."
    primary = "num_parameters"
    num_parameters: int = field(default=1, metadata=field_doc(
        "learned slopes: 1 (shared) or the input's channel count (`${in.c}`)"))
    init: float = field(default=0.25, metadata=field_doc("initial slope"))

    def out_shape(self, io: Io) -> Shape:
        if self.num_parameters not in (1, io.x[0]):
            raise LayerError(f"num_parameters must be 1 or the input's {io.x[0]} channels, "
                             f"got {self.num_parameters}")
        return io.x

    def params(self, io: Io) -> int:
        return self.num_parameters

    def ops(self, io: Io) -> int:
        return numel(io.out)

    def describe(self) -> str:
        return f"{self.num_parameters} slope{'s' if self.num_parameters > 1 else ''}"

    def peers(self, io: Io) -> dict[str, int]:  # ptflops 0.7.5: hook + F.prelu; thop 0.1.1: one per element
        return {**super().peers(io), "ptflops": 2 * numel(io.out), "thop": numel(io.out)}

    def build(self, io: Io):
        from torch import nn
        return nn.PReLU(self.num_parameters, self.init)
