"""`cnntool spec MODEL`: a built-in model (or one variant of any spec file) as a standalone spec file.

`spec` rather than `init`: like `schema` it prints a document (to stdout, or `-o FILE`), and it
works on any spec, not only when starting a project.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .exits import guard

__all__ = ["register", "spec_command"]


def spec_command(
        model: Annotated[str, typer.Argument(help="Built-in model (see `cnntool list`) or FILE.yaml:VARIANT.",
                                             metavar="MODEL", show_default=False)],
        output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE",
                                                       help="Write to this file instead of stdout.")] = None,
) -> None:
    """Write a model as a standalone spec file to edit: `cnntool spec vgg16 -o vgg16.yaml`."""
    from ..spec.export import export_spec
    from ..spec.zoo import resolve
    from .main import emit
    with guard():
        entry = resolve(model)
        text = entry.spec.path.read_text(encoding="utf-8")
        emit(export_spec(entry.spec, entry.variant, text, f"cnntool spec {model}"), output)
    if output is not None:
        typer.echo(f"wrote {output} ({entry.name}); try `cnntool summary {output}`", err=True)


def register(app: typer.Typer) -> None:
    """Add `spec` to the cnntool app."""
    app.command("spec")(spec_command)
