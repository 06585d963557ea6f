"""Statistics and the device-independent timing loops (fake clocks, no sleeping)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnntool.bench.measure import (
    MIN_ITERS, ClockTimer, choose_iters, first_call, time_latency, time_throughput, warm_up,
)
from cnntool.bench.results import Latency, Throughput
from cnntool.bench.stats import quantile, summarize

samples = st.lists(st.floats(1e-6, 1e3, allow_nan=False), min_size=1, max_size=200)


@given(samples)
def test_percentiles_are_ordered_and_match_numpy(xs: list[float]) -> None:
    lat = Latency.from_samples(xs)
    assert lat.min_s <= lat.p50_s <= lat.p90_s <= lat.p99_s <= lat.max_s
    assert lat.iqr_s >= 0
    for q in (0.25, 0.5, 0.9, 0.99):
        assert quantile(xs, q) == pytest.approx(float(np.quantile(xs, q)), rel=1e-9, abs=1e-12)


@given(samples)
def test_throughput_summary(xs: list[float]) -> None:
    thr = Throughput.from_times(batch=4, iters=10, repeat_s=xs)
    assert thr.iqr_img_s >= 0 and thr.q1_img_s <= thr.median_img_s <= thr.q3_img_s
    assert thr.samples_img_s == tuple(40 / t for t in xs)


def test_summary_of_constant_sample_has_zero_spread() -> None:
    s = summarize([2.0] * 7)
    assert (s.median, s.iqr, s.iqr_rel) == (2.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        quantile([], 0.5)


class FakeDevice:
    """A clock that advances only when a step runs, and counts synchronisations."""

    def __init__(self, step_s: float = 0.01) -> None:
        self.t, self.step_s, self.syncs, self.steps = 0.0, step_s, 0, 0

    def clock(self) -> float:
        return self.t

    def sync(self) -> None:
        self.syncs += 1

    def step(self) -> None:
        self.steps += 1
        self.t += self.step_s


def test_throughput_syncs_once_per_repeat_not_per_batch() -> None:
    dev = FakeDevice()
    marks: list[int] = []
    times = time_throughput(dev.step, 50, 5, dev.sync, dev.clock, lambda: marks.append(dev.steps))
    assert times == pytest.approx([0.5] * 5)
    assert dev.syncs == 2 * 5 and dev.steps == 250
    assert marks == [50, 100, 150, 200, 250]  # progress only between repeats


def test_latency_times_each_batch_with_the_timer() -> None:
    dev = FakeDevice(0.002)
    lat = time_latency(dev.step, 20, ClockTimer(dev.sync, dev.clock))
    assert lat == pytest.approx([0.002] * 20)
    assert dev.syncs == 40  # before and after every batch


def test_first_call_and_warm_up_are_timed_apart() -> None:
    dev = FakeDevice(0.01)

    def build():
        dev.t += 1.0  # e.g. compilation / graph capture
        return dev.step

    step, first_s = first_call(build, dev.sync, dev.clock)
    assert first_s == pytest.approx(1.01)
    n, total, per = warm_up(step, dev.sync, 3, 0.05, dev.clock)
    assert n == 5 and total == pytest.approx(0.05) and per == pytest.approx(0.01)
    assert warm_up(step, dev.sync, 0, 0.0, dev.clock)[0] == 0


def test_choose_iters_respects_iters_and_budget() -> None:
    assert choose_iters(0.01, 5, 7, None) == (7, None)
    assert choose_iters(0.01, 5, None, 6.0) == (100, None)  # 6 s / (6 runs x 10 ms)
    iters, note = choose_iters(1.0, 5, None, 0.1)
    assert iters == MIN_ITERS and note and "budget" in note
    assert choose_iters(math.nan, 5, None, None) == (MIN_ITERS, None)


def test_warm_up_stops_at_the_iteration_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnntool.bench.measure as measure

    monkeypatch.setattr(measure, "MAX_WARMUP_ITERS", 20)
    dev = FakeDevice(0.001)
    n, total, _ = warm_up(dev.step, dev.sync, 3, 60.0, dev.clock)  # 60 s asked, 20 x 1 ms run
    assert n == 20 and total == pytest.approx(0.02)
    assert warm_up(dev.step, dev.sync, 50, 0.0, dev.clock)[0] == 20
