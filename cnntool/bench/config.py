"""Benchmark options as plain data, validated before any torch work starts."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from enum import Enum

from ..analysis.training import Optimizer
from .errors import BenchError

MIN_REPEATS = 5
DEFAULT_BUDGET_S = 6.0
IQR_WARN_REL = 0.10
# Upper bounds of the options, so that a typo cannot ask for a run of days
MAX_ITERS = 1_000_000  # batches per timed run
MAX_REPEATS = 1_000
MAX_SECONDS = 3_600.0  # --budget and --warmup-time
MAX_WARMUP = 10_000  # = measure.MAX_WARMUP_ITERS, where warm-up stops anyway
MAX_BATCH = 2**16
MAX_THREADS = 1_024  # and never more than the CPUs this process may use


class DType(str, Enum):
    """Numeric precision of the benchmarked forward pass."""

    fp32 = "fp32"
    tf32 = "tf32"
    fp16 = "fp16"
    bf16 = "bf16"


class CompileMode(str, Enum):
    """torch.compile modes (inductor)."""

    default = "default"
    reduce_overhead = "reduce-overhead"
    max_autotune = "max-autotune"


@dataclass(frozen=True)
class BenchConfig:
    """Everything that changes what is measured; recorded verbatim in the JSON."""

    device: str = "cpu"
    batches: tuple[int, ...] = (1,)
    input_shape: tuple[int, ...] | None = None
    dtype: DType = DType.fp32
    channels_last: bool = False
    compile_mode: CompileMode | None = None
    compile_backend: str = "inductor"
    cuda_graphs: bool = False
    threads: int | None = None
    iters: int | None = None
    budget_s: float | None = None
    repeats: int = MIN_REPEATS
    warmup_iters: int = 3
    warmup_s: float = 1.0
    per_layer: bool = False
    check: bool = True
    tolerance: float | None = None
    seed: int = 0
    train: bool = False  # time a training step (forward, backward, optimizer step) instead
    optimizer: Optimizer = Optimizer.sgd


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """Parse '1,8,32' into positive ints; a BenchError names the bad item."""
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or any(not re.fullmatch(r"\d+", s) for s in items):
        raise BenchError(f"bad {what} {text!r}: expected comma-separated positive integers")
    if any(len(s) > 12 for s in items):
        raise BenchError(f"bad {what} {text!r}: a value is over 12 digits")
    values = tuple(int(s) for s in items)
    if any(v <= 0 for v in values):
        raise BenchError(f"bad {what} {text!r}: every value must be > 0")
    return values


def parse_batches(text: str) -> tuple[int, ...]:
    """Parse a batch size or sweep like '1,8,32,128'."""
    values = parse_int_list(text, "batch list")
    if max(values) > MAX_BATCH:
        raise BenchError(f"bad batch list {text!r}: the largest batch allowed is {MAX_BATCH:,}")
    if len(set(values)) != len(values):
        raise BenchError(f"bad batch list {text!r}: duplicate batch size")
    return values


def validate(config: BenchConfig) -> list[str]:
    """Reject impossible combinations (BenchError); return warnings for dubious ones."""
    warnings: list[str] = []
    _bounds(config)
    if not config.batches or any(b <= 0 for b in config.batches):
        raise BenchError("batch sizes must be positive")
    if config.input_shape is not None and any(d <= 0 for d in config.input_shape):
        raise BenchError(f"bad input shape {config.input_shape}: every dimension must be > 0")
    if config.repeats < 1:
        raise BenchError("--repeats must be at least 1")
    if config.repeats < MIN_REPEATS:
        warnings.append(
            f"only {config.repeats} repeat(s): median/IQR are unreliable below {MIN_REPEATS}"
        )
    if config.iters is not None and config.budget_s is not None:
        raise BenchError("give --iters or --budget, not both")
    if config.iters is not None and config.iters < 1:
        raise BenchError("--iters must be at least 1")
    if config.budget_s is not None and config.budget_s <= 0:
        raise BenchError("--budget must be > 0 seconds")
    if config.tolerance is not None and not config.tolerance > 0:
        raise BenchError("--tolerance must be > 0")
    if config.threads is not None and config.threads < 1:
        raise BenchError("--threads must be at least 1")
    if config.warmup_iters < 0 or config.warmup_s < 0:
        raise BenchError("warm-up iterations and seconds must be >= 0")
    if config.tolerance is not None and not math.isfinite(config.tolerance):
        raise BenchError("--tolerance must be a finite number")
    if config.cuda_graphs and not config.device.strip().lower().startswith("cuda"):
        raise BenchError("--cuda-graphs needs a CUDA device")
    if config.train and (config.cuda_graphs or config.per_layer):
        raise BenchError(f"--train does not combine with {'--cuda-graphs' if config.cuda_graphs else '--per-layer'}"
                         " (both capture or profile the forward alone)")
    if config.cuda_graphs and config.compile_mode is CompileMode.reduce_overhead:
        raise BenchError(
            "--cuda-graphs with --compile reduce-overhead: that mode already uses CUDA graphs"
        )
    return warnings


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not all the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _bounds(config: BenchConfig) -> None:
    """Each count and duration within its stated maximum (and durations finite: --budget inf)."""
    counts = (("--iters", config.iters, MAX_ITERS), ("--repeats", config.repeats, MAX_REPEATS),
              ("--warmup", config.warmup_iters, MAX_WARMUP),
              ("--threads", config.threads, min(MAX_THREADS, max(usable_cpus(), 1))))
    for option, value, limit in counts:
        if value is not None and value > limit:
            raise BenchError(f"{option} {value:,} is over the limit of {limit:,}"
                             + (" (the CPUs this process may use)" if option == "--threads" else ""))
    for option, value in (("--budget", config.budget_s), ("--warmup-time", config.warmup_s)):
        if value is not None and not (math.isfinite(value) and value <= MAX_SECONDS):
            raise BenchError(f"{option} {value} is not a number of seconds up to {MAX_SECONDS:,.0f}")
