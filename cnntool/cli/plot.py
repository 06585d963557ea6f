"""`cnntool plot zoo` and `cnntool plot layers MODEL`: thin commands over cnntool.render.plot."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console

from ..analysis.analyze import analyze
from . import exits
from ..check.torch_steps import missing
from ..render.plot import PlotError, PlotUnavailable, check_output, draw_layers, draw_zoo, zoo_points
from ..spec.file import parse_overrides
from ..spec.zoo import resolve, zoo

__all__ = ["register"]

err = exits.stderr_console()
out = Console(highlight=False, soft_wrap=True)

OutputOpt = Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Image to write: .png, .svg or .pdf.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE",
                                                     help="Override a spec argument (repeatable).")]


@contextmanager
def guard() -> Iterator[None]:
    """A bad spec, a missing matplotlib or an unknown image type: a message and exit code 2.

    matplotlib is looked for first, so that a core install says so before analysing anything.
    """
    with exits.guard(PlotError):
        if missing("matplotlib", "pip install 'cnntool[plot]'"):
            raise PlotUnavailable("plotting needs matplotlib: pip install 'cnntool[plot]'")
        yield


def plot_zoo(output: OutputOpt) -> None:
    """Published top-1 vs MACs for every built-in model that records its accuracy (bubble ∝ params)."""
    with guard():
        check_output(output)
        points, skipped = zoo_points(zoo().values())
        if not points:
            raise PlotError("no built-in model records a top-1 accuracy with its source")
        draw_zoo(points, output)
    out.print(f"wrote {output} ({len(points)} models)")
    if skipped:
        out.print(f"note: {len(skipped)} models skipped, no `accuracy: {{top1, source}}` in their spec: "
                  + ", ".join(skipped))


def plot_layers(model: Annotated[str, typer.Argument(help="Built-in model or spec file (FILE.yaml:VARIANT).", metavar="MODEL")],
                output: OutputOpt, set_: SetOpt = None) -> None:
    """Per-layer MACs and parameters of one model (its conv, deconv and linear layers)."""
    with guard():
        check_output(output)
        report = analyze(resolve(model).model(parse_overrides(set_ or [])))
        draw_layers(report, output)
    out.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add the `plot` command group to the `cnntool` app."""
    group = typer.Typer(cls=exits.CliGroup, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                        help="Charts of the zoo or of one model (needs matplotlib: pip install 'cnntool[plot]').")
    group.command("zoo")(plot_zoo)
    group.command("layers")(plot_layers)
    app.add_typer(group, name="plot")
