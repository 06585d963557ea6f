"""bench-compare: two JSON results, row by row (same batch and effective dtype).

A difference is called significant when it exceeds the combined IQR
(IQR_a + IQR_b) of the two runs: of the throughput repeats for img/s, of the
latency samples for p50.

Two runs of different models or input shapes are not compared at all
(BenchError); other differences in what was run or where (CONFIG_KEYS,
ENVIRONMENT_KEYS) are listed by `differences` so the CLI can warn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console

from ..render.fit import FitColumn, fitted_rows, hidden_line
from . import fmt
from .errors import BenchError
from ..errors import SpecError
from ..files import read_bounded
from .result_schema import MAX_RESULT_BYTES, RESULT_SCHEMA
from .results import SCHEMA

# Options that change what a row measures. The batch list, iteration counts,
# repeats, warm-up, budget, check and per-layer settings change only how long
# or how often it is measured, so they may differ silently.
CONFIG_KEYS = ("device", "dtype", "channels_last", "compile_mode", "compile_backend",
               "cuda_graphs", "threads")
# Facts about the software and machine that can move the numbers.
ENVIRONMENT_KEYS = ("torch", "cuda_runtime", "cudnn", "python", "platform", "cpu_model",
                    "cpu_count", "torch_threads", "gpu_name", "gpu_capability")


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
    """Read a `cnntool bench --format json` file: a bounded read, then JSON with finite numbers,
    then the bench schema (BenchError saying where it is wrong)."""
    name = str(path)
    try:
        text = read_bounded(path, MAX_RESULT_BYTES, "bench result").decode("utf-8")
    except SpecError as exc:
        raise BenchError(f"cannot read {name}: {exc.message}") from None
    except UnicodeDecodeError:
        raise BenchError(f"cannot read {name}: not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise BenchError(f"cannot read {name}: not JSON ({exc.msg} at line {exc.lineno} "
                         f"column {exc.colno})") from None
    except RecursionError:
        raise BenchError(f"cannot read {name}: JSON nested too deeply") from None
    except ValueError as exc:  # a 5,000-digit integer, NaN, 1e999
        raise BenchError(f"cannot read {name}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BenchError(f"cannot read {name}: not a cnntool bench result (expected schema {SCHEMA})")
    _validate(data, name)
    return data


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number a bench result holds")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _validate(data: dict[str, Any], name: str) -> None:
    import jsonschema
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(RESULT_SCHEMA).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise BenchError(f"cannot read {name}: at {where}: {error.message[:200]} "
                         "(see docs/bench.md, JSON)")


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _shape(value: Any) -> str:
    return "x".join(str(d) for d in value) if isinstance(value, list) else _show(value)


def _show(value: Any) -> str:
    """A JSON value as the user typed it: true/false/null, lists as [a, b]."""
    return value if isinstance(value, str) else json.dumps(value)


def ensure_comparable(a: dict[str, Any], b: dict[str, Any], a_name: str = "A", b_name: str = "B") -> None:
    """BenchError unless both results measured the same model at the same input shape."""
    ma, mb = _section(a, "model"), _section(b, "model")
    problems = []
    if ma.get("name") != mb.get("name"):
        problems.append(f"models differ ({_show(ma.get('name'))} vs {_show(mb.get('name'))})")
    if ma.get("input_shape") != mb.get("input_shape"):
        problems.append(f"input shapes differ ({_shape(ma.get('input_shape'))} vs "
                        f"{_shape(mb.get('input_shape'))})")
    if problems:
        raise BenchError(f"cannot compare {a_name} with {b_name}: {', '.join(problems)}")


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """'key: a vs b' for each configuration, environment or model-size difference."""
    out: list[str] = []
    ma, mb = _section(a, "model"), _section(b, "model")
    for key in ("params", "macs_per_image"):  # same name, different spec arguments or analysis
        if ma.get(key) != mb.get(key):
            out.append(f"model.{key}: {_show(ma.get(key))} vs {_show(mb.get(key))}")
    ca, cb = _section(a, "config"), _section(b, "config")
    for key in CONFIG_KEYS:
        if ca.get(key) != cb.get(key):
            out.append(f"{key}: {_show(ca.get(key))} vs {_show(cb.get(key))}")
    ea, eb = _section(a, "environment"), _section(b, "environment")
    for key in ENVIRONMENT_KEYS:
        va, vb = ea.get(key), eb.get(key)
        if va != vb:
            if key == "cudnn":
                va, vb = fmt.cudnn_version(va), fmt.cudnn_version(vb)
            out.append(f"{key}: {_show(va)} vs {_show(vb)}")
    return out


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
    """Table of B vs A; 'yes' marks differences beyond the combined IQR. Fitted to the console:
    the significance, dtype and latency columns give way before any number is cut."""
    titles = [("batch", 0), ("dtype", 3), ("A img/s", 0), ("B img/s", 0), ("B/A", 0), ("sig", 2),
              ("A p50", 6), ("B p50", 5), ("B/A", 4), ("sig", 1)]  # latency goes before throughput
    cells = [[str(r.batch), r.dtype, f"{r.a_img_s:,.1f}", f"{r.b_img_s:,.1f}", f"{r.throughput_ratio:.3f}",
              "yes" if r.throughput_significant else "no", fmt.sig(r.a_p50_s * 1e3), fmt.sig(r.b_p50_s * 1e3),
              f"{r.latency_ratio:.3f}", "yes" if r.latency_significant else "no"] for r in rows]
    table, hidden = fitted_rows([FitColumn(t, (), numeric=True, drop=d) for t, d in titles], cells, console.width,
                                title=f"B = {b_name} vs A = {a_name}\n"
                                      "p50 in ms; significant: |B - A| > IQR_A + IQR_B", box=box.SIMPLE_HEAD)
    if hidden:
        table.caption = hidden_line(hidden, console.width, columns_option=False, formats="json")
    console.print(table)
