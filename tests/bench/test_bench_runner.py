"""run_bench end to end on CPU: every option path, sane numbers, OOM, errors."""

from __future__ import annotations

import pytest
import torch
from benchkit import LAYERS, LayoutSensitive, OomAbove, quick, tiny_net, tiny_source
from torch import nn

from cnntool.bench import BenchError, run_bench, to_json
from cnntool.bench.config import CompileMode, DType
from cnntool.bench.results import BenchResult
from cnntool.bench.source import ModelSource

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _assert_sane(result: BenchResult, batches: tuple[int, ...]) -> None:
    assert [r.batch for r in result.rows] == list(batches)
    for row in result.rows:
        assert row.status == "ok", row.message
        thr, lat = row.throughput, row.latency
        assert thr.median_img_s > 0 and thr.iqr_img_s >= 0 and len(thr.samples_img_s) >= 5
        assert 0 < lat.p50_s <= lat.p90_s <= lat.p99_s
        assert len(lat.samples_s) == thr.iters
        assert row.first_call_s > 0 and row.warmup_s >= 0 and row.warmup_iters >= 1
        # Separate runs, same story. Best cases, since a busy machine only slows a run down.
        assert 0.2 < max(thr.samples_img_s) / (row.batch / lat.min_s) < 5
        assert row.tflops == pytest.approx(2 * (result.model["macs_per_image"]) * thr.median_img_s / 1e12)
        assert row.mfu is None  # no CPU peak in the table
        assert row.memory.rss_growth_bytes >= 0 and row.memory.method in ("vmhwm-reset", "ru_maxrss-delta")


def _mid_net() -> nn.Sequential:
    """Big enough (~0.3 ms) that timer resolution and Python overhead do not dominate."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


@pytest.mark.slow  # a real torch build, trace or timing
def test_fp32_sweep_is_sane_and_skips_the_check() -> None:
    result = run_bench(tiny_source(_mid_net), quick(batches=(1, 4), iters=20))
    _assert_sane(result, (1, 4))
    assert result.correctness.status == "skipped"
    assert result.precision["effective"] == "fp32" and not result.precision["matmul_allow_tf32"]
    env = result.environment
    assert env["torch"] == torch.__version__ and env["cpu_model"] and env["torch_threads"] >= 1


@pytest.mark.slow  # a real torch build, trace or timing
@pytest.mark.parametrize("dtype", [DType.bf16, DType.fp16])
def test_low_precision_is_checked_against_fp32(dtype: DType) -> None:
    result = run_bench(tiny_source(), quick(batches=(2,), dtype=dtype))
    _assert_sane(result, (2,))
    assert result.precision["autocast_dtype"] in ("bfloat16", "float16")
    assert result.correctness.status == "pass" and result.correctness.batch == 2
    assert 0 < result.correctness.error <= result.correctness.tolerance


def test_tf32_on_cpu_warns_and_runs_fp32() -> None:
    result = run_bench(tiny_source(), quick(dtype=DType.tf32))
    assert result.precision["effective"] == "fp32"
    assert any("tf32 has no meaning" in w for w in result.warnings)


@pytest.mark.slow  # a real torch build, trace or timing
def test_channels_last_compile_threads_and_budget() -> None:
    cfg = quick(batches=(1, 3), channels_last=True, compile_mode=CompileMode.default,
                compile_backend="eager", threads=1, iters=None, budget_s=0.05)
    before = torch.get_num_threads()
    result = run_bench(tiny_source(), cfg)
    _assert_sane(result, (1, 3))
    assert result.environment["torch_threads"] == 1 and torch.get_num_threads() == before
    assert result.correctness.status == "pass" and result.correctness.error < 1e-3
    assert all(r.throughput.iters >= 3 for r in result.rows)
    assert any("OMP_WAIT_POLICY" in w for w in result.warnings)


@pytest.mark.slow  # a real torch build, trace or timing
def test_channels_last_layout_bug_fails_the_check() -> None:
    result = run_bench(tiny_source(LayoutSensitive), quick(channels_last=True))
    assert result.correctness.status == "fail" and result.correctness.error > 0.01


def test_few_repeats_warn() -> None:
    result = run_bench(tiny_source(), quick(repeats=2))
    assert len(result.rows[0].throughput.samples_img_s) == 2
    assert any("only 2 repeat" in w for w in result.warnings)


@pytest.mark.parametrize(("exc", "msg"), [
    (torch.cuda.OutOfMemoryError, "CUDA out of memory. Tried to allocate 2.00 GiB"),
    (RuntimeError, "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB"),
    (MemoryError, ""),
])
@pytest.mark.slow  # a real torch build, trace or timing
def test_oom_is_a_row_and_the_sweep_goes_on(exc: type[BaseException], msg: str) -> None:
    source = tiny_source(lambda: OomAbove(8, exc, msg))
    result = run_bench(source, quick(batches=(32, 1, 8, 128), dtype=DType.bf16))
    status = {r.batch: r.status for r in result.rows}
    assert status == {32: "OOM", 1: "ok", 8: "ok", 128: "skipped"}
    assert exc.__name__ in result.rows[0].message
    assert result.correctness.status == "pass"  # checked at the smallest batch


def test_other_forward_errors_are_bench_errors() -> None:
    source = ModelSource("bad", tiny_net, (3, 16, 16, 1))  # wrong rank for Conv2d
    with pytest.raises(BenchError, match="forward failed at batch 1"):
        run_bench(source, quick())


@pytest.mark.parametrize(("device", "match"), [
    ("tpu", "unknown device"),
    ("cuda:x", "unknown device"),
    ("cuda:99", "not available|does not exist"),
])
def test_missing_devices_are_clear_errors(device: str, match: str) -> None:
    with pytest.raises(BenchError, match=match):
        run_bench(tiny_source(), quick(device=device))


def test_invalid_options_are_rejected() -> None:
    for cfg in (quick(cuda_graphs=True), quick(iters=3, budget_s=1.0), quick(repeats=0),
                quick(batches=(0,)), quick(threads=0), quick(tolerance=0.0)):
        with pytest.raises(BenchError):
            run_bench(tiny_source(), cfg)


@pytest.mark.slow  # a real torch build, trace or timing
def test_per_layer_roofline_rows() -> None:
    result = run_bench(tiny_source(), quick(batches=(1, 4), per_layer=True))
    prof = result.per_layer
    assert prof is not None and prof.batch == 4 and prof.clock == "cpu"
    names = [r.name for r in prof.layers]
    assert names == [spec.name for spec in LAYERS]
    conv = prof.layers[0]
    assert conv.time_s > 0 and conv.calls == 1 and conv.macs == LAYERS[0].macs * 4
    # bytes: input + output activations (fp32) + weights.
    assert conv.bytes == 4 * (4 * 3 * 16 * 16 + 4 * 8 * 16 * 16) + 4 * LAYERS[0].params
    assert conv.intensity == pytest.approx(conv.flops / conv.bytes) and conv.bound == "n/a"
    assert prof.total_s >= sum(r.time_s for r in prof.layers)


def test_per_layer_without_analytic_rows_uses_leaves() -> None:
    source = ModelSource("plain", tiny_net, (3, 16, 16))
    prof = run_bench(source, quick(per_layer=True)).per_layer
    assert [r.kind for r in prof.layers] == ["Conv2d", "ReLU", "AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert all(r.macs is None and r.bound == "n/a" for r in prof.layers)


@pytest.mark.slow  # a real torch build, trace or timing
def test_json_has_the_documented_fields() -> None:
    data = to_json(run_bench(tiny_source(), quick(dtype=DType.bf16, per_layer=True)))
    assert data["schema"] == "cnntool.bench/1"
    assert set(data) == {"schema", "model", "config", "precision", "environment", "rows",
                         "correctness", "per_layer", "warnings"}
    row = data["rows"][0]
    assert {"batch", "status", "message", "first_call_s", "warmup_s", "warmup_iters", "throughput",
            "latency", "memory", "tflops", "mfu", "warnings"} <= set(row)
    assert {"iters", "repeat_s", "samples_img_s", "median_img_s", "q1_img_s", "q3_img_s",
            "iqr_img_s", "iqr_rel"} <= set(row["throughput"])
    assert {"samples_s", "p50_s", "p90_s", "p99_s", "iqr_s"} <= set(row["latency"])
    assert len(row["latency"]["samples_s"]) == row["throughput"]["iters"]
    assert data["config"]["dtype"] == "bf16" and data["precision"]["autocast_dtype"] == "bfloat16"
    assert {"torch", "cuda_runtime", "cudnn", "cpu_model", "torch_threads", "gpu_name",
            "gpu_before", "gpu_after", "peak", "load_average_before",
            "load_average_after"} <= set(data["environment"])
    assert {"status", "metric", "error", "tolerance"} <= set(data["correctness"])
    assert {"name", "time_s", "macs", "bytes", "intensity", "bound"} <= set(data["per_layer"]["layers"][0])


@cuda
@pytest.mark.parametrize("kw", [
    {"dtype": DType.fp32}, {"dtype": DType.tf32}, {"dtype": DType.bf16, "channels_last": True},
    {"dtype": DType.fp16, "cuda_graphs": True},
])
def test_cuda_paths(kw: dict) -> None:
    result = run_bench(tiny_source(_mid_net), quick(device="cuda", batches=(1, 8), per_layer=True, **kw))
    _cuda_sane(result)


def _cuda_sane(result: BenchResult) -> None:
    for row in result.rows:
        assert row.status == "ok" and row.latency.p50_s <= row.latency.p99_s
        assert row.memory.peak_allocated_bytes > 0
    assert result.correctness.status in ("pass", "skipped")
    assert result.environment["gpu_name"] and result.per_layer.clock == "device"


def test_input_override_is_benchmarked_and_flagged() -> None:
    result = run_bench(tiny_source(), quick(input_shape=(3, 8, 8)))
    assert result.model["input_shape"] == [3, 8, 8] and result.rows[0].status == "ok"
    assert any("MACs were analysed for input (3, 16, 16)" in w for w in result.warnings)
