"""Turn a Report into a rich table, JSON, CSV or Markdown. Rendering never computes counts."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Callable

from rich.table import Table

from ..analysis.report import LayerRow, Report
from ..units import human, human_bytes, plain, shape_text
from .fit import FitColumn, fitted_table

__all__ = ["Format", "Column", "COLUMNS", "VIEWS", "report_json", "rows_table", "text_table",
           "JSON_VERSION", "fitted_report_table"]

JSON_VERSION = 1


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


@dataclass(frozen=True)
class Column:
    """One column: a title, the exact value (json/csv/markdown) and the human one (table)."""

    title: str
    exact: Callable[[LayerRow, Report], Any]
    human: Callable[[LayerRow, Report], str]
    total: Callable[[Report], Any] | None = None
    numeric: bool = True
    key: str = ""  # the CSV header (set from the COLUMNS key)


def _rf(row: LayerRow) -> str:
    if row.rf is None:
        return ""
    (h, w), (jh, jw) = row.rf.size, row.rf.jump
    size = f"{plain(h)}" if h == w else f"{plain(h)}×{plain(w)}"
    jump = f"{plain(jh)}" if jh == jw else f"{plain(jh)}×{plain(jw)}"
    ch, cw = row.rf.clipped
    if (ch, cw) == (h, w):
        return f"{size} (j{jump})"
    clipped = f"{plain(ch)}" if ch == cw else f"{plain(ch)}×{plain(cw)}"
    return f"{size} (j{jump}, {clipped} in image)"


def _share(value: int, total: int) -> str:
    return f"{100 * value / total:.1f}%" if total and value else ""


def _count(attr: str) -> Column:
    return Column(attr, lambda r, _: getattr(r, attr), lambda r, _: human(getattr(r, attr)) if getattr(r, attr) else "",
                  lambda rep: getattr(rep.totals, attr))


COLUMNS: dict[str, Column] = {
    "layer": Column("layer", lambda r, _: r.name, lambda r, _: r.name, lambda _: "total", numeric=False),
    "kind": Column("kind", lambda r, _: r.kind, lambda r, _: r.kind, numeric=False),
    "detail": Column("detail", lambda r, _: r.detail, lambda r, _: r.detail, numeric=False),
    "from": Column("from", lambda r, _: " ".join(r.inputs), lambda r, _: ", ".join(r.inputs), numeric=False),
    "input": Column("input (N,C,H,W)", lambda r, rep: " + ".join(shape_text(s, rep.batch) for s in r.in_shapes),
                    lambda r, rep: " + ".join(shape_text(s, rep.batch) for s in r.in_shapes), numeric=False),
    "output": Column("output (N,C,H,W)", lambda r, rep: shape_text(r.out_shape, rep.batch),
                     lambda r, rep: shape_text(r.out_shape, rep.batch), numeric=False),
    "params": _count("params"),
    "buffers": _count("buffers"),
    "params%": Column("% params", lambda r, rep: round(100 * r.params / rep.totals.params, 3) if rep.totals.params else 0,
                      lambda r, rep: _share(r.params, rep.totals.params)),
    "macs": Column("MACs", lambda r, _: r.macs, lambda r, _: human(r.macs) if r.macs else "",
                   lambda rep: rep.totals.macs),
    "macs%": Column("% MACs", lambda r, rep: round(100 * r.macs / rep.totals.macs, 3) if rep.totals.macs else 0,
                    lambda r, rep: _share(r.macs, rep.totals.macs)),
    "flops": Column("FLOPs (2·MACs+ops)", lambda r, _: r.flops, lambda r, _: human(r.flops) if r.flops else "",
                    lambda rep: rep.totals.flops),
    "fvcore": _count("fvcore"),
    "backward_macs": Column("backward MACs", lambda r, _: r.backward_macs,
                            lambda r, _: human(r.backward_macs) if r.backward_macs else "",
                            lambda rep: rep.totals.backward_macs),
    "memory": Column("output memory", lambda r, _: r.act_bytes, lambda r, _: human_bytes(r.act_bytes),
                     lambda rep: rep.totals.act_bytes),
    "rf": Column("receptive field", lambda r, _: None if r.rf is None else [plain(s) for s in r.rf.size],
                 lambda r, _: _rf(r), numeric=False),
}

COLUMNS = {key: replace(col, key=key.replace("%", "_share")) for key, col in COLUMNS.items()}

VIEWS: dict[str, list[str]] = {
    "shapes": ["layer", "kind", "detail", "from", "output", "rf"],
    "params": ["layer", "kind", "detail", "output", "params", "buffers", "params%"],
    "flops": ["layer", "kind", "detail", "output", "macs", "flops", "fvcore", "macs%"],
    "summary": ["layer", "kind", "detail", "output", "params", "macs", "flops", "memory", "rf"],
}


def report_json(report: Report) -> dict[str, Any]:
    """The stable machine interface (documented in the README). Counts are exact integers."""
    t = report.totals
    return {
        "cnntool_json": JSON_VERSION,
        "model": report.model, "variant": report.variant, "file": report.file,
        "input": list(report.input), "batch": report.batch, "dtype_bytes": report.dtype_bytes,
        "layers": [_layer_json(row) for row in report.layers],
        "totals": {"params": t.params, "buffers": t.buffers, "macs": t.macs, "flops": t.flops,
                   "fvcore": t.fvcore, "act_bytes": t.act_bytes, "input_bytes": t.input_bytes,
                   "peak_act_bytes": t.peak_act_bytes, "weight_bytes": t.weight_bytes,
                   "peers": t.peers,
                   "backward_macs": t.backward_macs, "backward_flops": t.backward_flops,
                   "training_macs": t.macs + t.backward_macs, "training_flops": t.flops + t.backward_flops,
                   "by_kind": {k: {"layers": v.layers, "params": v.params, "macs": v.macs, "flops": v.flops}
                               for k, v in sorted(t.by_kind.items())}},
        "warnings": [{"layer": w.layer, "loc": w.loc, "message": w.message} for w in report.warnings],
    }


def _layer_json(row: LayerRow) -> dict[str, Any]:
    rf = None if row.rf is None else {
        "size": [plain(v) for v in row.rf.size], "jump": [plain(v) for v in row.rf.jump],
        "start": [plain(v) for v in row.rf.start], "clipped": [plain(v) for v in row.rf.clipped]}
    return {"name": row.name, "kind": row.kind, "detail": row.detail, "inputs": list(row.inputs),
            "in_shapes": [list(s) for s in row.in_shapes], "out_shape": list(row.out_shape),
            "params": row.params, "buffers": row.buffers, "macs": row.macs, "flops": row.flops,
            "fvcore": row.fvcore, "backward_macs": row.backward_macs, "backward_flops": row.backward_flops,
            "elements": row.elements, "act_bytes": row.act_bytes, "rf": rf,
            "loc": row.loc, "arithmetic": list(row.arithmetic), "peers": row.peers}


def is_graph(report: Report) -> bool:
    """True when some layer does not simply read the one before it."""
    rows = report.layers
    return any(row.inputs != (prev.name,) for prev, row in zip(rows, rows[1:]))


def view_columns(report: Report, view: str, columns: list[str] | None = None) -> list[Column]:
    """The view's columns (`from` only for graphs), or the ones the user picked (--columns)."""
    if columns:
        return [COLUMNS[k] for k in columns]
    keys = VIEWS[view] if is_graph(report) else [k for k in VIEWS[view] if k != "from"]
    return [COLUMNS[k] for k in keys]


def rows_table(report: Report, view: str, keys: bool = False,
               columns: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and exact rows (with a total row) for csv/markdown; CSV headers are stable keys."""
    cols = view_columns(report, view, columns)
    rows = [[c.exact(r, report) for c in cols] for r in report.layers]
    if sum(1 for c in cols if c.total) > 1:  # a view without counts (shapes) has no total row
        rows.append([c.total(report) if c.total else "" for c in cols])
    return [c.key if keys else c.title for c in cols], rows


def text_table(header: list[str], rows: list[list[Any]], fmt: Format) -> str:
    if fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return buf.getvalue()
    cell = lambda v: "" if v is None else str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if _is_num(rows, i) else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _is_num(rows: list[list[Any]], i: int) -> bool:
    return all(isinstance(r[i], (int, float)) or r[i] in ("", None) for r in rows)


# narrow terminals: text gives way first (wraps, then goes in this order), then numbers from the right
_DROP = {"detail": 1, "rf": 2, "from": 3, "input": 4, "kind": 5}
_WRAP = {"layer": 12, "output": 10, "input": 10, "from": 12, "detail": 12, "rf": 8}


def fitted_report_table(report: Report, view: str, title: str, width: int | None,
                        columns: list[str] | None = None) -> tuple[Table, list[str]]:
    """The layer table at `width` terminal cells, numbers whole, and the titles left out."""
    cols = view_columns(report, view, columns)
    totals = sum(1 for c in cols if c.total) > 1  # more than the "total" label itself
    footer = [_footer(c, report) for c in cols] if totals else None
    rows = [[c.human(row, report) for c in cols] for row in report.layers]
    numeric = [i for i, c in enumerate(cols) if c.numeric]
    ranks = {i: 6 + len(numeric) - n for n, i in enumerate(numeric) if n > 0}  # the first number stays
    fit = [FitColumn(c.title, tuple(r[i] for r in rows) + ((footer[i],) if footer else ()), c.numeric,
                     _WRAP.get(c.key), _DROP.get(c.key, ranks.get(i, 0)), 0 if c.key in ("output", "input") else 2)
           for i, c in enumerate(cols)]
    return fitted_table(fit, rows, width, footer, title=title, title_justify="left", header_style="bold",
                        footer_style="bold", row_styles=["", "dim"] if len(report.layers) > 12 else None)


def _footer(c: Column, report: Report) -> str:
    value = c.total(report) if c.total else ""
    return value if isinstance(value, str) else human_bytes(value) if c.key == "memory" else human(value)
