"""Convolution and transposed convolution (Dumoulin & Visin, arXiv 1603.07285)."""
from __future__ import annotations

from dataclasses import field
from fractions import Fraction
from typing import Literal, Union

from .base import Extra, field_doc, weighted_peers, Io, Layer, LayerError, Pair, Shape, Win, conv_out, need_dims, need_positive, numel, register, stride_notes

Padding = Union[Pair, Literal["same", "valid"]]



def window_text(k: Pair, s: Pair, p: Pair | str = (0, 0), d: Pair = (1, 1)) -> str:
    kernel = f"{k[0]}" if k[0] == k[1] else f"{k[0]}×{k[1]}"
    text = f"{kernel}×{kernel}" if k[0] == k[1] else kernel
    text += f"/{s[0]}" if s[0] == s[1] else f"/{s[0]},{s[1]}"
    if isinstance(p, str):
        text += f" {p}"
    elif any(p):
        text += f" p{p[0]}" if p[0] == p[1] else f" p{p[0]},{p[1]}"
    if d != (1, 1):
        text += f" d{d[0]}" if d[0] == d[1] else f" d{d[0]},{d[1]}"
    return text


BLOCK = 16  # oneDNN's fp32 channel block on AVX-512 (8 on AVX2); its copies pad channels to it
IP_TAPS = 27  # oneDNN's ks_threshold: an inner-product convolution needs a kernel of more taps


def onednn_backward(io: Io, weight: Pair, groups: int, kernel: Pair, bias: bool,
                    inner: bool = False) -> tuple[tuple[Extra, ...], ...]:
    """What torch's oneDNN (mkldnn) convolution backward on CPU holds besides the gradients:
    first copies of the output's gradient and of the input (not of an image of ≤ 3 channels,
    which oneDNN reads as it is) in its blocked layout, then the weight and bias gradients in
    that layout beside the plain ones it copies them to. Channels pad to BLOCK, a grouped
    weight's per-group channels (weight[1]) excepted. Measured with torch.profiler's allocator
    events (docs/training.md). ``inner``: oneDNN runs the layer as an inner product
    (``onednn_inner_product``), whose layouts are plain but permuted: nothing is padded, and
    torch's ``mkldnn_to_dense`` copies the permuted weight gradient once more (``.contiguous()``)
    unless it is laid out as the plain one already (weight[1] == 1)."""
    if inner:
        w = numel(weight) * numel(kernel) * (2 if weight[1] > 1 else 1)
        return (Extra(numel(io.x) + numel(io.out)),), (Extra(w + (io.out[0] if bias else 0), per_sample=False),)
    pad = lambda c: -(-c // BLOCK) * BLOCK  # noqa: E731
    x = pad(io.x[0]) * numel(io.x[1:]) if io.x[0] > 3 else 0
    w = pad(weight[0]) * (weight[1] if groups > 1 else pad(weight[1])) * numel(kernel)
    b = pad(io.out[0]) if bias else 0
    return (Extra(x + pad(io.out[0]) * numel(io.out[1:])),), (Extra(w + b, per_sample=False),)


def onednn_inner_product(batch: int, layer: Layer, pixels: Shape) -> bool:
    """Does oneDNN (v3.12, x64: ``check_conv_ip`` in src/cpu/x64/ip_convolution.cpp) run this
    conv or deconv as an inner product? When the batch is 2 or more, there is one group, the
    kernel has more than IP_TAPS taps, the convolution's output (a deconv's input: ``pixels``)
    is 1 × 1, stride and dilation are 1 and there is no padding. oneDNN also asks for
    AVX-512, which the rules here assume (BLOCK)."""
    padding = layer.pad() if isinstance(layer, Conv) else layer.padding
    return (batch > 1 and layer.groups == 1 and numel(layer.kernel) > IP_TAPS and tuple(pixels) == (1, 1)
            and tuple(padding) == (0, 0) and tuple(layer.stride) == tuple(layer.dilation) == (1, 1))


@register
class Conv(Layer):
    kind = "conv"
    doc = "2-D convolution (torch.nn.Conv2d); `conv: 64` sets `out`."
    primary = "out"
    out: int = field(metadata=field_doc("output channels (number of filters)"))
    kernel: Pair = field(metadata=field_doc("kernel size, k or [kh, kw]"))
    stride: Pair = field(default=(1, 1), metadata=field_doc("stride"))
    padding: Padding = field(default=(0, 0), metadata=field_doc("zero padding per side, or 'same' / 'valid'"))
    dilation: Pair = field(default=(1, 1), metadata=field_doc("dilation"))
    groups: int = field(default=1, metadata=field_doc("channel groups (AlexNet's two towers: 2)"))
    bias: bool = field(default=True, metadata=field_doc("learn a bias per output channel"))
    rounding: Literal["floor", "ceil"] = field(
        default="floor", metadata=field_doc("output-size rounding; 'ceil' as cuda-convnet (AlexNet)"))

    def check(self) -> None:
        need_positive(self, "out", "kernel", "stride", "dilation", "groups")
        if not isinstance(self.padding, str) and min(self.padding) < 0:
            raise LayerError(f"padding must be non-negative, got {list(self.padding)}")
        if self.padding == "same" and self.stride != (1, 1):
            raise LayerError("padding 'same' needs stride 1 (as in PyTorch)")
        if self.out % self.groups:
            raise LayerError(f"out={self.out} is not divisible by groups={self.groups}")

    def pad(self) -> Pair:
        if self.padding == "valid":
            return (0, 0)
        if self.padding == "same":  # PyTorch puts the odd extra pixel on the right/bottom
            return tuple(d * (k - 1) // 2 for k, d in zip(self.kernel, self.dilation))  # type: ignore
        return self.padding  # type: ignore[return-value]

    def _sizes(self, x: Shape) -> tuple[list[int], list[str], list[str]]:
        if self.padding == "same":
            return [x[1], x[2]], ["H, W: padding 'same' keeps the input size"], [""]
        sizes, texts, warnings = [], [], []
        for axis, i, k, s, p, d in zip("HW", x[1:], self.kernel, self.stride, self.pad(), self.dilation):
            o, text, warning = conv_out(i, k, s, p, d, self.rounding == "ceil", axis)
            sizes.append(o), texts.append(text), warnings.append(warning)
        return sizes, texts, warnings

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, "conv")
        if io.x[0] % self.groups:
            raise LayerError(f"{io.x[0]} input channels are not divisible by groups={self.groups}")
        return (self.out, *self._sizes(io.x)[0])

    def notes(self, io: Io) -> list[str]:
        return stride_notes(self._sizes(io.x)[2])

    def explain(self, io: Io) -> list[str]:
        return self._sizes(io.x)[1]

    def params(self, io: Io) -> int:
        return self.out * io.x[0] // self.groups * numel(self.kernel) + (self.out if self.bias else 0)

    def macs(self, io: Io) -> int:
        return numel(io.out) * io.x[0] // self.groups * numel(self.kernel)

    def ops(self, io: Io) -> int:
        return numel(io.out) if self.bias else 0

    def peers(self, io: Io) -> dict[str, int]:
        return weighted_peers(self.macs(io), self.ops(io), self.fvcore(io))

    def window(self, io: Io) -> tuple[Win, Win]:
        if self.padding == "same":
            pads = [Fraction(d * (k - 1), 2) for k, d in zip(self.kernel, self.dilation)]
        else:
            pads = list(self.pad())
        return tuple(Win(d * (k - 1) + 1, s, p) for k, s, p, d in  # type: ignore[return-value]
                     zip(self.kernel, self.stride, pads, self.dilation))

    def cpu_backward_workspace(self, io: Io, batch: int) -> tuple[tuple[Extra, ...], ...]:
        inner = onednn_inner_product(batch, self, io.out[1:])
        return onednn_backward(io, (self.out, io.x[0] // self.groups), self.groups, self.kernel, self.bias, inner)

    def describe(self) -> str:
        text = window_text(self.kernel, self.stride, self.padding if isinstance(self.padding, str)
                           else self.pad(), self.dilation)
        return text + (f" g{self.groups}" if self.groups > 1 else "") + (" ceil" if self.rounding == "ceil" else "")

    def build(self, io: Io):
        from torch import nn
        # explicit padding: fvcore counts aten::_convolution but not the aten::_convolution_mode
        # that padding="same" becomes. What the output still needs beyond the symmetric padding
        # (the odd pixel of 'same' with an even kernel, as PyTorch adds it; cuda-convnet's ceil
        # rounding) is extra zero padding on the bottom/right edge.
        conv = nn.Conv2d(io.x[0], self.out, self.kernel, self.stride, self.pad(), self.dilation,
                         self.groups, self.bias)
        extra = [(o - 1) * s + d * (k - 1) + 1 - (i + 2 * p) for o, i, k, s, p, d in
                 zip(io.out[1:], io.x[1:], self.kernel, self.stride, self.pad(), self.dilation)]
        if max(extra) <= 0:
            return conv
        return nn.Sequential(nn.ZeroPad2d((0, max(extra[1], 0), 0, max(extra[0], 0))), conv)


@register
class ConvTranspose(Layer):
    kind = "deconv"
    doc = "transposed convolution (torch.nn.ConvTranspose2d), a.k.a. up-convolution or deconvolution."
    primary = "out"
    out: int = field(metadata=field_doc("output channels"))
    kernel: Pair = field(metadata=field_doc("kernel size"))
    stride: Pair = field(default=(1, 1), metadata=field_doc("stride (the up-sampling factor)"))
    padding: Pair = field(default=(0, 0), metadata=field_doc("padding removed from each side of the output"))
    output_padding: Pair = field(default=(0, 0), metadata=field_doc("extra rows/cols added on one side"))
    dilation: Pair = field(default=(1, 1), metadata=field_doc("dilation"))
    groups: int = field(default=1, metadata=field_doc("channel groups"))
    bias: bool = field(default=True, metadata=field_doc("learn a bias per output channel"))

    def check(self) -> None:
        need_positive(self, "out", "kernel", "stride", "dilation", "groups")
        if min(self.padding + self.output_padding) < 0:
            raise LayerError("padding and output_padding must be non-negative")
        if any(op >= max(s, d) for op, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise LayerError("output_padding must be smaller than stride or dilation (as in PyTorch)")

    def out_shape(self, io: Io) -> Shape:
        need_dims(io, 3, "deconv")
        if io.x[0] % self.groups or self.out % self.groups:
            raise LayerError(f"channels {io.x[0]}→{self.out} are not divisible by groups={self.groups}")
        # o = s(i − 1) − 2p + d(k − 1) + output_padding + 1
        sizes = [s * (i - 1) - 2 * p + d * (k - 1) + op + 1 for i, k, s, p, op, d in
                 zip(io.x[1:], self.kernel, self.stride, self.padding, self.output_padding, self.dilation)]
        if min(sizes) <= 0:
            raise LayerError(f"output size {sizes} is not positive")
        return (self.out, *sizes)

    def params(self, io: Io) -> int:
        return io.x[0] * self.out // self.groups * numel(self.kernel) + (self.out if self.bias else 0)

    def explain(self, io: Io) -> list[str]:
        return [f"{axis}: {s}×({i} − 1) − 2×{p} + {d}×({k} − 1) + {op} + 1 = {o}" for axis, i, k, s, p, op, d, o in
                zip("HW", io.x[1:], self.kernel, self.stride, self.padding, self.output_padding,
                    self.dilation, io.out[1:])]

    def macs(self, io: Io) -> int:
        # every input pixel is scattered through the whole kernel (fvcore counts the same)
        return numel(io.x) * self.out // self.groups * numel(self.kernel)

    def ops(self, io: Io) -> int:
        return numel(io.out) if self.bias else 0

    def peers(self, io: Io) -> dict[str, int]:
        # thop and torchinfo count it as a convolution over its output: N_out·C_in/g·K
        by_output = numel(io.out) * io.x[0] // self.groups * numel(self.kernel)
        return weighted_peers(self.macs(io), self.ops(io), self.fvcore(io), by_output)

    def window(self, io: Io) -> tuple[Win, Win]:
        return tuple(Win(d * (k - 1) + 1, s, p, transposed=True) for k, s, p, d in  # type: ignore
                     zip(self.kernel, self.stride, self.padding, self.dilation))

    def cpu_backward_workspace(self, io: Io, batch: int) -> tuple[tuple[Extra, ...], ...]:
        # oneDNN runs a deconv as the convolution it transposes: its input is that one's output
        inner = onednn_inner_product(batch, self, io.x[1:])
        return onednn_backward(io, (io.x[0], self.out // self.groups), self.groups, self.kernel, self.bias, inner)

    def describe(self) -> str:
        return window_text(self.kernel, self.stride, self.padding, self.dilation) + " ↑"

    def build(self, io: Io):
        from torch import nn
        return nn.ConvTranspose2d(io.x[0], self.out, self.kernel, self.stride, self.padding,
                                  self.output_padding, self.groups, self.bias, self.dilation)
