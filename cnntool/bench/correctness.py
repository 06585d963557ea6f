"""Correctness of the benchmarked configuration against fp32 eager.

Metric: max |candidate - reference| / max |reference| over all output tensors,
on the same input and weights. Tolerances per effective dtype are in
TOLERANCES (fp32 covers channels_last / compiled / graph-captured fp32).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from .config import DType
from .precision import precision_mode
from .results import Correctness

TOLERANCES: Mapping[DType, float] = {
    DType.fp32: 1e-3,
    DType.tf32: 2e-2,
    DType.fp16: 2e-2,
    DType.bf16: 5e-2,
}


def flatten(output: Any) -> list[torch.Tensor]:
    """All tensors of a (possibly nested) model output, as fp32 CPU copies."""
    if isinstance(output, torch.Tensor):
        return [output.detach().float().cpu().clone()]
    if isinstance(output, Mapping):
        return [t for key in sorted(output) for t in flatten(output[key])]
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in flatten(item)]
    return []


def reference_output(module: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """fp32 eager output with TF32 off: the ground truth for the check."""
    with precision_mode(DType.fp32, x.device.type), torch.inference_mode():
        return flatten(module(x))


def relative_error(reference: list[torch.Tensor], candidate: list[torch.Tensor]) -> float:
    """max|c - r| / max|r|; inf when shapes differ or the candidate is not finite."""
    if len(reference) != len(candidate) or not reference:
        return math.inf
    num, den = 0.0, 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        if ref.shape != cand.shape or not bool(torch.isfinite(cand).all()):
            return math.inf
        if ref.numel():
            num = max(num, float((cand - ref).abs().max()))
            den = max(den, float(ref.abs().max()))
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def check(
    reference: list[torch.Tensor],
    candidate: list[torch.Tensor],
    dtype: DType,
    batch: int,
    tolerance: float | None = None,
) -> Correctness:
    """Pass/fail with the measured error and the tolerance used."""
    tol = TOLERANCES[dtype] if tolerance is None else tolerance
    err = relative_error(reference, candidate)
    return Correctness(
        status="pass" if err <= tol else "fail",
        reason=f"{dtype.value} vs fp32 eager",
        batch=batch,
        error=err,
        tolerance=tol,
    )


def skipped(reason: str) -> Correctness:
    """A check that was not run, with the reason."""
    return Correctness(status="skipped", reason=reason)
