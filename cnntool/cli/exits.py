"""The one place where an error the user can fix becomes a message on stderr and exit code 2."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console

from ..errors import SpecError, printable

__all__ = ["guard"]


@contextmanager
def guard(*also: type[Exception]) -> Iterator[None]:
    """A SpecError prints as `file:line:col: error: …`; the errors in `also` as `error: …`."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        yield
    except SpecError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    except also as exc:
        err.print(printable(f"error: {exc}"), markup=False)
        raise typer.Exit(2) from None
