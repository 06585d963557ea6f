"""bench-compare: two JSON results, row by row (same batch and effective dtype).

A difference is called significant when it exceeds the combined IQR
(IQR_a + IQR_b) of the two runs: of the throughput repeats for img/s, of the
latency samples for p50.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from .errors import BenchError
from .results import SCHEMA


@dataclass(frozen=True)
class CompareRow:
    """B relative to A for one (batch, dtype): ratios > 1 mean B is larger."""

    batch: int
    dtype: str
    a_img_s: float
    b_img_s: float
    throughput_ratio: float
    throughput_significant: bool
    a_p50_s: float
    b_p50_s: float
    latency_ratio: float
    latency_significant: bool


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a `cnntool bench --format json` file (BenchError if unreadable or foreign)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read bench result {str(path)!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BenchError(f"{str(path)!r} is not a cnntool bench result (schema {SCHEMA})")
    return data


def _rows(data: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    dtype = data["precision"]["effective"]
    return {(r["batch"], dtype): r for r in data["rows"] if r["status"] == "ok"}


def _significant(a: float, b: float, iqr_a: float, iqr_b: float) -> bool:
    return abs(b - a) > iqr_a + iqr_b


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[CompareRow]:
    """Rows present (status ok) in both runs, in A's order."""
    try:
        rows_a, rows_b = _rows(a), _rows(b)
    except (KeyError, TypeError) as exc:
        raise BenchError(f"bench result is missing field {exc}") from None
    out = []
    for key, ra in rows_a.items():
        rb = rows_b.get(key)
        if rb is None:
            continue
        ta, tb, la, lb = ra["throughput"], rb["throughput"], ra["latency"], rb["latency"]
        out.append(CompareRow(
            batch=key[0], dtype=key[1],
            a_img_s=ta["median_img_s"], b_img_s=tb["median_img_s"],
            throughput_ratio=tb["median_img_s"] / ta["median_img_s"],
            throughput_significant=_significant(ta["median_img_s"], tb["median_img_s"],
                                                ta["iqr_img_s"], tb["iqr_img_s"]),
            a_p50_s=la["p50_s"], b_p50_s=lb["p50_s"],
            latency_ratio=lb["p50_s"] / la["p50_s"],
            latency_significant=_significant(la["p50_s"], lb["p50_s"], la["iqr_s"], lb["iqr_s"]),
        ))
    return out


def render_compare(rows: list[CompareRow], a_name: str, b_name: str, console: Console) -> None:
    """Table of B vs A; 'yes' marks differences beyond the combined IQR."""
    table = Table(title=f"B = {b_name} vs A = {a_name}\n"
                  "p50 in ms; significant: |B - A| > IQR_A + IQR_B", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("batch", "dtype", "A img/s", "B img/s", "B/A", "sig", "A p50", "B p50", "B/A", "sig"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(str(r.batch), r.dtype, f"{r.a_img_s:,.1f}", f"{r.b_img_s:,.1f}",
                      f"{r.throughput_ratio:.3f}", "yes" if r.throughput_significant else "no",
                      f"{r.a_p50_s * 1e3:.3g}", f"{r.b_p50_s * 1e3:.3g}", f"{r.latency_ratio:.3f}",
                      "yes" if r.latency_significant else "no")
    console.print(table)
