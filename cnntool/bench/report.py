"""Rich rendering of a BenchResult: header, results table, check, per-layer, warnings."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..render.fit import FitColumn, fitted_rows, hidden_line
from . import fmt
from .results import BatchRow, BenchResult, Correctness, PerLayer


def _header(result: BenchResult) -> list[str]:
    m, env, p = result.model, result.environment, result.precision
    shape = "x".join(str(d) for d in m["input_shape"])
    where = env.get("gpu_name") or env.get("cpu_model")
    flags = (f"TF32 matmul={'on' if p['matmul_allow_tf32'] else 'off'} "
             f"cudnn={'on' if p['cudnn_allow_tf32'] else 'off'}, "
             f"matmul precision={p['float32_matmul_precision']}, "
             f"cudnn.benchmark={'on' if p['cudnn_benchmark'] else 'off'}, "
             f"autocast={p['autocast_dtype'] or 'off'}")
    threads = env["torch_threads"]
    mode = [] if not result.config.get("train") else [
        f"training step: forward + backward + {result.config['optimizer']} step, "
        f"MACs/image forward + backward {fmt.si(m.get('train_macs_per_image'))} (TFLOP/s and MFU from these)"]
    return [
        f"[bold]{escape(str(m['name']))}[/] input {shape}, MACs/image {fmt.si(m['macs_per_image'])}, "
        f"params {fmt.si(m['params'])}", *mode,
        f"device {env['device']} ({escape(str(where))}), {threads} torch thread{'' if threads == 1 else 's'}",
        f"dtype {p['requested']} (effective {p['effective']}): {flags}",
        versions(env),
    ]


def versions(env: dict) -> str:
    """torch's version; on CUDA also the CUDA runtime and cuDNN (as 9.24.0, not 92400).

    A CPU or MPS run does not use CUDA or cuDNN, so their versions (those torch
    was built with) are left out.
    """
    parts = [f"torch {env['torch']}"]
    if str(env.get("device", "")).startswith("cuda"):
        if env.get("cuda_runtime"):
            parts.append(f"CUDA {env['cuda_runtime']}")
        cudnn = fmt.cudnn_version(env.get("cudnn"))
        if cudnn:
            parts.append(f"cuDNN {cudnn}")
    return ", ".join(parts)


def _memory(row: BatchRow) -> str:
    mem = row.memory
    if mem is None:
        return "-"
    if mem.peak_allocated_bytes is not None and mem.peak_reserved_bytes is None:
        return fmt.nbytes(mem.peak_allocated_bytes)  # CPU training step: allocator events
    if mem.peak_allocated_bytes is not None:
        return f"{fmt.nbytes(mem.peak_allocated_bytes)}/{fmt.nbytes(mem.peak_reserved_bytes)}"
    if mem.rss_growth_bytes is not None:
        return f"+{fmt.nbytes(mem.rss_growth_bytes)}"
    return fmt.nbytes(mem.peak_reserved_bytes)


def _ok_rows(result: BenchResult) -> list[BatchRow]:
    return [r for r in result.rows if r.throughput is not None and r.latency is not None]


def _num(title: str, drop: int = 0) -> FitColumn:
    return FitColumn(title, (), numeric=True, drop=drop)


def _fitted(title: str, columns: list[FitColumn], rows: list[list[str]], width: int | None) -> tuple[Table, list[str]]:
    """A table whose numbers are never cut (cnntool.render.fit), and the columns it left out."""
    return fitted_rows(columns, rows, width, title=title, box=box.SIMPLE_HEAD)


def results_table(result: BenchResult, width: int | None = None) -> tuple[Table, list[str]]:
    """Speed per batch size; units live in the headers (they wrap between words)."""
    columns = [_num("batch"), FitColumn("status", ()), _num("img/s"), _num("IQR", 5), _num("p50 ms"),
               _num("p90 ms", 2), _num("p99 ms", 1), _num("TFLOP/s", 4), _num("MFU", 3)]
    rows = []
    for row in result.rows:
        thr, lat = row.throughput, row.latency
        if thr is None or lat is None:
            rows.append([str(row.batch), row.status, *[""] * 7])
            continue
        rows.append([str(row.batch), row.status, f"{thr.median_img_s:,.1f}", fmt.pct(thr.iqr_rel),
                     *(fmt.sig(v * 1e3) for v in (lat.p50_s, lat.p90_s, lat.p99_s)),
                     fmt.sig(row.tflops), fmt.pct(row.mfu)])
    return _fitted("throughput: median of repeats | latency: separate run", columns, rows, width)


def startup_table(result: BenchResult, width: int | None = None) -> tuple[Table, list[str]]:
    """Costs kept out of the timed region, the timed work, and memory."""
    cuda = any(r.memory and r.memory.peak_reserved_bytes is not None for r in result.rows)
    train = bool(result.config.get("train"))
    memory = "peak alloc/reserved" if cuda else "peak allocated" if train else "peak RSS growth"
    columns = [_num("batch"), _num("first call", 3), _num("warm-up (iters)", 2), _num("timed runs", 1),
               _num(memory), *((_num("predicted"), _num("pred/meas")) if train else ())]
    rows = [[str(row.batch), fmt.secs(row.first_call_s), f"{fmt.secs(row.warmup_s)} ({row.warmup_iters})",
             f"{len(row.throughput.samples_img_s)} x {row.throughput.iters} + {row.throughput.iters} lat",
             _memory(row), *((fmt.nbytes(row.predicted_bytes), _ratio(row)) if train else ())]
            for row in _ok_rows(result)]
    return _fitted("kept out of the timings | timed work | memory", columns, rows, width)


def _ratio(row: BatchRow) -> str:
    measured = row.memory.peak_allocated_bytes if row.memory else None
    return f"{row.predicted_bytes / measured:.3f}" if measured and row.predicted_bytes else "-"


def _failed_rows(result: BenchResult) -> list[str]:
    return [f"batch {r.batch}: {r.status}: {r.message}" for r in result.rows if r.status != "ok"]


def correctness_line(check: Correctness) -> str:
    """One line: pass/fail with error and tolerance, or why it was skipped."""
    if check.status == "skipped":
        return f"check: skipped ({escape(check.reason)})"
    colour = "green" if check.status == "pass" else "red"
    return (f"check: [{colour}]{check.status}[/] ({escape(check.reason)}, batch {check.batch}: "
            f"{check.metric} = {check.error:.3e}, tolerance {check.tolerance:.1e})")


def per_layer_table(prof: PerLayer, width: int | None = None) -> tuple[Table, list[str]]:
    """Roofline view: time per layer beside MACs, bytes, intensity and bound."""
    ridge = "n/a" if prof.ridge_flop_per_byte is None else f"{prof.ridge_flop_per_byte:.1f}"
    columns = [FitColumn("layer", (), wrap_min=8), FitColumn("kind", (), wrap_min=4, drop=3), _num("ms"),
               _num("share"), _num("MACs", 4), _num("FLOPs (2·MACs+ops)"), _num("bytes", 2), _num("FLOP/B", 5),
               FitColumn("bound", (), drop=1)]
    total = prof.total_s or 1.0
    rows = [[r.name, r.kind, fmt.sig(r.time_s * 1e3), fmt.pct(r.time_s / total), fmt.si(r.macs), fmt.si(r.flops),
             fmt.si(r.bytes), "-" if r.intensity is None else f"{r.intensity:.1f}", r.bound] for r in prof.layers]
    rows.append(["(unattributed)", "", fmt.sig(prof.unattributed_s * 1e3), fmt.pct(prof.unattributed_s / total),
                 "", "", "", "", ""])
    return _fitted(f"per layer, batch {prof.batch} ({prof.clock} time per forward, ridge {ridge} FLOP/B)",
                   columns, rows, width)


def render(result: BenchResult, console: Console) -> None:
    """Print the whole human report.

    Lines (header, check, failed rows, warnings) are printed with soft wrap, so a
    narrow or piped console never breaks them mid-phrase; tables keep their layout.
    """
    for line in _header(result):
        console.print(line, soft_wrap=True)
    tables = [results_table(result, console.width), startup_table(result, console.width)]
    for table, hidden in tables:
        _print_fitted(console, table, hidden)
    for line in _failed_rows(result):
        console.print(f"[red]{escape(line)}[/]", highlight=False, soft_wrap=True)
    console.print(correctness_line(result.correctness), soft_wrap=True)
    if result.per_layer is not None:
        _print_fitted(console, *per_layer_table(result.per_layer, console.width))
    for warning in result.warnings:
        console.print(warning_line(warning), highlight=False, soft_wrap=True)


def _print_fitted(console: Console, table: Table, hidden: list[str]) -> None:
    console.print(table)
    if hidden:
        console.print(hidden_line(hidden, console.width, columns_option=False, formats="json"), highlight=False, soft_wrap=True)


def warning_line(message: str) -> str:
    """'warning: ...' in yellow; the message itself is not read as markup."""
    return f"[yellow]warning:[/] {escape(message)}"
