"""The one place where an error the user can fix becomes a message on stderr and exit code 2."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

import typer
from rich.console import Console
from typer.core import TyperGroup

from ..errors import SpecError, printable

try:  # typer 0.29 vendors click; older releases use click itself
    from typer._click import exceptions as clicks
except ImportError:  # pragma: no cover
    from click import exceptions as clicks

__all__ = ["guard", "CliGroup", "stdout_console", "stderr_console"]


@contextmanager
def guard(*also: type[Exception]) -> Iterator[None]:
    """A SpecError prints as `file:line:col: error: …`; the errors in `also` as `error: …`."""
    err = stderr_console()
    try:
        yield
    except SpecError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    except also as exc:
        err.print(printable(f"error: {exc}"), markup=False)
        raise typer.Exit(2) from None


def stdout_console() -> Console:
    """Tables at the terminal's width, or $COLUMNS when it is set; piped without it (CI logs,
    files), 200 columns, so that names are not folded into 80."""
    wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS", "").isdigit()
    return Console(soft_wrap=False, width=200 if wide else None)


def stderr_console() -> Console:
    """Errors and warnings: one logical line each, never wrapped at the terminal width."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


class CliGroup(TyperGroup):
    """click's usage errors in our voice (`--depth: error: …` and a hint, exit 2), not `Error: Invalid value`."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except clicks.UsageError as exc:
            if isinstance(exc, getattr(clicks, "NoArgsIsHelpError", ())):
                exc.show()  # `cnntool` alone: the help
            else:
                param = getattr(exc, "param", None)
                help_path = exc.ctx.command_path if exc.ctx else "cnntool"
                option = param is not None and getattr(param, "param_type_name", "") == "option"
                where = max(param.opts, key=len) if option else help_path
                stderr_console().print(f"{where}: error: {exc.format_message()}", markup=False)
                stderr_console().print(f"{where}: hint: `{help_path} --help` lists the arguments and options", markup=False)
            sys.exit(exc.exit_code)
        except clicks.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except clicks.Abort:
            stderr_console().print("Aborted.", markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list with each command's whole first sentence, not click's cut at '...'."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, cmd.get_short_help_str(limit=10**6)) for name, cmd in commands if cmd and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
