"""`bench --train` on CPU: the training step the runner times, its memory, and its glue."""

from __future__ import annotations

import contextlib

import pytest
import torch
from benchkit import CONV_MACS, quick, tiny_net, tiny_source

import cnntool
from cnntool.analysis.training import Optimizer
from cnntool.bench import BenchError, run_bench
from cnntool.bench import runner as runner_mod
from cnntool.bench.config import CompileMode, DType
from cnntool.bench.results import Memory
from cnntool.bench.trainstep import allocator_peak, make_optimizer, train_step
from cnntool.cli.bench import load_source

TRAIN_MACS = 2 * CONV_MACS + 3 * 80  # first conv: weight gradient only; linear: input and weights


def _train_source(predict=lambda batch: 1000 * batch):
    src = tiny_source()
    return type(src)(**{**src.__dict__, "train_macs_per_image": TRAIN_MACS, "predict_train_bytes": predict})


@pytest.mark.parametrize("dtype", [DType.fp32, DType.bf16, DType.fp16])  # fp16: the GradScaler path
def test_training_step_runs_and_reports_training_flops(dtype: DType) -> None:
    result = run_bench(_train_source(), quick(batches=(2,), train=True, dtype=dtype, optimizer=Optimizer.adam))
    row = result.rows[0]
    assert row.status == "ok", row.message
    assert row.tflops == pytest.approx(2 * TRAIN_MACS * row.throughput.median_img_s / 1e12)
    assert row.predicted_bytes == 2000
    assert row.memory.method.startswith("torch.profiler") and row.memory.peak_allocated_bytes > 0
    assert result.correctness.status == "skipped" and "training step" in result.correctness.reason
    assert result.config["train"] and result.config["optimizer"] == "adam"


def test_channels_last_and_compile_in_training() -> None:
    cfg = quick(batches=(1, 3), train=True, channels_last=True, compile_mode=CompileMode.default,
                compile_backend="eager")
    result = run_bench(_train_source(), cfg)
    assert [r.status for r in result.rows] == ["ok", "ok"]


def test_the_step_updates_the_weights() -> None:
    net = tiny_net().train()
    before = [p.detach().clone() for p in net.parameters()]
    step = train_step(net, torch.randn(2, 3, 16, 16), make_optimizer(net, "momentum"), contextlib.nullcontext)
    step()
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_device_allocator_statistics_are_used_where_the_device_has_them(monkeypatch) -> None:
    # the CUDA branch: CudaOps.memory_end reports max_memory_allocated; the runner keeps it and
    # does not run the CPU allocator-event step
    cuda_like = Memory("torch.cuda.max_memory_allocated/reserved", 12345, 23456, 100)
    monkeypatch.setattr(runner_mod.CpuOps, "memory_end", lambda self: cuda_like)
    result = run_bench(_train_source(), quick(batches=(2,), train=True))
    assert result.rows[0].memory == cuda_like


@pytest.mark.parametrize("extra", [dict(cuda_graphs=True, device="cuda"), dict(per_layer=True)])
def test_train_refuses_forward_only_options(extra) -> None:
    with pytest.raises(BenchError, match="--train does not combine"):
        run_bench(_train_source(), quick(train=True, **extra))


def test_allocator_peak_sees_a_temporary() -> None:
    def work():
        a = torch.empty(1 << 20, dtype=torch.uint8)  # 1 MiB alive together with b
        b = torch.empty(1 << 19, dtype=torch.uint8)
        del a, b
    assert allocator_peak(work) >= 3 << 19


def test_glue_predicts_the_training_peak_and_macs() -> None:
    from cnntool.analysis.training import Precision, training
    cfg = quick(batches=(4,), train=True, optimizer=Optimizer.momentum, dtype=DType.bf16)
    src = load_source("resnet20", {}, None, cfg)
    report = cnntool.analyze("resnet20")
    assert src.train_macs_per_image == report.totals.macs + report.totals.backward_macs
    model = cnntool.load("resnet20")
    assert src.predict_train_bytes(4) == training(model, 4, Optimizer.momentum, Precision.bf16, "cpu").peak_bytes


def test_resnet20_measured_peak_is_within_10_percent_of_the_prediction() -> None:
    cfg = quick(batches=(4,), train=True, optimizer=Optimizer.adam)
    row = run_bench(load_source("resnet20", {}, None, cfg), cfg).rows[0]
    assert abs(row.predicted_bytes - row.memory.peak_allocated_bytes) <= 0.1 * row.memory.peak_allocated_bytes


def test_the_device_picks_the_memory_statistics_and_the_prediction_rules() -> None:
    # no GPU here: what runs on one is chosen by the device alone, and the choice is what is tested
    from cnntool.analysis.training import training
    from cnntool.bench.ops import CpuOps, CudaOps, device_ops
    assert type(device_ops(torch.device("cuda", 1))) is CudaOps  # max_memory_allocated on cuda:1
    assert type(device_ops(torch.device("cpu"))) is CpuOps  # the runner's allocator-event step
    model = cnntool.load("resnet20")
    for device, rules in (("cuda:1", "cuda"), ("cpu", "cpu")):
        cfg = quick(batches=(4,), train=True, optimizer=Optimizer.adam, device=device)
        assert load_source("resnet20", {}, None, cfg).predict_train_bytes(4) == \
            training(model, 4, Optimizer.adam, device=rules).peak_bytes
    cpu, cuda = (training(model, 4, Optimizer.adam, device=d) for d in ("cpu", "cuda"))
    assert cpu.terms["backward_workspace"] > 0 == cuda.terms["backward_workspace"]  # oneDNN only on CPU
