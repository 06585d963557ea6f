"""`cnntool train`: the analytic cost of a training step (cnntool.analysis.training), torch-free."""
from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from ..analysis.training import Optimizer, Precision, Training, max_batch, training
from ..errors import Loc, SpecError
from ..render.fit import FitColumn, fitted_rows, hidden_line
from ..render.tables import JSON_VERSION, Format, text_table
from ..spec.file import parse_overrides
from ..spec.zoo import resolve
from ..units import human, human_bytes, parse_bytes
from .exits import guard
from .main import BatchOpt, FormatOpt, InputOpt, ModelArg, OutputOpt, SetOpt, emit, parse_shape, table_output

__all__ = ["register"]


class Device(str, Enum):
    """Which kernels torch picks by default (the optimizer's foreach vs single-tensor loop)."""

    cuda = "cuda"
    cpu = "cpu"


TERM_TEXT = {
    "params": "parameters (fp32; the master copy under autocast)",
    "buffers": "buffers (BN running statistics)",
    "optimizer_state": "optimizer state (fp32)",
    "input": "the input batch (fp32, held by the caller)",
    "saved": "activations saved for the backward",
    "forward_temporary": "activations alive in the forward, not saved",
    "activation_grads": "gradients of activations",
    "param_grads": "parameter gradients (fp32)",
    "backward_workspace": "the backward's workspace (oneDNN's copies; --device cpu)",
    "optimizer_temporary": "optimizer temporaries (Adam's denominator)",
}
LAYER_KEYS = ["name", "kind", "keeps", "saved_bytes", "param_bytes", "grad_bytes", "state_bytes", "backward_macs"]
LAYER_TITLES = ["layer", "kind", "saves for backward", "saved", "params", "grads", "optimizer", "backward MACs"]


def train_json(t: Training, fits: dict[str, int] | None) -> dict[str, Any]:
    tot = t.report.totals
    return {"cnntool_json": JSON_VERSION, "model": t.report.model, "variant": t.report.variant,
            "input": list(t.report.input), "batch": t.batch, "optimizer": t.optimizer.value,
            "dtype": t.precision.value, "device": t.device,
            "macs": {"forward": tot.macs, "backward": tot.backward_macs, "step": tot.macs + tot.backward_macs},
            "flops": {"forward": tot.flops, "backward": tot.backward_flops, "step": tot.flops + tot.backward_flops},
            "peak_bytes": t.peak_bytes, "peak_at": t.peak_at, "terms": t.terms, "saved_bytes": t.saved_total,
            "layers": [asdict(r) for r in t.rows], "fits": fits}


def _print(console, t: Training, fits: dict[str, int] | None) -> None:
    """The per-layer table and the peak's terms, fitted to the console: numbers are never cut."""
    numbers = [FitColumn(title, (), numeric=True, drop=drop) for title, drop in
               zip(LAYER_TITLES[3:], (0, 0, 4, 2, 5))]  # saved, params, grads, optimizer, backward MACs
    columns = [FitColumn("layer", (), wrap_min=12), FitColumn("kind", (), drop=3),
               FitColumn("saves for backward", (), wrap_min=10, drop=1), *numbers]
    rows = [[r.name, r.kind, r.keeps, *(human_bytes(v) if v else "" for v in
             (r.saved_bytes, r.param_bytes, r.grad_bytes, r.state_bytes)),
             human(r.backward_macs) if r.backward_macs else ""] for r in t.rows]
    title = (f"{t.report.model} — training step, batch {t.batch}, {t.precision.value}"
             f"{' autocast' if t.precision is not Precision.fp32 else ''}, {t.optimizer.value}")
    table, hidden = fitted_rows(columns, rows, console.width, title=title, title_justify="left", header_style="bold")
    console.print(table)
    if hidden:
        console.print(hidden_line(hidden, console.width, columns_option=False), highlight=False, style="dim")
    console.print(f"predicted peak {human_bytes(t.peak_bytes)} ({t.peak_bytes:,} B), at the {t.peak_at}:",
                  highlight=False)
    terms = [[TERM_TEXT[term], human_bytes(value)] for term, value in t.terms.items() if value]
    peak, _ = fitted_rows([FitColumn("term", (), wrap_min=20), FitColumn("bytes", (), numeric=True)], terms,
                          console.width, header_style="bold", show_edge=False)
    console.print(peak)
    tot = t.report.totals
    console.print(f"MACs forward {human(tot.macs)} + backward {human(tot.backward_macs)} = step "
                  f"{human(tot.macs + tot.backward_macs)}   FLOPs (2·MACs + ops) {human(tot.flops)} + "
                  f"{human(tot.backward_flops)} = {human(tot.flops + tot.backward_flops)}   "
                  f"saved at the end of the forward {human_bytes(t.saved_total)}", highlight=False)
    if fits is not None:
        console.print(f"largest batch that fits {human_bytes(fits['budget_bytes'])}: {fits['batch']:,}"
                      + ("" if fits["batch"] else " (not even one sample)"), highlight=False)


def train(model: ModelArg, batch: BatchOpt = 1, input: InputOpt = None, set: SetOpt = None,
          optimizer: Annotated[Optimizer, typer.Option(help="Optimizer state: sgd none, momentum 1, adam/adamw 2 per parameter.")] = Optimizer.sgd,
          dtype: Annotated[Precision, typer.Option(help="fp32, or fp16/bf16 autocast (fp32 master weights).")] = Precision.fp32,
          device: Annotated[Device, typer.Option(help="Default kernels of this device (optimizer temporaries).")] = Device.cuda,
          memory: Annotated[Optional[str], typer.Option(metavar="SIZE", help="Also find the largest batch that fits, e.g. 24GiB.")] = None,
          format: FormatOpt = Format.table, output: OutputOpt = None) -> None:
    """Training step: backward MACs, memory per layer and its peak (params, grads, optimizer, activations)."""
    with guard():
        try:
            budget = None if memory is None else parse_bytes(memory)
        except ValueError as exc:
            raise SpecError(str(exc), Loc("--memory", 0, 0)) from None
        model_ = resolve(model).model(parse_overrides(set or []), parse_shape(input))
        t = training(model_, batch, optimizer, dtype, device.value, parse_shape(input))
        fits = None if budget is None else {"budget_bytes": budget, "batch": max_batch(
            model_, budget, optimizer, dtype, device.value, parse_shape(input))}
        if format is Format.json:
            emit(json.dumps(train_json(t, fits), indent=2, ensure_ascii=False) + "\n", output)
        elif format is not Format.table:
            rows = [[getattr(r, k) for k in LAYER_KEYS] for r in t.rows]
            emit(text_table(LAYER_KEYS if format is Format.csv else LAYER_TITLES, rows, format), output)
        else:
            with table_output(output) as console:
                _print(console, t, fits)


def training_line(model, batch: int, dtype: str, input_shape) -> str:
    """One line for `summary`: the training-step peak with plain SGD (CUDA defaults)."""
    t = training(model, batch, Optimizer.sgd, Precision(dtype), "cuda", input_shape)
    mode = "fp32" if t.precision is Precision.fp32 else f"{dtype} autocast"
    return (f"training step at batch {batch} ({mode}, SGD): predicted peak {human_bytes(t.peak_bytes)}, "
            f"of which saved activations {human_bytes(t.terms['saved'])} (`cnntool train` for every term)")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
