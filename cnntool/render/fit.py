"""Fit a rich table to the terminal without ever cutting a number.

rich squeezes every column of a table that is too wide, numbers included (`10…`). Here the widths
are decided before rich sees the table: text columns wrap (or fold) down to a floor, and when even
that does not fit, whole columns are dropped in a stated order and the caller says which. Every
kept number column is at least as wide as its widest cell, so a number is always shown whole.
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

__all__ = ["FitColumn", "fit_widths", "fitted_table", "fitted_rows", "hidden_line"]


@dataclass(frozen=True)
class FitColumn:
    """A column to fit: its cells (footer included) and how it may give way."""

    title: str
    cells: tuple[str, ...]
    numeric: bool = False
    wrap_min: int | None = None  # text that may wrap or fold down to this width; None: kept whole
    drop: int = 0                # 1 is dropped first, 2 next, ...; 0 is never dropped
    grow: int = 2                # with room to spare, lower grows first (number columns: 1)

    @property
    def natural(self) -> int:
        return max([cell_len(self.title), *(cell_len(c) for c in self.cells)])

    @property
    def minimum(self) -> int:
        """Numbers whole, and no word of the header broken (it may wrap between words)."""
        word = max(cell_len(w) for w in self.title.split() or [""])
        if self.numeric:
            return max([word, *(cell_len(c) for c in self.cells)])
        return self.natural if self.wrap_min is None else min(self.natural, max(word, self.wrap_min))


def _overhead(n: int) -> int:
    return 3 * n + 1  # rich's box: a padding space each side of every cell, n + 1 rules


def fit_widths(columns: list[FitColumn], width: int) -> list[int | None]:
    """A width per column (None: dropped) so that the table fits in `width` cells, if it can."""
    alive = list(range(len(columns)))
    order = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: columns[i].drop)
    while True:
        widths = {i: columns[i].minimum for i in alive}
        spare = width - sum(widths.values()) - _overhead(len(alive))
        if spare >= 0 or not order:
            break
        alive.remove(order.pop(0))
    for i in sorted(alive, key=lambda i: min(columns[i].grow, 1) if columns[i].numeric else columns[i].grow):
        grow = max(0, min(spare, columns[i].natural - widths[i]))
        widths[i] += grow
        spare -= grow
    return [widths.get(i) for i in range(len(columns))]


def fitted_table(columns: list[FitColumn], rows: list[list[str]], width: int | None,
                 footer: list[str] | None = None, **table_args) -> tuple[Table, list[str]]:
    """The rich Table at `width` (None: unlimited) and the titles of the columns left out."""
    widths = fit_widths(columns, width) if width else [c.natural for c in columns]
    table = Table(show_footer=footer is not None, **table_args)
    for i, (col, w) in enumerate(zip(columns, widths)):
        if w is not None:
            table.add_column(col.title, footer=Text(footer[i]) if footer else "", width=w,
                             justify="right" if col.numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell, w in zip(row, widths) if w is not None))
    return table, [c.title for c, w in zip(columns, widths) if w is None]


def fitted_rows(columns: list[FitColumn], rows: list[list[str]], width: int | None,
                **table_args) -> tuple[Table, list[str]]:
    """`fitted_table` for columns given without their cells: each takes its cells from `rows`."""
    cols = [FitColumn(c.title, tuple(r[i] for r in rows), c.numeric, c.wrap_min, c.drop, c.grow)
            for i, c in enumerate(columns)]
    return fitted_table(cols, rows, width, **table_args)


def hidden_line(hidden: list[str], width: int | None, columns_option: bool = True, formats: str = "csv|json") -> str:
    """What was left out to fit, and how to get it back."""
    pick = "pick columns with --columns, or " if columns_option else ""
    return f"(not shown at {width} columns: {', '.join(hidden)}; {pick}use a wider terminal or --format {formats})"
