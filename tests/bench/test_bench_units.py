"""Peaks table, roofline, precision flags, correctness, environment, device ops."""

from __future__ import annotations

import copy
import subprocess

import pytest
import torch

from cnntool.bench import env as envmod
from cnntool.bench import fmt
from cnntool.bench.config import DType
from cnntool.bench.correctness import TOLERANCES, check, flatten, reference_output, relative_error
from cnntool.bench.ops import CudaEventTimer, CudaOps, is_oom
from cnntool.torch.threads import num_threads
from cnntool.bench.peaks import PEAKS, SOURCE, find_peak
from cnntool.bench.precision import precision_mode
from cnntool.bench.roofline import achieved_tflops, bound, intensity, utilisation

from benchkit import tiny_net


@pytest.mark.parametrize(("name", "entry", "bw"), [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 3.35),
    ("NVIDIA H100 PCIe", "H100 PCIe", 2.0),
    ("NVIDIA H200", "H200", 4.8),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB", 2.039),
    ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB", 1.555),
])
def test_peak_lookup(name: str, entry: str, bw: float) -> None:
    peak = find_peak(name)
    assert peak is not None and peak.name == entry and peak.bandwidth_tbs == bw
    assert peak.tflops("bf16") == peak.tflops("fp16") >= peak.tflops("tf32") > peak.tflops("fp32")


def test_unknown_gpus_have_no_peak() -> None:
    assert find_peak("NVIDIA GeForce RTX 4090") is None
    assert find_peak("NVIDIA H100 NVL") is None
    assert find_peak(None) is None
    assert "data sheet" in SOURCE and len(PEAKS) >= 5


def test_mfu_and_impossible_figures() -> None:
    h100 = find_peak("NVIDIA H100 80GB HBM3")
    tflops = achieved_tflops(4_100_000_000, 10_000.0)  # 2 x 4.1 GMAC x 10k img/s
    assert tflops == pytest.approx(82.0)
    mfu, notes = utilisation(tflops, h100, "bf16")
    assert mfu == pytest.approx(82 / 989) and notes == []
    mfu, notes = utilisation(tflops, h100, "fp32")
    assert mfu > 1 and any("impossible" in n for n in notes) and any("TF32" in n for n in notes)
    assert utilisation(tflops, None, "fp32") == (None, [])
    assert achieved_tflops(None, 1.0) is None


def test_roofline_classification() -> None:
    ridge = find_peak("NVIDIA H100 80GB HBM3").ridge_flop_per_byte("bf16")
    assert ridge == pytest.approx(989 / 3.35)
    assert bound(intensity(1000, 10), ridge) == "memory"
    assert bound(intensity(10**6, 10), ridge) == "compute"
    assert bound(intensity(10**6, 10), None) == "n/a" and intensity(None, 10) is None


def _flags() -> tuple:
    b = torch.backends
    return (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, torch.get_float32_matmul_precision(),
            b.cudnn.benchmark)


def test_tf32_flags_are_set_and_restored() -> None:
    before = _flags()
    with precision_mode(DType.tf32, "cuda") as flags:
        assert _flags()[:3] == (True, True, "high") and flags.cudnn_benchmark
        assert flags.effective == "tf32"
    assert _flags() == before
    with precision_mode(DType.fp32, "cuda") as flags:
        assert _flags()[:3] == (False, False, "highest")
        assert (flags.matmul_allow_tf32, flags.cudnn_allow_tf32) == (False, False)
    assert _flags() == before
    with pytest.raises(RuntimeError), precision_mode(DType.tf32, "cuda"):
        raise RuntimeError("boom")
    assert _flags() == before


def test_tf32_on_cpu_runs_fp32_with_a_warning() -> None:
    with precision_mode(DType.tf32, "cpu") as flags:
        assert flags.effective == "fp32" and not flags.matmul_allow_tf32
        assert any("no meaning" in n for n in flags.notes)
    with precision_mode(DType.bf16, "cpu") as flags:
        assert flags.autocast_dtype == "bfloat16"


def test_correctness_detects_a_perturbed_model() -> None:
    model = tiny_net().eval()
    wrong = copy.deepcopy(model)
    with torch.no_grad():
        wrong[0].weight.mul_(1.05)
    x = torch.randn(2, 3, 16, 16)
    ref = reference_output(model, x)
    with torch.inference_mode():
        good = check(ref, flatten(model(x)), DType.fp32, 2)
        bad = check(ref, flatten(wrong(x)), DType.fp32, 2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = check(ref, flatten(model(x)), DType.bf16, 2)
    assert good.status == "pass" and good.error == 0.0
    assert bad.status == "fail" and bad.error > TOLERANCES[DType.fp32]
    assert low.status == "pass" and 0 < low.error <= TOLERANCES[DType.bf16]
    assert low.tolerance == TOLERANCES[DType.bf16]


def test_correctness_rejects_nan_and_shape_mismatch() -> None:
    ref = [torch.ones(2, 3)]
    assert relative_error(ref, [torch.full((2, 3), float("nan"))]) == float("inf")
    assert relative_error(ref, [torch.ones(3, 2)]) == float("inf")
    assert relative_error(ref, []) == float("inf")
    assert flatten({"b": torch.zeros(1), "a": (torch.ones(2),)})[0].shape == (2,)


def test_oom_classification() -> None:
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_cuda_ops_name_their_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA path never falls back to device 0 (checked on CPU with fakes)."""
    seen: list = []
    dev = torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: seen.append(("sync", d)))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d=None: seen.append(("reset", d)))
    for fn in ("memory_allocated", "max_memory_allocated", "max_memory_reserved"):
        monkeypatch.setattr(torch.cuda, fn, lambda d=None, fn=fn: seen.append((fn, d)) or 1024)
    ops = CudaOps(dev)
    ops.synchronize()
    ops.memory_begin()
    mem = ops.memory_end()
    assert all(d == dev for _, d in seen) and len(seen) == 5
    assert mem.peak_allocated_bytes == 1024 and mem.rss_growth_bytes is None


def test_cuda_event_timer_uses_the_device_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeEvent:
        def __init__(self, enable_timing: bool) -> None:
            assert enable_timing
            self.stream = None

        def record(self, stream) -> None:
            self.stream = stream

        def synchronize(self) -> None: ...

        def elapsed_time(self, end) -> float:
            return 12.5  # milliseconds, as CUDA events report

    streams: list = []
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda d=None: streams.append(d) or f"s{d}")
    timer = CudaEventTimer(torch.device("cuda", 3))
    timer.start()
    assert timer.stop() == pytest.approx(0.0125)
    assert streams == [torch.device("cuda", 3)] * 2


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with num_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_nvidia_smi_snapshot_and_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    out = "NVIDIA H100 80GB HBM3, 1980, 2619, 1980, 650.5, 700.00, 60, P0, 0x0000000000000004\n"
    calls: list = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(envmod.subprocess, "run", fake_run)
    snap = envmod.gpu_snapshot("GPU-1234")
    assert snap["clocks.sm"] == 1980.0 and snap["temperature.gpu"] == 60.0 and snap["pstate"] == "P0"
    assert "--id=GPU-1234" in calls[0]
    before = dict(snap, **{"clocks_throttle_reasons.active": 0, "temperature.gpu": 40.0})
    after = dict(snap, **{"clocks.sm": 1500.0})
    warnings = envmod.throttle_warnings(before, after)
    assert len(warnings) == 3 and "sw_power_cap" in warnings[2]
    assert envmod.throttle_warnings(None, after) == []
    assert envmod.gpu_snapshot(None) is None


def test_nvidia_smi_absent_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(cmd, **kw):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(envmod.subprocess, "run", missing)
    assert envmod.gpu_snapshot("0") is None
    assert envmod.cpu_model()


def test_human_formatting() -> None:
    assert fmt.si(1.08e9) == "1.08 G" and fmt.si(None) == "-"
    assert fmt.rate(312.44) == "312.4 img/s"
    assert fmt.ms(0.0123) == "12.3 ms" and fmt.secs(2.5) == "2.50 s"
    assert fmt.nbytes(3 << 30) == "3.00 GiB" and fmt.pct(0.123) == "12.3%"


def test_busy_machine_warning() -> None:
    assert envmod.busy_warning([3.5, 2.0, 1.0], 2) and "busy" in envmod.busy_warning([3.5, 2, 1], 2)[0]
    assert envmod.busy_warning([0.2, 0.1, 0.1], 2) == []
    assert envmod.busy_warning(None, 2) == []
    assert envmod.load_average() is None or len(envmod.load_average()) == 3


def test_three_significant_figures_keep_trailing_zeros() -> None:
    cases = {6.031: "6.03", 11: "11.0", 19.06: "19.1", 0.05: "0.0500", 0.05371: "0.0537",
             123.4: "123", 1234.5: "1234", 9.999: "10.0", 0.09999: "0.100", 0: "0.00"}
    assert {v: fmt.sig(v) for v in cases} == cases
    assert fmt.sig(None) == fmt.sig(float("nan")) == "-"
    assert fmt.ms(0.011) == "11.0 ms"


def test_cudnn_version_code() -> None:
    assert fmt.cudnn_version(92400) == "9.24.0" and fmt.cudnn_version(90100) == "9.1.0"
    assert fmt.cudnn_version(8902) == "8.9.2" and fmt.cudnn_version(None) is None
