"""Tiny models and helpers shared by the bench tests (CPU, milliseconds per run)."""

from __future__ import annotations

import torch
from torch import nn

from cnntool.bench.config import BenchConfig
from cnntool.bench.source import LayerSpec, ModelSource

SHAPE = (3, 16, 16)


def tiny_net() -> nn.Sequential:
    """Conv -> ReLU -> pool -> linear, fixed weights."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    )


CONV_MACS = 3 * 8 * 9 * 16 * 16
LAYERS = (
    LayerSpec("0", "conv", CONV_MACS, 2 * CONV_MACS, 8 * 3 * 9 + 8),
    LayerSpec("1", "relu", 0, 8 * 16 * 16, 0),
    LayerSpec("4", "linear", 80, 160, 90),
)


def tiny_source(factory=tiny_net, name: str = "tiny") -> ModelSource:
    return ModelSource(name, factory, SHAPE, macs_per_image=CONV_MACS + 80,
                       flops_per_image=2 * (CONV_MACS + 80), params=314, layers=LAYERS)


def quick(**kw) -> BenchConfig:
    """Few iterations, no warm-up time floor: a run takes milliseconds.

    One thread: on a shared 2-core machine a 2-thread OpenMP barrier waits a whole
    scheduler slice whenever a neighbour holds a core, which makes timings jump 100x.
    """
    base = dict(iters=5, warmup_iters=1, warmup_s=0.0, threads=1)
    base.update(kw)
    return BenchConfig(**base)


class OomAbove(nn.Module):
    """Raises an out-of-memory error for batches larger than `limit`."""

    def __init__(self, limit: int, exc: type[BaseException] = torch.cuda.OutOfMemoryError,
                 msg: str = "CUDA out of memory. Tried to allocate 2.00 GiB") -> None:
        super().__init__()
        self.net, self.limit, self.exc, self.msg = tiny_net(), limit, exc, msg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise self.exc(self.msg)
        return self.net(x)


class LayoutSensitive(nn.Module):
    """A deliberately wrong model: its output changes under channels_last."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y + 1.0 if not x.is_contiguous() else y
