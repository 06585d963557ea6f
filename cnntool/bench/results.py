"""Frozen result records and their stable JSON form (schema SCHEMA)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .stats import quantile, summarize

SCHEMA = "cnntool.bench/1"


@dataclass(frozen=True)
class Throughput:
    """Images/s of each timed repeat (many batches, one sync at the end)."""

    iters: int
    images_per_repeat: int
    repeat_s: tuple[float, ...]
    samples_img_s: tuple[float, ...]
    median_img_s: float
    q1_img_s: float
    q3_img_s: float
    iqr_img_s: float
    iqr_rel: float

    @classmethod
    def from_times(cls, batch: int, iters: int, repeat_s: Sequence[float]) -> Throughput:
        """Turn wall times of repeats into images/s and their median/IQR."""
        images = batch * iters
        rates = tuple(images / max(t, 1e-12) for t in repeat_s)
        s = summarize(rates)
        return cls(iters, images, tuple(repeat_s), rates, s.median, s.q1, s.q3, s.iqr, s.iqr_rel)


@dataclass(frozen=True)
class Latency:
    """Per-batch latency samples (seconds) of the separate latency run."""

    samples_s: tuple[float, ...]
    p50_s: float
    p90_s: float
    p99_s: float
    q1_s: float
    q3_s: float
    iqr_s: float
    mean_s: float
    min_s: float
    max_s: float

    @classmethod
    def from_samples(cls, samples_s: Sequence[float]) -> Latency:
        """Percentiles by linear interpolation over all samples."""
        s = summarize(samples_s)
        p50, p90, p99 = (quantile(samples_s, q) for q in (0.5, 0.9, 0.99))
        return cls(tuple(samples_s), p50, p90, p99, s.q1, s.q3, s.iqr, s.mean, s.min, s.max)


@dataclass(frozen=True)
class Memory:
    """Peak memory of one batch size's runs; fields that do not apply are None."""

    method: str
    peak_allocated_bytes: int | None = None
    peak_reserved_bytes: int | None = None
    baseline_allocated_bytes: int | None = None
    rss_growth_bytes: int | None = None


@dataclass(frozen=True)
class BatchRow:
    """One batch size: status "ok", "OOM" or "skipped", and its measurements."""

    batch: int
    status: str
    message: str = ""
    first_call_s: float | None = None
    warmup_s: float | None = None
    warmup_iters: int | None = None
    throughput: Throughput | None = None
    latency: Latency | None = None
    memory: Memory | None = None
    tflops: float | None = None
    mfu: float | None = None
    warnings: tuple[str, ...] = ()
    predicted_bytes: int | None = None  # --train: cnntool.analysis.training's peak at this batch


@dataclass(frozen=True)
class Correctness:
    """Candidate output vs fp32 eager on the same input and weights."""

    status: str  # "pass", "fail" or "skipped"
    reason: str = ""
    batch: int | None = None
    metric: str = "max|candidate - reference| / max|reference|"
    error: float | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class LayerTiming:
    """One layer of the --per-layer roofline view (time per forward)."""

    name: str
    kind: str
    calls: int
    time_s: float
    macs: int | None
    flops: int | None
    bytes: int
    intensity: float | None
    bound: str  # "compute", "memory" or "n/a"


@dataclass(frozen=True)
class PerLayer:
    """Per-layer profile of one batch size; `unattributed_s` is time outside leaves."""

    batch: int
    iters: int
    clock: str
    total_s: float
    unattributed_s: float
    ridge_flop_per_byte: float | None
    layers: tuple[LayerTiming, ...]


@dataclass(frozen=True)
class BenchResult:
    """A whole `cnntool bench` run; `to_json` gives its documented JSON form."""

    model: dict[str, Any]
    config: dict[str, Any]
    precision: dict[str, Any]
    environment: dict[str, Any]
    rows: tuple[BatchRow, ...]
    correctness: Correctness
    per_layer: PerLayer | None = None
    warnings: tuple[str, ...] = field(default=())


def plain(value: Any) -> Any:
    """Enums to their values, tuples to lists, recursively (JSON-ready)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def to_json(result: BenchResult) -> dict[str, Any]:
    """JSON-ready dict: exact numbers, seconds and bytes, enums as strings."""
    body = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    out = {"schema": SCHEMA}
    for key, value in body.items():
        if dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            value = [dataclasses.asdict(v) for v in value]
        out[key] = plain(value)
    return out
