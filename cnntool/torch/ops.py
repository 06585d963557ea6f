"""Small torch modules for the graph ops that torch.nn lacks (merges, centre crop, un-pooling).

Imported only by the layer kinds' ``build()`` methods and by cnntool.torch.build, so it may import
torch at module level: importing cnntool itself never reaches this file.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Sum", "Product", "PointwiseLinear", "ChannelSlice", "LayerScale", "own_keys_as_gamma", "Concat", "CenterCrop", "MaxUnpool", "ShortcutA"]


class Sum(nn.Module):
    """Element-wise sum of any number of inputs of one shape (`add`); the third and later inputs
    are added in place into the fresh first sum, so no intermediate sum is ever alive."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out += x
        return out


class Product(nn.Module):
    """Element-wise product of any number of inputs, broadcast (`mul`: an SE gate)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class PointwiseLinear(nn.Linear):
    """nn.Linear at every position of an (N, C, H, W) map, as torchvision's ConvNeXt applies it
    to channels-last maps (its weight is (out, in), so an nn.Linear's state_dict loads)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class ChannelSlice(nn.Module):
    """Channels start:stop of the input (`slice`)."""

    def __init__(self, start: int, stop: int):
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop]

    def extra_repr(self) -> str:
        return f"channels={self.start}:{self.stop}"


class LayerScale(nn.Module):
    """γ·x with a learned γ per channel, shaped (C, 1, 1) on maps as ConvNeXt's CNBlock holds it.
    Its state_dict key is the module's own name (`….layer_scale`, not `….layer_scale.gamma`), as
    CNBlock's bare `layer_scale` parameter is, so torchvision's ConvNeXt weights load strictly."""

    def __init__(self, shape: tuple[int, ...], init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((shape[0],) + (1,) * (len(shape) - 1), float(init)))
        self.register_state_dict_post_hook(_gamma_as_own_key)  # loading: `own_keys_as_gamma`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * x


def _gamma_as_own_key(module: nn.Module, state: dict, prefix: str, local_metadata: dict) -> None:
    state[prefix[:-1]] = state.pop(prefix + "gamma")


def own_keys_as_gamma(root: nn.Module, state: dict, prefix: str, *_) -> None:
    """A load_state_dict pre-hook of the model: each LayerScale's key `name` → `name.gamma`.
    On the model, as torch gives a child only the keys under `name.`."""
    for name, module in root.named_modules(prefix=prefix[:-1]):
        if isinstance(module, LayerScale) and name in state:
            state[name + ".gamma"] = state.pop(name)


class Concat(nn.Module):
    """Concatenation along channels (dim 1 in NCHW) (`concat`)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class CenterCrop(nn.Module):
    """Crop H×W to (height, width) around the centre; an odd surplus leaves the extra row/column
    at the bottom/right, as U-Net's crop of the encoder map does (offset = floor(surplus / 2))."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = (x.shape[-2] - self.height) // 2
        left = (x.shape[-1] - self.width) // 2
        return x[..., top:top + self.height, left:left + self.width]

    def extra_repr(self) -> str:
        return f"size=({self.height}, {self.width})"


class MaxUnpool(nn.Module):
    """torch.nn.MaxUnpool2d with the output size fixed at build time (the pooled map's input size,
    which the indices alone cannot tell when the pool rounded down). Call as ``unpool(x, indices)``."""

    def __init__(self, kernel, stride, padding, output_size: tuple[int, int]):
        super().__init__()
        self.kernel, self.stride, self.padding = tuple(kernel), tuple(stride), tuple(padding)
        self.output_size = tuple(output_size)

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return F.max_unpool2d(x, indices, self.kernel, self.stride, self.padding, self.output_size)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"output_size={self.output_size}")


class ShortcutA(nn.Module):
    """ResNet option-A shortcut: every `stride`-th pixel, zero channels split around the input's
    (as most CIFAR re-implementations do); no parameters. A module class, so it pickles."""

    def __init__(self, stride: int, extra: int):
        super().__init__()
        self.stride, self.before, self.after = stride, extra // 2, extra - extra // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, self.before, self.after))
