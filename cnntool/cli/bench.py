"""`cnntool bench` and `cnntool bench-compare`, added to the main app by register().

Imports no torch at module level: the analysis commands share this process.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import nullcontext
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..analysis.training import Optimizer
from ..bench.config import BenchConfig, CompileMode, DType, parse_batches, parse_int_list, validate
from ..bench.errors import BenchError
from ..errors import printable
from ..bench.measure import MAX_WARMUP_ITERS
from .exits import stderr_console, stdout_console

if TYPE_CHECKING:
    from ..bench.source import ModelSource


class OutputFormat(str, Enum):
    """How results are printed."""

    table = "table"
    json = "json"


def load_source(ref: str, args: dict[str, Any], input_shape: tuple[int, ...] | None,
                config: BenchConfig | None = None) -> ModelSource:
    """Glue to the spec engine: load, analyse (batch 1 = per image) and build lazily; for
    --train also the analytic training-step peak at any batch."""
    import cnntool
    from cnntool.errors import SpecError

    from ..bench.source import LayerSpec, ModelSource

    try:
        model = cnntool.load(ref, args or None)
        shape = tuple(input_shape or model.input_shape)
        report = cnntool.analyze(model, batch=1, input_shape=shape)
    except SpecError as exc:
        raise BenchError(str(exc)) from None
    except OSError as exc:
        raise BenchError(f"cannot load model {ref!r}: {exc}") from None
    layers = tuple(LayerSpec(r.name, r.kind, r.macs, r.flops, r.params) for r in report.layers)

    def factory() -> Any:
        try:
            return cnntool.build(model, input_shape=shape)
        except SpecError as exc:
            raise BenchError(str(exc)) from None

    def predict(batch: int) -> int:
        from cnntool.analysis.training import Precision, training
        precision = Precision(config.dtype.value) if config.dtype.value in ("fp16", "bf16") else Precision.fp32
        device = "cuda" if config.device.strip().lower().startswith("cuda") else "cpu"
        return training(model, batch, config.optimizer, precision, device, shape).peak_bytes

    train = config is not None and config.train
    return ModelSource(
        train_macs_per_image=report.totals.macs + report.totals.backward_macs if train else None,
        predict_train_bytes=predict if train else None,
        name=model.name,
        factory=factory,
        input_shape=shape,
        macs_per_image=report.totals.macs,
        flops_per_image=report.totals.flops,
        params=report.totals.params,
        layers=layers,
    )


def parse_args(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE model arguments; values parsed as YAML scalars (3, 0.5, true, text)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"bad --arg {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError, KeyError, OverflowError):  # `!!int x`, 5,000 digits: text
            out[key.strip()] = value
    return out


class _RichProgress:
    """Transient progress bar on stderr, refreshed only between timed regions."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
                            auto_refresh=False)
        self.task: Any = None

    def begin(self, batch: int, steps: int) -> None:
        self.task = self.bar.add_task(f"bench batch {batch}", total=steps)
        self.bar.refresh()

    def advance(self) -> None:
        self.bar.advance(self.task)
        self.bar.refresh()

    def end(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None


def _fail(message: str, code: int = 2) -> typer.Exit:
    stderr_console().print(f"[red]error:[/] {escape(printable(message))}")
    return typer.Exit(code=code)


def _warn(messages: list[str] | tuple[str, ...]) -> None:
    from ..bench.report import warning_line

    err = stderr_console()
    for message in messages:
        err.print(warning_line(message))


def bench(
    model: Annotated[str, typer.Argument(help="Built-in model or spec file (FILE.yaml:VARIANT).", metavar="MODEL")],
    device: Annotated[str, typer.Option("--device", metavar="DEVICE", help="cpu, cuda, cuda:N or mps.")] = "cpu",
    batch: Annotated[str, typer.Option("--batch", "-b", metavar="N[,N...]",
                                       help="Batch size or sweep, e.g. 1,8,32,128.")] = "1",
    input_text: Annotated[str | None, typer.Option("--input", "-i", metavar="C,H,W",
                                                   help="Input shape overriding the spec's.")] = None,
    dtype: Annotated[DType, typer.Option(help="fp32 (strict, TF32 off), tf32, fp16 or bf16 (autocast).")] = DType.fp32,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile_mode: Annotated[CompileMode | None, typer.Option("--compile", help="torch.compile mode.")] = None,
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs", help="Capture and replay a CUDA graph.")] = False,
    threads: Annotated[int | None, typer.Option(help="torch intra-op threads.")] = None,
    iters: Annotated[int | None, typer.Option(help="Batches per timed run.")] = None,
    budget: Annotated[float | None, typer.Option(help="Seconds of timed runs per batch size (default 6).")] = None,
    repeats: Annotated[int, typer.Option(help="Throughput repeats (>= 5 advised).")] = 5,
    warmup: Annotated[int, typer.Option(help="Minimum warm-up iterations.")] = 3,
    warmup_time: Annotated[float, typer.Option(help=f"Minimum warm-up seconds; warm-up stops after "
                                                    f"{MAX_WARMUP_ITERS:,} iterations even if this time "
                                                    "has not passed.")] = 1.0,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="Profile each layer (roofline view).")] = False,
    check: Annotated[bool, typer.Option(help="Check outputs against fp32 eager.")] = True,
    tolerance: Annotated[float | None, typer.Option(help="Override the check's tolerance.")] = None,
    arg: Annotated[list[str] | None, typer.Option("--set", "-s", metavar="KEY=VALUE",
                                                  help="Override a spec argument (repeatable).")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
    train: Annotated[bool, typer.Option("--train", help="Time a training step: forward, backward, optimizer step.")] = False,
    optimizer: Annotated[Optimizer, typer.Option(help="Optimizer of --train.")] = Optimizer.sgd,
) -> None:
    """Benchmark a model's inference (or --train: training-step) throughput, latency, memory and MFU."""
    try:
        config = BenchConfig(
            device=device, batches=parse_batches(batch),
            input_shape=parse_int_list(input_text, "input shape") if input_text else None,
            dtype=dtype, channels_last=channels_last, compile_mode=compile_mode,
            cuda_graphs=cuda_graphs, threads=threads, iters=iters, budget_s=budget,
            repeats=repeats, warmup_iters=warmup, warmup_s=warmup_time,
            per_layer=per_layer, check=check, tolerance=tolerance, train=train, optimizer=optimizer)

        validate(config)
        _require_torch(device)
        source = load_source(model, parse_args(arg or []), config.input_shape, config)
        from ..bench.runner import run_bench

        progress = _RichProgress()
        with progress.bar if progress.bar.console.is_terminal else nullcontext():  # rich adds a blank line off a tty
            result = run_bench(source, config, progress)
    except BenchError as exc:
        raise _fail(str(exc)) from None
    _emit(result, output)
    if result.correctness.status == "fail":
        raise _fail("correctness check failed", code=1)


# where a GPU driver shows itself on Linux (NVIDIA, ROCm, WSL2), so `--device cuda` can fail before torch loads
GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def _require_torch(device: str) -> None:
    """Fail in milliseconds, before importing torch, when the run cannot happen (BenchError)."""
    from ..check.torch_steps import INSTALL, missing

    if device.strip().lower().startswith("cuda") and sys.platform == "linux" \
            and not any(Path(p).exists() for p in GPU_NODES):
        raise BenchError(f"device {device!r} requested but this machine has no GPU driver "
                         f"(none of {', '.join(GPU_NODES)}); use --device cpu")
    why = missing("torch", INSTALL)
    if why:
        raise BenchError(f"`cnntool bench` cannot run: {why}")


def _emit(result: Any, output: OutputFormat) -> None:
    from ..bench.report import render
    from ..bench.results import to_json

    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(to_json(result), indent=2) + "\n")
        _warn(result.warnings)
    else:
        render(result, stdout_console())


def bench_compare(
    a: Annotated[Path, typer.Argument(help="Baseline result (bench --format json).", metavar="A.json")],
    b: Annotated[Path, typer.Argument(help="Result to compare against the baseline.", metavar="B.json")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
) -> None:
    """Compare two bench results: ratios, and significance against the combined IQR.

    Refuses (exit 2) results of different models or input shapes; warns about any
    other difference in configuration or environment and compares anyway.
    """
    from ..bench.compare import compare, differences, ensure_comparable, load_result, render_compare

    try:
        data_a, data_b = load_result(a), load_result(b)
        ensure_comparable(data_a, data_b, str(a), str(b))
        rows = compare(data_a, data_b)
    except BenchError as exc:
        raise _fail(str(exc)) from None
    # One line per difference, A's value first: the ratios include these effects.
    _warn([f"A and B differ in {d}" for d in differences(data_a, data_b)])
    if not rows:
        raise _fail("no batch size/dtype rows in common between the two results")
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps([dataclasses.asdict(r) for r in rows], indent=2) + "\n")
    else:
        render_compare(rows, str(a), str(b), stdout_console())


def register(app: typer.Typer) -> None:
    """Add `bench` and `bench-compare` to the main cnntool app."""
    app.command("bench")(bench)
    app.command("bench-compare")(bench_compare)
