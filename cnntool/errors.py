"""Errors that point at the spec entry responsible, compiler-style (file:line:col)."""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Loc", "SpecError", "UNKNOWN", "CONTROL", "printable"]

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1


def printable(text: str) -> str:
    """Text safe for a terminal: control characters (ESC clears screens, sets titles) as \\xNN."""
    return CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


@dataclass(frozen=True, slots=True)
class Loc:
    """A position in a spec file; line and column are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.line else self.file


UNKNOWN = Loc("<spec>", 0, 0)


class SpecError(Exception):
    """A spec that cannot be read or analysed. The CLI prints it and exits with code 2."""

    def __init__(self, message: str, loc: Loc = UNKNOWN, *, hint: str = "", trace: tuple[Loc, ...] = ()):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint
        self.trace = trace  # where the block holding `loc` was called from, innermost first

    def __str__(self) -> str:
        lines = [f"{self.loc}: error: {self.message}"]
        previous, repeats = None, 0
        for call in (*self.trace, None):  # collapse a recursion's identical call sites
            if call == previous:
                repeats += 1
                continue
            if previous is not None:
                lines.append(f"{previous}: note: in the block called here" + (f" ({repeats + 1}×)" if repeats else ""))
            previous, repeats = call, 0
        if self.hint:
            lines.append(f"{self.loc}: hint: {self.hint}")
        return printable("\n".join(lines))  # file names and values come from the user
