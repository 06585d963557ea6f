"""`cnntool check` and `cnntool build`: thin typer commands over cnntool.check.run and cnntool.torch.build.

Rendering only: the checks live in cnntool.check.run. Importing this module never imports torch.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..check import run as checks
from ..check import torch_steps as check_torch
from ..check.run import CheckRun, Issue, ModelResult, Status, Step
from ..errors import SpecError, printable
from ..files import check_writable
from .exits import guard, stderr_console, stdout_console

__all__ = ["register", "CheckFormat", "check_command", "build_command"]

JSON_VERSION = 1
COLUMNS = {Step.parse: "parse", Step.expect: "expect", Step.params: "params vs torch",
           Step.fvcore: "MACs vs fvcore", Step.torchvision: "torchvision"}
MARKS = {Status.ok: "[green]✓[/]", Status.failed: "[red]✗[/]", Status.error: "[red]error[/]",
         Status.skipped: "[dim]skipped[/]", Status.none: "—"}


class CheckFormat(str, Enum):
    table = "table"
    json = "json"
    github = "github"  # GitHub Actions workflow commands: ::error file=…,line=…::…


_guard = guard  # a bad spec: its `file:line:col: error: …` on stderr and exit code 2

# -- check ---------------------------------------------------------------------------------

def check_command(
        paths: Annotated[Optional[list[str]], typer.Argument(
            help="Spec files, directories (every *.yaml and *.yml below) or built-in model names; "
                 "default: every built-in spec.", show_default=False)] = None,
        format: Annotated[CheckFormat, typer.Option("--format", "-f", help="Output format.")] = CheckFormat.table,
        fast: Annotated[bool, typer.Option("--fast", help="Only parse and `expect:` (no torch): for pre-commit.")] = False,
        jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, metavar="N",
                                          help="Check N models at a time, each in its own process.")] = 1,
) -> None:
    """Check spec files: they parse, meet their `expect:` numbers, and agree with the PyTorch module
    built from them, fvcore's counts and the torchvision model they name. Exit 0 all hold, 1 a check
    failed, 2 a spec cannot be read."""
    if not fast:  # a CI job without torch must not pass on steps 1-2 alone
        _require("torch", what="`cnntool check` (steps 3-5; `--fast` runs steps 1-2 without torch)")
    with _progress() as update, guard(checks.CheckAborted):
        run = checks.check_paths(paths or [], fast=fast, progress=update, jobs=jobs)
    if format is CheckFormat.json:
        sys.stdout.write(json.dumps(run_json(run), indent=2) + "\n")
    elif format is CheckFormat.github:
        sys.stdout.write("".join(github_line(m, i) for m in run.models for i in m.issues))
    else:
        _print_table(run)
    for model in run.models:  # unreadable specs always go to stderr, whatever the format
        for issue in model.issues:
            if issue.text:
                stderr_console().print(issue.text, markup=False)
    raise typer.Exit(run.exit_code)


@contextmanager
def _progress():
    """A progress bar on stderr (transient; silent when stderr is not a terminal)."""
    console = stderr_console()
    with Progress(TextColumn("checking {task.fields[name]:<24}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("check", total=None, name="")

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, name=name)
        yield update


def _cell(model: ModelResult, step: Step) -> str:
    result = model.step(step)
    if result is None:
        return ""
    mark = MARKS[result.status]
    if step is Step.expect and result.total:
        mark = f"{result.passed}/{result.total} {mark}"
    warned = sum(i.severity == "warning" and i.step is step for i in model.issues)
    if warned:
        mark += f" [yellow]({warned} warning{'s' * (warned > 1)})[/]"
    if result.note and result.status is not Status.skipped:
        mark += f" [dim]({escape(result.note)})[/]"
    return mark


def _print_table(run: CheckRun) -> None:
    out = stdout_console()
    table = Table(title="cnntool check", title_justify="left", header_style="bold")
    for title in ("model", "file", *COLUMNS.values(), "time"):  # text folds; counts and times stay whole
        table.add_column(title, justify="right" if title == "time" else "left", overflow="fold",
                         no_wrap=title in ("time", "expect"))
    for m in run.models:
        table.add_row(escape(printable(m.name)), escape(printable(m.file)), *(_cell(m, step) for step in COLUMNS), f"{m.seconds:.1f} s")
    out.print(table)
    skipped = {s.note for m in run.models for s in m.steps if s.status is Status.skipped}
    for note in sorted(skipped - {"--fast"}):
        out.print(f"[yellow]skipped[/] torch checks: {escape(note)}", highlight=False)
    for m in run.models:
        for issue in m.issues:
            if not issue.text:
                colour = "red" if issue.severity == "error" else "yellow"
                out.print(printable(f"{escape(str(issue.loc))}: [{colour}]{issue.severity}[/]: {escape(issue.message)}"),
                          highlight=False)
    failed = sum(m.status is not Status.ok for m in run.models)
    total = len(run.models)
    out.print(f"{total - failed} of {total} model{'s' if total != 1 else ''} "
              f"pass{'es' if total == 1 else ''}", highlight=False)


def run_json(run: CheckRun) -> dict:
    """The machine-readable result: one entry per model, its steps and its issues with locations."""
    return {"cnntool_check": JSON_VERSION, "exit_code": run.exit_code, "fast": run.fast, "models": [{
        "name": m.name, "file": m.file, "variant": m.variant, "status": m.status.value,
        "seconds": round(m.seconds, 3),
        "steps": {s.step.value: {"status": s.status.value, "passed": s.passed, "total": s.total, "note": s.note}
                  for s in m.steps},
        "issues": [{"step": i.step.value, "severity": i.severity, "message": i.message, "file": i.loc.file,
                    "line": i.loc.line, "col": i.loc.col, "text": str(i)} for i in m.issues],
    } for m in run.models]}


def _escape(text: str, prop: bool = False) -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_line(model: ModelResult, issue: Issue) -> str:
    where = [f"file={_escape(issue.loc.file, True)}"]
    if issue.loc.line:
        where += [f"line={issue.loc.line}", f"col={issue.loc.col}"]
    where.append(f"title={_escape(f'cnntool check {model.name} ({issue.step.value})', True)}")
    return f"::{issue.severity} {','.join(where)}::{_escape(issue.message)}\n"


# -- build ---------------------------------------------------------------------------------

def build_command(
        model: Annotated[str, typer.Argument(help="Built-in model or spec file (FILE.yaml:VARIANT).", metavar="MODEL",
                                             show_default=False)],
        print_module: Annotated[bool, typer.Option("--print", help="Print the torch module.")] = False,
        export: Annotated[Optional[Path], typer.Option(
            "--export", help="Save a torch.export program, dynamic batch (.pt2; torch.export.load).")] = None,
        onnx: Annotated[Optional[Path], typer.Option("--onnx", help="Save an ONNX graph (needs `onnx`).")] = None,
        input: Annotated[Optional[str], typer.Option("--input", "-i", metavar="C,H,W",
                                                     help="Input shape (default: the spec's).")] = None,
        set: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE",
                                                         help="Override a spec argument (repeatable).")] = None,
) -> None:
    """Build the PyTorch module of a spec: print it or export it."""
    _require("torch", what="`cnntool build`")
    if onnx is not None:
        _require("onnx", "onnxscript", what="`cnntool build --onnx`", install="pip install onnx onnxscript")
    from ..torch import build as torchbuild
    from .main import parse_shape
    from ..spec.file import parse_overrides
    from ..spec.zoo import resolve
    real = export is not None or onnx is not None  # exporting traces real tensors; printing needs none
    with _guard():
        check_writable(export, "--export")  # before the build and a 15 s export
        check_writable(onnx, "--onnx")
        shape = parse_shape(input)
        spec_model = resolve(model).model(parse_overrides(set or []), shape)
        net = torchbuild.build(spec_model, shape, device=None if real else "meta")
    if print_module or not real:
        print(net)
    typer.echo(f"{spec_model.name}: {sum(p.numel() for p in net.parameters()):,} parameters", err=True)
    for path, save, what in ((export, torchbuild.export_program, "torch.export program"),
                             (onnx, torchbuild.export_onnx, "ONNX model")):
        if path is not None:
            try:
                save(net, spec_model, path, shape)
            except SpecError as exc:  # the path cannot be written (cnntool.files): exit 2, the old file kept
                stderr_console().print(str(exc), markup=False)
                raise typer.Exit(2) from None
            except (RuntimeError, ValueError, TypeError, OSError) as exc:  # the exporter's own message
                stderr_console().print(f"error: {what} export failed: {exc}", markup=False)
                raise typer.Exit(1) from None
            typer.echo(f"wrote {path} ({what})", err=True)


def _require(*modules: str, what: str, install: str = check_torch.INSTALL) -> None:
    """Exit 2 with a clear message when an optional dependency is missing (never install it)."""
    for module in modules:
        why = check_torch.missing(module, install)
        if why:
            stderr_console().print(f"error: {what} cannot run: {why}", markup=False)
            raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add `check` and `build` to the cnntool app."""
    app.command("check")(check_command)
    app.command("build")(build_command)
