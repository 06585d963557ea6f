"""Rich rendering of a BenchResult: header, results table, check, per-layer, warnings."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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


def results_table(result: BenchResult) -> Table:
    """Speed per batch size; units live in the headers so it fits 80 columns."""
    table = Table(title="throughput: median of repeats | latency: separate run", box=box.SIMPLE_HEAD)
    for col in ("batch", "status", "img/s", "IQR", "p50 ms", "p90 ms", "p99 ms", "TFLOP/s", "MFU"):
        table.add_column(col, justify="left" if col == "status" else "right")
    for row in result.rows:
        thr, lat = row.throughput, row.latency
        if thr is None or lat is None:
            table.add_row(str(row.batch), f"[red]{row.status}[/]", *[""] * 7)
            continue
        table.add_row(
            str(row.batch), row.status, f"{thr.median_img_s:,.1f}", fmt.pct(thr.iqr_rel),
            *(fmt.sig(v * 1e3) for v in (lat.p50_s, lat.p90_s, lat.p99_s)),
            fmt.sig(row.tflops), fmt.pct(row.mfu),
        )
    return table


def startup_table(result: BenchResult) -> Table:
    """Costs kept out of the timed region, the timed work, and memory."""
    cuda = any(r.memory and r.memory.peak_reserved_bytes is not None for r in result.rows)
    train = bool(result.config.get("train"))
    table = Table(title="kept out of the timings | timed work | memory", box=box.SIMPLE_HEAD)
    for col in ("batch", "first call", "warm-up (iters)", "timed runs",
                "peak alloc/reserved" if cuda else "peak allocated" if train else "peak RSS growth",
                *(("predicted", "pred/meas") if train else ())):
        table.add_column(col, justify="right")
    for row in _ok_rows(result):
        thr = row.throughput
        table.add_row(str(row.batch), fmt.secs(row.first_call_s),
                      f"{fmt.secs(row.warmup_s)} ({row.warmup_iters})",
                      f"{len(thr.samples_img_s)} x {thr.iters} + {thr.iters} lat", _memory(row),
                      *((fmt.nbytes(row.predicted_bytes), _ratio(row)) if train else ()))
    return table


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


def per_layer_table(prof: PerLayer) -> Table:
    """Roofline view: time per layer beside MACs, bytes, intensity and bound."""
    ridge = "n/a" if prof.ridge_flop_per_byte is None else f"{prof.ridge_flop_per_byte:.1f}"
    table = Table(title=f"per layer, batch {prof.batch} ({prof.clock} time per forward, "
                  f"ridge {ridge} FLOP/B)", box=box.SIMPLE_HEAD)
    table.add_column("layer", overflow="fold")
    table.add_column("kind", overflow="fold")
    for col in ("ms", "share", "MACs", "FLOPs (2·MACs+ops)", "bytes", "FLOP/B"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("bound")
    total = prof.total_s or 1.0
    for r in prof.layers:
        table.add_row(r.name, r.kind, fmt.sig(r.time_s * 1e3), fmt.pct(r.time_s / total),
                      fmt.si(r.macs), fmt.si(r.flops), fmt.si(r.bytes),
                      "-" if r.intensity is None else f"{r.intensity:.1f}", r.bound)
    table.add_row("(unattributed)", "", fmt.sig(prof.unattributed_s * 1e3),
                  fmt.pct(prof.unattributed_s / total), "", "", "", "", "")
    return table


def render(result: BenchResult, console: Console) -> None:
    """Print the whole human report.

    Lines (header, check, failed rows, warnings) are printed with soft wrap, so a
    narrow or piped console never breaks them mid-phrase; tables keep their layout.
    """
    for line in _header(result):
        console.print(line, soft_wrap=True)
    console.print(results_table(result))
    console.print(startup_table(result))
    for line in _failed_rows(result):
        console.print(f"[red]{escape(line)}[/]", highlight=False, soft_wrap=True)
    console.print(correctness_line(result.correctness), soft_wrap=True)
    if result.per_layer is not None:
        console.print(per_layer_table(result.per_layer))
    for warning in result.warnings:
        console.print(warning_line(warning), highlight=False, soft_wrap=True)


def warning_line(message: str) -> str:
    """'warning: ...' in yellow; the message itself is not read as markup."""
    return f"[yellow]warning:[/] {escape(message)}"
