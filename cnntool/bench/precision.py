"""Explicit precision: TF32 flags, cudnn.benchmark and autocast, restored afterwards.

On Ampere/Hopper cuDNN runs "fp32" convolutions in TF32 unless told otherwise,
so fp32 here means strict IEEE fp32 (TF32 off, matmul precision 'highest').
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from .config import DType

AUTOCAST = {DType.fp16: torch.float16, DType.bf16: torch.bfloat16}


@dataclass(frozen=True)
class PrecisionFlags:
    """The effective global settings during the run (printed and stored in JSON)."""

    requested: str
    effective: str
    autocast_dtype: str | None
    matmul_allow_tf32: bool
    cudnn_allow_tf32: bool
    float32_matmul_precision: str
    cudnn_benchmark: bool
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def effective_dtype(dtype: DType, device_type: str) -> tuple[DType, tuple[str, ...]]:
    """TF32 exists only on CUDA; elsewhere it runs as fp32 with a warning."""
    if dtype is DType.tf32 and device_type != "cuda":
        return DType.fp32, (f"tf32 has no meaning on {device_type}: running fp32",)
    return dtype, ()


def _snapshot() -> tuple[bool, bool, str, bool]:
    b = torch.backends
    return (
        b.cuda.matmul.allow_tf32,
        b.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
        b.cudnn.benchmark,
    )


def _apply(tf32: bool, precision: str, benchmark: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision(precision)
    # set_float32_matmul_precision rewrites the matmul flag; set it again last.
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = benchmark


@contextlib.contextmanager
def precision_mode(dtype: DType, device_type: str) -> Iterator[PrecisionFlags]:
    """Set TF32/cudnn.benchmark for `dtype` on `device_type`; restore on exit."""
    saved = _snapshot()
    eff, notes = effective_dtype(dtype, device_type)
    tf32 = eff is DType.tf32
    benchmark = device_type == "cuda" or saved[3]
    try:
        _apply(tf32, "high" if tf32 else "highest", benchmark)
        auto = AUTOCAST.get(eff)
        yield PrecisionFlags(
            requested=dtype.value,
            effective=eff.value,
            autocast_dtype=str(auto).removeprefix("torch.") if auto is not None else None,
            matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
            float32_matmul_precision=torch.get_float32_matmul_precision(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            notes=notes,
        )
    finally:
        matmul, cudnn, prec, bench = saved
        torch.set_float32_matmul_precision(prec)
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.backends.cudnn.benchmark = bench


def autocast(dtype: DType, device_type: str, cache: bool = True) -> contextlib.AbstractContextManager[Any]:
    """torch.autocast for fp16/bf16, a no-op otherwise (cache off for CUDA graphs)."""
    auto = AUTOCAST.get(dtype)
    if auto is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=auto, cache_enabled=cache)
