"""What the bench needs to know about a model, independent of the spec engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayerSpec:
    """Analytic cost of one spec layer, per image (batch 1)."""

    name: str
    kind: str
    macs: int
    flops: int
    params: int


@dataclass(frozen=True)
class ModelSource:
    """A model to benchmark: a factory for a fresh fp32 module plus its analytic cost.

    `factory` returns a CPU ``torch.nn.Module`` in fp32; the bench moves and
    converts it. MACs/FLOPs are per image; None means unknown (no TFLOP/s).
    """

    name: str
    factory: Callable[[], Any]
    input_shape: tuple[int, ...]
    macs_per_image: int | None = None
    flops_per_image: int | None = None
    params: int | None = None
    layers: tuple[LayerSpec, ...] = ()
    train_macs_per_image: int | None = None  # forward + backward MACs (cnntool.analysis.training)
    predict_train_bytes: Callable[[int], int] | None = None  # batch -> predicted training-step peak
