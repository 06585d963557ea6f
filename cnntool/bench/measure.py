"""Timing loops shared by every device.

They see only callables (step, sync, clock, latency timer), so the CPU tests
exercise exactly the logic the CUDA path runs; only the timer differs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .config import DEFAULT_BUDGET_S
from .stats import quantile

Step = Callable[[], object]
Sync = Callable[[], None]
Clock = Callable[[], float]

MIN_ITERS = 3
MAX_ITERS = 100_000
MAX_WARMUP_ITERS = 10_000


class LatencyTimer(Protocol):
    """Times one batch: start() before the forward, stop() after, in seconds."""

    def start(self) -> None: ...

    def stop(self) -> float: ...


class ClockTimer:
    """Host-clock latency timer; `sync` waits for the device so the span is complete."""

    def __init__(self, sync: Sync, clock: Clock = time.perf_counter) -> None:
        self._sync, self._clock, self._t0 = sync, clock, 0.0

    def start(self) -> None:
        self._sync()
        self._t0 = self._clock()

    def stop(self) -> float:
        self._sync()
        return self._clock() - self._t0


@dataclass(frozen=True)
class Warmup:
    """First-call cost (compile, autotune, lazy init) and the warm-up after it."""

    first_call_s: float
    warmup_s: float
    warmup_iters: int
    per_iter_s: float


def first_call(build: Callable[[], Step], sync: Sync, clock: Clock) -> tuple[Step, float]:
    """Build the step (e.g. capture a CUDA graph) and run it once; time both."""
    sync()
    t0 = clock()
    step = build()
    step()
    sync()
    return step, clock() - t0


def warm_up(step: Step, sync: Sync, min_iters: int, min_s: float, clock: Clock) -> tuple[int, float, float]:
    """Run until both minima are met; return (iters, seconds, median seconds/iter).

    Each iteration is synchronised: warm-up is not measured, and the per-iteration
    median sizes the timed runs when no --iters is given.
    """
    times: list[float] = []
    t_start = clock()
    while len(times) < MAX_WARMUP_ITERS and (len(times) < min_iters or clock() - t_start < min_s):
        t0 = clock()
        step()
        sync()
        times.append(clock() - t0)
    total = clock() - t_start
    return len(times), total, (quantile(times, 0.5) if times else math.nan)


def choose_iters(per_iter_s: float, repeats: int, iters: int | None, budget_s: float | None) -> tuple[int, str | None]:
    """Batches per timed run: --iters as given, else fit repeats + 1 latency run in the budget."""
    if iters is not None:
        return iters, None
    budget = DEFAULT_BUDGET_S if budget_s is None else budget_s
    if not per_iter_s > 0:
        return MIN_ITERS, None
    fit = math.floor(budget / ((repeats + 1) * per_iter_s))
    if fit < MIN_ITERS:
        note = (
            f"budget {budget:g} s fits only {fit} batch(es) per run; "
            f"ran the minimum of {MIN_ITERS}"
        )
        return MIN_ITERS, note
    return min(fit, MAX_ITERS), None


def time_throughput(
    step: Step,
    iters: int,
    repeats: int,
    sync: Sync,
    clock: Clock,
    after_repeat: Callable[[], None] | None = None,
) -> tuple[float, ...]:
    """Wall seconds of each repeat: `iters` steps back to back, one sync at the end."""
    out: list[float] = []
    for _ in range(repeats):
        sync()
        t0 = clock()
        for _ in range(iters):
            step()
        sync()
        out.append(clock() - t0)
        if after_repeat is not None:
            after_repeat()
    return tuple(out)


def time_latency(step: Step, iters: int, timer: LatencyTimer) -> tuple[float, ...]:
    """Per-batch latency: each batch is timed alone and completed before the next."""
    out: list[float] = []
    for _ in range(iters):
        timer.start()
        step()
        out.append(timer.stop())
    return tuple(out)
