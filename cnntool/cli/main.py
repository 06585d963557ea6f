"""The `cnntool` command: a thin layer over cnntool's library API.

Every command loads a model (built-in name or spec path), asks the library for a Report and
hands it to cnntool.render.tables. SpecError becomes `file:line:col: error: ...` and exit code 2 here,
in one place.
"""
from __future__ import annotations

import io
import json
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console

from .. import __version__
from ..analysis.analyze import analyze, collapse
from ..errors import Loc, SpecError
from ..layers.base import MAX_DIM
from ..files import check_writable, write_output
from .exits import CliGroup, guard, stderr_console, stdout_console
from ..spec.expand import suggest
from ..spec.expect import evaluate
from ..graph import Model
from ..render.fit import FitColumn, fitted_table, hidden_line
from ..render.tables import COLUMNS, Format, fitted_report_table, report_json, rows_table, text_table
from ..analysis.report import Report
from ..spec.file import parse_overrides
from ..units import human, human_bytes
from ..spec.zoo import ZooEntry, resolve, zoo

__all__ = ["app", "main"]

app = typer.Typer(cls=CliGroup, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Analyse convolutional networks from YAML specs: shapes, parameters, MACs, "
                       "FLOPs, memory and receptive fields, without importing torch.")
out = stdout_console()
err = stderr_console()


class DType(str, Enum):
    """Bytes per activation element, for the memory column."""

    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"
    int8 = "int8"


BYTES = {DType.fp32: 4, DType.fp16: 2, DType.bf16: 2, DType.int8: 1}

ModelArg = Annotated[str, typer.Argument(help="Built-in model (see `cnntool list`) or a spec file, "
                                              "optionally FILE.yaml:VARIANT.", show_default=False, metavar="MODEL")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, metavar="N", help="Batch size N.")]
InputOpt = Annotated[Optional[str], typer.Option("--input", "-i", metavar="C,H,W", help="Input shape (default: the spec's).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a spec argument (repeatable).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format; json/csv/markdown give exact integers.")]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", help="Write to this file instead of stdout.")]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="Element type for activation memory.")]
DepthOpt = Annotated[Optional[int], typer.Option(
    "--depth", "-d", min=1, metavar="N", help="Roll layers up to N levels of their dotted names (blocks).")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Show the output-size arithmetic of every layer.")]
ColumnsOpt = Annotated[Optional[str], typer.Option(
    "--columns", metavar="COL,COL", help="Columns to show, in order (table/csv/markdown), of: " + ", ".join(COLUMNS) + ".")]


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").replace("×", ",").split(","))
    except ValueError:
        raise SpecError(f"--input takes C,H,W as integers, got {text!r}", Loc("--input", 0, 0)) from None
    if len(shape) not in (1, 3) or min(shape) <= 0:
        raise SpecError(f"--input takes C,H,W of positive integers, got {text!r}", Loc("--input", 0, 0))
    if max(shape) > MAX_DIM:  # the spec reader's limit, so that nothing downstream sees a larger one
        raise SpecError(f"--input {text} is over the limit of {MAX_DIM:,} per dimension", Loc("--input", 0, 0))
    return shape


def pick_columns(text: str | None) -> list[str] | None:
    """``--columns layer,output,macs`` -> the column keys, checked."""
    if text is None:
        return None
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown or not keys:
        close = suggest(unknown[0], COLUMNS) if unknown else ""
        raise SpecError(f"no column {unknown[0]!r}" if unknown else "--columns names no column",
                        Loc("--columns", 0, 0), hint="; ".join(filter(None, [close, "columns: " + ", ".join(COLUMNS)])))
    return keys


def load_report(ref: str, batch: int = 1, input_shape: str | None = None, sets: list[str] | None = None,
                dtype: DType = DType.fp32) -> tuple[Model, Report]:
    try:
        model = resolve(ref).model(parse_overrides(sets or []), parse_shape(input_shape))
        return model, analyze(model, batch, dtype_bytes=BYTES[dtype])
    except SpecError as exc:
        if (sets or input_shape) and not exc.loc.file.startswith("--"):  # the spec line may be fine:
            # the value came from the command line (an error in the option itself already names it)
            given = " ".join([f"--set {s}" for s in sets or []] + ([f"--input {input_shape}"] if input_shape else []))
            exc.hint = "; ".join(h for h in (exc.hint, f"with {given}") if h)
        raise


def emit(text: str, output: Path | None) -> None:
    """Standard output, or `output` written by the one writer (cnntool.files: atomic, never half-written)."""
    if output is None:
        sys.stdout.write(text)
        return
    write_output(output, text)


@contextmanager
def table_output(output: Path | None) -> Iterator[Console]:
    """The terminal, or a wide console whose text reaches `output` in one write at the end."""
    if output is None:
        yield out
        return
    buffer = io.StringIO()
    yield Console(file=buffer, width=200)
    emit(buffer.getvalue(), output)


def show(report: Report, view: str, fmt: Format, output: Path | None, explain: bool = False,
         columns: list[str] | None = None, notes: tuple[str, ...] = ()) -> None:
    if fmt is Format.json:
        emit(json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n", output)
        return
    if fmt is not Format.table:
        emit(text_table(*rows_table(report, view, keys=fmt is Format.csv, columns=columns), fmt), output)
        return
    with table_output(output) as console:
        _print_report(console, report, view, explain, columns)
        for line in notes:
            console.print(line, highlight=False)


def _print_report(console: Console, report: Report, view: str, explain: bool, columns: list[str] | None = None) -> None:
    title = f"{report.model} — input {list(report.input)}, batch {report.batch}"
    table, hidden = fitted_report_table(report, view, title, console.width, columns)
    console.print(table)
    if hidden:
        console.print(hidden_line(hidden, console.width), highlight=False, style="dim")
    t = report.totals
    console.print(f"params {human(t.params)} ({t.params:,})   buffers {t.buffers:,}   "
                  f"MACs {human(t.macs)} ({t.macs:,})   FLOPs (2·MACs + element-wise ops) {human(t.flops)}   "
                  f"activations {human_bytes(t.act_bytes)} (peak in inference {human_bytes(t.peak_act_bytes)})   "
                  f"weights {human_bytes(t.weight_bytes)}", highlight=False)
    if view in ("flops", "summary"):
        console.print(f"training step (forward + backward, docs/training.md): MACs {human(t.macs)} + "
                      f"{human(t.backward_macs)} = {human(t.macs + t.backward_macs)}   FLOPs (2·MACs + ops) {human(t.flops)} + "
                      f"{human(t.backward_flops)} = {human(t.flops + t.backward_flops)}", highlight=False)
    if view == "flops":
        console.print(peer_table(report))
    if explain:
        for row in report.layers:
            for line in row.arithmetic:
                console.print(f"  {row.name}: {line}", highlight=False, markup=False)
    for w in report.warnings:
        console.print(f"{w.loc}: [yellow]warning[/]: {w.message}", highlight=False)


def peer_table(report: Report):
    """Which of our totals equals which other tool's number (conventions in the README)."""
    from rich.table import Table
    t, n = report.totals, report.batch
    per = "per image, " if n > 1 else ""
    table = Table(title=f"the same totals as other tools report them ({per}batch {n} ÷ {n})" if n > 1
                  else "the same totals as other tools report them", title_justify="left",
                  header_style="bold", show_edge=False)
    table.add_column("tool / paper", overflow="fold")  # text wraps; the figure never does
    table.add_column("their figure", justify="right", no_wrap=True)
    table.add_column("our column", overflow="fold")
    macs, fvcore, peers = t.macs // n, t.fvcore // n, t.peers  # the papers and tools quote one image
    table.add_row("papers' \"multiply-adds\", torchvision _ops (×1e9)", f"{macs / 1e9:.3f} G", "MACs")
    table.add_row("fvcore by_operator conv + linear", f"{macs:,}", "MACs")
    table.add_row("fvcore FlopCountAnalysis.total()", f"{fvcore:,}", "fvcore")
    two = "2 × MACs" if peers["flopcounter"] == 2 * macs else "2 × MACs, less what it cannot see"
    table.add_row("torch.utils.flop_counter.FlopCounterMode", f"{peers['flopcounter']:,}", two)
    table.add_row("FlopCounterMode around model(x).sum().backward()",
                  f"{2 * (macs + t.backward_macs // n):,}", "2 × (MACs + backward MACs)")
    table.add_row("HRNet README \"GFLOPs\" (MACs / 2³⁰)", f"{macs / 2**30:.2f}", "MACs")
    for tool, call in (("torchinfo", "summary().total_mult_adds"), ("thop", "profile() \"MACs\""),
                       ("ptflops", "\"MACs\", pytorch backend"), ("ptflops-aten", "\"MACs\", aten backend")):
        table.add_row(f"{tool.split('-')[0]} {call}", f"{peers[tool]:,}", f"peers.{tool} (its rules)")
    return table


def _analysis_command(view: str, doc: str):
    def command(model: ModelArg, batch: BatchOpt = 1, input: InputOpt = None, set: SetOpt = None,
                format: FormatOpt = Format.table, output: OutputOpt = None, dtype: DTypeOpt = DType.fp32,
                explain: ExplainOpt = False, depth: DepthOpt = None, columns: ColumnsOpt = None) -> None:
        with guard():
            check_writable(output)  # a bad -o path fails before any work
            picked = pick_columns(columns)
            model_, report = load_report(model, batch, input, set, dtype)
            notes = ()
            if view == "summary" and dtype is not DType.int8:
                from .train import training_line
                notes = (training_line(model_, batch, dtype.value, parse_shape(input)),)
            show(collapse(report, depth) if depth else report, view, format, output, explain, picked, notes)
    command.__doc__ = doc
    return command


app.command("shapes")(_analysis_command("shapes", "Output shape and receptive field of every layer."))
app.command("params")(_analysis_command("params", "Parameters (trainable) and buffers of every layer."))
app.command("flops")(_analysis_command(
    "flops", "MACs (conv/linear multiply-accumulates), FLOPs (2×MACs + element-wise ops) and fvcore's count."))
app.command("summary")(_analysis_command("summary", "Everything: shape, params, MACs, FLOPs, memory, receptive field."))


@app.command("list")
def list_models(format: FormatOpt = Format.table, output: OutputOpt = None) -> None:
    """The built-in models, one line each."""
    with guard():
        check_writable(output)
        rows = []
        for name, entry in _progress(list(zoo().items()), "analysing the zoo"):
            model = entry.model()
            report = analyze(model)
            rows.append({"name": name, "file": entry.spec.display, "input": list(model.input_shape),
                         "params": report.totals.params, "macs": report.totals.macs,
                         "description": model.description})
        _listing(rows, ["name", "input", "params", "macs", "description"], format, "Built-in models", output)


@app.command("compare")
def compare(models: Annotated[Optional[list[str]], typer.Argument(
                help="Models or spec files (a family file means all its variants); none: the whole zoo.",
                show_default=False)] = None,
            batch: BatchOpt = 1, input: InputOpt = None, format: FormatOpt = Format.table,
            dtype: DTypeOpt = DType.fp32, output: OutputOpt = None) -> None:
    """Models side by side: params, MACs, FLOPs, memory, published top-1."""
    with guard():
        check_writable(output)
        rows = []
        for ref in _progress(_expand_refs(models) if models else list(zoo().values()), "analysing"):
            try:
                model = ref.model(None, parse_shape(input))
                report = analyze(model, batch, dtype_bytes=BYTES[dtype])
            except SpecError as exc:  # say which variant of a family file broke
                raise SpecError(f"{ref.name}: {exc.message}", exc.loc, hint=exc.hint, trace=exc.trace) from None
            weighted = sum(1 for r in report.layers if r.macs)
            top1 = model.accuracy.get("top1")
            rows.append({"name": ref.name, "input": list(report.input), "weight_layers": weighted,
                         "params": report.totals.params, "macs": report.totals.macs, "flops": report.totals.flops,
                         "act_bytes": report.totals.act_bytes, "top1": top1,
                         "expect": _expect_status(ref, model, report, input is not None)})
        _listing(rows, ["name", "input", "weight_layers", "params", "macs", "flops", "act_bytes", "top1", "expect"],
                 format, f"Comparison (batch {batch})", output)


def _progress(items: list, what: str):
    """A transient progress bar on stderr (only on a terminal) for loops over many models."""
    from rich.progress import track
    return track(items, description=what, console=err, transient=True, disable=not err.is_terminal)


def _expand_refs(refs: list[str]) -> list[ZooEntry]:
    entries = []
    for ref in refs:
        path = Path(ref)
        if ":" not in ref and path.suffix in (".yaml", ".yml") and path.exists():
            from ..spec.file import SpecFile
            spec = SpecFile(path)
            if spec.variants:
                entries += [ZooEntry(v, spec, v) for v in spec.variants]
                continue
        entries.append(resolve(ref))
    return entries


def _expect_status(entry: ZooEntry, model: Model, report: Report, resized: bool) -> str:
    """Published numbers are per image at the spec's input: check them there, whatever -b/-i say."""
    if not model.expect:
        return ""
    if report.batch != 1 or resized:
        report = analyze(entry.model())
    count, failures = evaluate(model.expect, report)
    return f"{count - len(failures)}/{count}"


_HUMAN = {"params": human, "macs": human, "flops": human, "act_bytes": human_bytes}
_TITLES = {"weight_layers": "conv/fc layers", "macs": "MACs", "flops": "FLOPs (2·MACs+ops)", "act_bytes": "activations",
           "top1": "top-1 %", "expect": "expect ✓"}


def _listing(rows: list[dict], keys: list[str], fmt: Format, title: str, output: Path | None = None) -> None:
    if fmt is Format.json:
        emit(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", output)
        return
    if fmt is not Format.table:
        header = keys if fmt is Format.csv else [_TITLES.get(k, k) for k in keys]  # CSV: the JSON keys
        emit(text_table(header, [[_cell(r[k]) for k in keys] for r in rows], fmt), output)
        return
    cells = [[_HUMAN[k](r[k]) if k in _HUMAN else "" if r[k] is None else str(_cell(r[k])) for k in keys] for r in rows]
    numeric = [k for k in keys if k in _HUMAN or k in ("top1", "weight_layers")]
    fit = [FitColumn(_TITLES.get(k, k), tuple(row[i] for row in cells), k in numeric, _LISTING_WRAP.get(k),
                     _LISTING_DROP.get(k, 0)) for i, k in enumerate(keys)]
    with table_output(output) as console:
        table, hidden = fitted_table(fit, cells, console.width, title=title, title_justify="left", header_style="bold")
        console.print(table)
        if hidden:
            console.print(hidden_line(hidden, console.width, columns_option=False), highlight=False, style="dim")


# narrow terminals: the description wraps; then these go, in this order
_LISTING_WRAP = {"description": 20, "name": 10}
_LISTING_DROP = {"input": 1, "expect": 2, "weight_layers": 3, "act_bytes": 4, "flops": 5, "top1": 6, "description": 7}


def _cell(value):
    return "×".join(map(str, value)) if isinstance(value, list) else value


def _register_extensions() -> None:
    """Commands that live beside their subsystem (check/build, bench, plot, schema)."""
    import importlib
    for module in ("cli.check", "cli.bench", "cli.plot", "cli.spec", "cli.train", "cli.import_", "spec.schema"):
        try:
            mod = importlib.import_module(f"cnntool.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("cnntool"):
                continue  # that subsystem is not part of this build
            raise
        getattr(mod, "register")(app)


def version_callback(value: bool) -> None:
    if value:
        out.print(f"cnntool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                                help="Show the version and exit.")] = False) -> None:
    pass


_register_extensions()


def main() -> None:
    app(prog_name="cnntool")  # also under `python -m cnntool`
