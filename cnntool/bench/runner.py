"""run_bench: the full measurement of one model over a batch sweep.

Order per batch size: first call (timed alone) -> warm-up -> throughput repeats
(one sync per repeat) -> separate latency run (one sync per batch). Memory peaks
are reset per batch size. OOM rows are recorded and the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Protocol

import torch

from . import env as envmod
from .config import IQR_WARN_REL, BenchConfig, DType, validate
from .correctness import check, flatten, reference_output, skipped
from .errors import BenchError
from .measure import Clock, choose_iters, first_call, time_latency, time_throughput, warm_up
from ..torch.threads import num_threads
from .ops import CpuOps, device_ops, is_oom, resolve_device
from .peaks import DevicePeak, find_peak
from .perlayer import profile_layers
from .precision import precision_mode
from .prepare import Plan, compiled, make_input, run_context, step_builder
from .results import BatchRow, BenchResult, Correctness, Latency, Memory, PerLayer, Throughput, plain
from .roofline import achieved_tflops, utilisation
from .source import ModelSource

P99_MIN_SAMPLES = 100


class Progress(Protocol):
    """Progress sink; advanced only between timed regions, never inside one."""

    def begin(self, batch: int, steps: int) -> None: ...

    def advance(self) -> None: ...

    def end(self) -> None: ...


class _NoProgress:
    def begin(self, batch: int, steps: int) -> None: ...

    def advance(self) -> None: ...

    def end(self) -> None: ...


def run_bench(source: ModelSource, config: BenchConfig, progress: Progress | None = None,
              clock: Clock = time.perf_counter) -> BenchResult:
    """Benchmark `source` under `config`; raises BenchError for user errors only.

    `clock` times first call, warm-up and throughput repeats (latency uses the
    device timer); only tests and the overhead study replace perf_counter.
    """
    warnings = validate(config)
    device = resolve_device(config.device)
    ops = device_ops(device)
    environment = envmod.collect(device)
    warnings += _preflight(config, device)
    with ops.context(), num_threads(config.threads) as threads, \
            precision_mode(config.dtype, device.type) as flags:
        environment["torch_threads"] = threads
        plan = Plan.from_config(config, device, DType(flags.effective))
        session = _Session(source, config, plan, ops, progress or _NoProgress(), clock)
        session.run()
    environment.update(gpu_before=session.smi_before, gpu_after=envmod.gpu_snapshot(session.gpu),
                       load_average_after=envmod.load_average())
    warnings += [*flags.notes, *session.warnings,
                 *envmod.busy_warning(environment["load_average_before"], environment["cpu_count"]),
                 *envmod.throttle_warnings(session.smi_before, environment["gpu_after"])]
    environment["peak"] = dataclasses.asdict(session.peak) if session.peak else None
    return BenchResult(
        model={"name": source.name, "input_shape": list(session.shape),
               "macs_per_image": source.macs_per_image,
               "train_macs_per_image": source.train_macs_per_image,
               "flops_per_image": source.flops_per_image, "params": source.params},
        config=plain(dataclasses.asdict(config)),
        precision=flags.as_dict(),
        environment=plain(environment),
        rows=tuple(session.rows),
        correctness=session.correctness,
        per_layer=session.per_layer,
        warnings=tuple(warnings),
    )


class _Session:
    """State of one run: the placed module, the reference output, the rows."""

    def __init__(self, source: ModelSource, config: BenchConfig, plan: Plan,
                 ops: CpuOps, progress: Progress, clock: Clock) -> None:
        self.source, self.config, self.plan, self.ops, self.progress = source, config, plan, ops, progress
        self.clock = clock
        self.shape = tuple(config.input_shape or source.input_shape)
        self.gpu = envmod.gpu_id(plan.device)
        name = torch.cuda.get_device_name(plan.device) if plan.device.type == "cuda" else None
        self.peak: DevicePeak | None = find_peak(name)
        self.rows: list[BatchRow] = []
        self.warnings: list[str] = []
        self.smi_before: dict[str, Any] | None = None
        self.correctness: Correctness = skipped("not run")
        self.per_layer: PerLayer | None = None
        self.check_batch: int | None = None
        self.reference: list[torch.Tensor] | None = None

    def run(self) -> None:
        if self.shape != tuple(self.source.input_shape) and self.source.macs_per_image:
            self.warnings.append(f"MACs were analysed for input {self.source.input_shape}, "
                                 f"not the {self.shape} benchmarked")
        module = self.source.factory()
        module = module.train() if self.plan.train else module.eval()
        try:
            module = module.to(self.plan.device)
        except Exception as exc:  # noqa: BLE001 - only OOM becomes a user-facing error
            if not is_oom(exc):
                raise
            raise BenchError(f"the model does not fit on {self.plan.device}: {_line(exc)}") from exc
        self._prepare_reference(module)
        if self.plan.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module
        if self.plan.train:
            from .trainstep import make_optimizer
            self.opt = make_optimizer(module, self.config.optimizer.value)
        self._sweep()
        self._run_per_layer()
        if any(r.latency and len(r.latency.samples_s) < P99_MIN_SAMPLES for r in self.rows):
            self.warnings.append(f"p99 from fewer than {P99_MIN_SAMPLES} latency samples "
                                 "is close to the maximum; use more --iters for a real tail")

    def _prepare_reference(self, module: torch.nn.Module) -> None:
        if not self.config.check:
            self.correctness = skipped("disabled (--no-check)")
            return
        if self.plan.train:  # a step changes the weights, and BN/dropout differ from eval
            self.correctness = skipped("a training step has no fixed output to compare")
            return
        if self.plan.is_reference:
            self.correctness = skipped("run is fp32 eager, the reference itself")
            return
        self.check_batch = min(self.config.batches)
        x = make_input(self.check_batch, self.shape,
                       dataclasses.replace(self.plan, channels_last=False))
        try:
            self.reference = reference_output(module, x)
        except Exception as exc:  # noqa: BLE001
            if not is_oom(exc):
                raise BenchError(f"forward failed at batch {self.check_batch}: {_line(exc)}") from exc
            self.correctness = skipped(f"reference ran out of memory: {_line(exc)}")
            self.check_batch = None
        finally:
            self.ops.free()

    def _sweep(self) -> None:
        oom_at: int | None = None
        for batch in self.config.batches:
            if oom_at is not None and batch >= oom_at:
                self.rows.append(BatchRow(batch, "skipped", f"not run: batch {oom_at} ran out of memory"))
                continue
            try:
                self.rows.append(self._bench_batch(batch))
            except Exception as exc:  # noqa: BLE001 - OOM is a result, anything else a user error
                if not is_oom(exc):
                    raise BenchError(f"forward failed at batch {batch}: {_line(exc)}") from exc
                self.rows.append(BatchRow(batch, "OOM", _line(exc)))
                oom_at = batch if oom_at is None else min(oom_at, batch)
            finally:
                self.progress.end()
                self.ops.free()

    def _bench_batch(self, batch: int) -> BatchRow:
        cfg, plan, ops, clock = self.config, self.plan, self.ops, self.clock
        x = make_input(batch, self.shape, plan)
        fn = compiled(self.module, plan)
        self.progress.begin(batch, cfg.repeats + 3)
        ops.memory_begin()
        with run_context(plan):
            step, first_s = first_call(step_builder(fn, x, plan, getattr(self, "opt", None)),
                                       ops.synchronize, clock)
            self.progress.advance()
            n_warm, warm_s, per_iter = warm_up(step, ops.synchronize, cfg.warmup_iters, cfg.warmup_s, clock)
            self.progress.advance()
            iters, note = choose_iters(per_iter, cfg.repeats, cfg.iters, cfg.budget_s)
            if self.smi_before is None:
                self.smi_before = envmod.gpu_snapshot(self.gpu)
            times = time_throughput(step, iters, cfg.repeats, ops.synchronize, clock, self.progress.advance)
            lat = time_latency(step, iters, ops.latency_timer())
            self.progress.advance()
            if batch == self.check_batch and self.reference is not None:
                self.correctness = check(self.reference, flatten(step()), plan.dtype, batch, cfg.tolerance)
            memory = ops.memory_end()
            if plan.train and memory.peak_allocated_bytes is None:
                memory = self._allocated(step, x)
        return self._row(batch, first_s, warm_s, n_warm, times, lat, memory, note)

    def _allocated(self, step: Any, x: torch.Tensor) -> Memory:
        """Bytes allocated at the peak of one more (untimed) step, where the device keeps no
        allocator statistics (CPU): what is held before it plus the allocator events' peak."""
        from .trainstep import allocator_peak
        held = [*self.module.parameters(), *self.module.buffers(), x,
                *(v for s in self.opt.state.values() for v in s.values() if torch.is_tensor(v))]
        base = sum(t.untyped_storage().nbytes() for t in held)
        return Memory("torch.profiler allocator events, one more step", peak_allocated_bytes=base + allocator_peak(step),
                      baseline_allocated_bytes=base)

    def _row(self, batch: int, first_s: float, warm_s: float, n_warm: int, times: tuple[float, ...],
             lat: tuple[float, ...], memory: Any, note: str | None) -> BatchRow:
        thr = Throughput.from_times(batch, len(lat), times)
        src = self.source
        tflops = achieved_tflops(src.train_macs_per_image if self.plan.train else src.macs_per_image, thr.median_img_s)
        predicted = src.predict_train_bytes(batch) if self.plan.train and src.predict_train_bytes else None
        mfu, notes = utilisation(tflops, self.peak, self.plan.dtype.value)
        if note:
            notes.append(note)
        if thr.iqr_rel > IQR_WARN_REL:
            notes.append(f"large spread: IQR/median = {thr.iqr_rel:.1%} > {IQR_WARN_REL:.0%} "
                         "(background load, throttling or too few iterations)")
        self.warnings.extend(f"batch {batch}: {n}" for n in notes)
        return BatchRow(batch, "ok", "", first_s, warm_s, n_warm, thr, Latency.from_samples(lat),
                        memory, tflops, mfu, tuple(notes), predicted)

    def _run_per_layer(self) -> None:
        ok = [r for r in self.rows if r.status == "ok" and r.throughput is not None]
        if not self.config.per_layer or not ok:
            return
        row = max(ok, key=lambda r: r.batch)
        plan = self.plan
        x = make_input(row.batch, self.shape, plan)
        ridge = self.peak.ridge_flop_per_byte(plan.dtype.value) if self.peak else None
        elem = 2 if plan.dtype in (DType.fp16, DType.bf16) else 4
        iters = min(max(3, row.throughput.iters), 20)
        with run_context(plan):
            self.per_layer = profile_layers(
                self.module, lambda: self.module(x), self.ops.synchronize, self.source.layers,
                row.batch, iters, plan.device.type == "cuda", elem, ridge)
        if plan.compile_mode is not None or plan.cuda_graphs:
            self.warnings.append("--per-layer profiles the eager module (no compile/CUDA graphs)")


def _preflight(config: BenchConfig, device: torch.device) -> list[str]:
    """Warnings about configurations known to give misleading numbers."""
    out = []
    # bf16 tensor cores arrived with Ampere (compute capability 8.0).
    if device.type == "cuda" and config.dtype is DType.bf16 and torch.cuda.get_device_capability(device) < (8, 0):
        out.append("this GPU has no native bf16: bf16 is emulated and slow")
    if device.type == "cpu" and config.compile_mode is not None and "OMP_WAIT_POLICY" not in os.environ:
        out.append("torch.compile on CPU: compiled kernels and eager ops may use different "
                   "OpenMP runtimes whose spinning threads contend; if timings are erratic, "
                   "rerun with OMP_WAIT_POLICY=PASSIVE")
    return out


def _line(exc: BaseException) -> str:
    """First line of an exception message, prefixed by its type."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
