"""Order statistics without numpy, so the CLI and bench-compare stay light."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (Hyndman-Fan type 7, numpy's default)."""
    if not values:
        raise ValueError("quantile of an empty sequence")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile level {q} outside [0, 1]")
    data = sorted(values)
    pos = (len(data) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return data[lo] + (data[hi] - data[lo]) * frac


@dataclass(frozen=True)
class Summary:
    """Robust summary of repeated measurements (median and IQR, not mean and sd)."""

    median: float
    q1: float
    q3: float
    iqr: float
    mean: float
    min: float
    max: float

    @property
    def iqr_rel(self) -> float:
        """IQR relative to the median: the spread figure the warning uses."""
        return self.iqr / self.median if self.median > 0 else math.inf


def summarize(values: Sequence[float]) -> Summary:
    """Summarise a non-empty sample."""
    q1, med, q3 = (quantile(values, q) for q in (0.25, 0.5, 0.75))
    return Summary(
        median=med,
        q1=q1,
        q3=q3,
        iqr=max(0.0, q3 - q1),
        mean=sum(values) / len(values),
        min=min(values),
        max=max(values),
    )
