"""`cnntool import TARGET -o spec.yaml`: a thin command over cnntool.torch.importer."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .exits import guard, stderr_console

__all__ = ["register"]

err = stderr_console()


def import_command(
        target: Annotated[str, typer.Argument(metavar="TARGET", show_default=False, help=(
            "A callable that returns the model: DOTTED.builder (torchvision.models.resnet50) or "
            "module:Callable (mypkg.models:MyNet)."))],
        arg: Annotated[Optional[list[str]], typer.Option(
            "--arg", "-a", metavar="KEY=VALUE", help="Keyword argument of the callable, read as YAML (repeatable).")] = None,
        input_: Annotated[str, typer.Option("--input", "-i", metavar="C,H,W", help="Input shape to trace at.")] = "3,224,224",
        output: Annotated[Optional[Path], typer.Option(
            "--output", "-o", metavar="FILE", help="Write the spec here instead of stdout.")] = None,
        allow_unsupported: Annotated[bool, typer.Option(
            "--allow-unsupported", help="Write calls with no layer kind as `opaque` nodes (not counted) instead of failing.")] = False,
) -> None:
    """Write a spec for a PyTorch model, traced with torch.fx on the meta device (no weights allocated)."""
    from ..spec.file import parse_overrides
    from .main import emit, parse_shape
    with guard(_failure_type()):
        kwargs = parse_overrides(arg or [], "--arg")
        shape = parse_shape(input_)
        from ..torch.import_spec import import_spec
        text = import_spec(target, kwargs, shape, allow_unsupported)
        emit(text, output)
    if output is not None:
        err.print(f"wrote {output} ({len(text.splitlines())} lines)")


def _failure_type() -> type[Exception]:
    """The importer's error type, imported only when the command runs (it needs torch)."""
    try:
        from ..torch.importer import ImportFailure
    except ModuleNotFoundError as exc:
        raise SystemExit(f"error: cnntool import needs torch ({exc.name} is not installed; "
                         "pip install 'cnntool[torch]')") from None
    return ImportFailure


def register(app: typer.Typer) -> None:
    """Add `import` to the cnntool app."""
    app.command("import")(import_command)
