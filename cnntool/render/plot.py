"""Charts: the zoo's "top-1 vs operations" bubble chart and one model's per-layer costs.

Collecting (``zoo_points``) calls the analysis; drawing (``draw_zoo``, ``draw_layers``) only
draws what it is given. matplotlib is imported inside the drawing functions and only through
``matplotlib.figure.Figure``, which renders PNG with Agg (and SVG/PDF with their own backends)
without touching pyplot's global state or the user's backend.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..analysis.analyze import analyze
from ..analysis.report import Report
from ..files import check_writable, write_output
from ..spec.zoo import ZooEntry

__all__ = ["ZooPoint", "PlotError", "PlotUnavailable", "FORMATS", "check_output", "zoo_points",
           "draw_zoo", "draw_layers"]

FORMATS = (".png", ".svg", ".pdf")


class PlotError(Exception):
    """A chart that cannot be drawn: the CLI prints it and exits with code 2."""


class PlotUnavailable(PlotError):
    """matplotlib is not installed."""


def check_output(path: Path) -> None:
    """Refuse an image type or a path we cannot write before any work is done."""
    if path.suffix.lower() not in FORMATS:
        raise PlotError(f"cannot write {path.name}: use one of {', '.join(FORMATS)}")
    check_writable(path)


@dataclass(frozen=True, slots=True)
class ZooPoint:
    name: str
    family: str  # the spec file's `name`, for colour
    macs: int
    params: int
    top1: float
    source: str


def zoo_points(entries: Iterable[ZooEntry]) -> tuple[list[ZooPoint], list[str]]:
    """Models whose spec records a top-1 accuracy with its source, and the names skipped."""
    points, skipped = [], []
    for entry in entries:
        model = entry.model()
        top1, source = model.accuracy.get("top1"), model.accuracy.get("source")
        if not isinstance(top1, (int, float)) or isinstance(top1, bool) or not source:
            skipped.append(entry.name)
            continue
        totals = analyze(model).totals
        points.append(ZooPoint(entry.name, entry.spec.name, totals.macs, totals.params, float(top1), str(source)))
    return points, skipped


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'cnntool[plot]'") from None
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path) -> None:
    """Render in memory, then one write by cnntool.files (an old image survives a failed write)."""
    check_output(path)
    image = io.BytesIO()
    fig.savefig(image, format=path.suffix.lower()[1:], dpi=150)
    write_output(path, image.getvalue())


def _label_offsets(points: list[ZooPoint]) -> list[tuple[int, int]]:
    """Put a label below its bubble when it would run into the label of a close neighbour."""
    import math
    placed: list[tuple[float, float]] = []
    offsets = []
    for p in points:
        x, y = math.log10(p.macs), p.top1
        crowded = any(abs(x - px) < 0.12 and abs(y - py) < 1.2 for px, py in placed)
        offsets.append((6, -12) if crowded else (6, 6))
        placed.append((x, y))
    return offsets


def draw_zoo(points: list[ZooPoint], path: Path) -> None:
    """Published top-1 against conv+linear MACs (log x); bubble area ∝ parameters."""
    from matplotlib.ticker import FuncFormatter, LogLocator
    fig = _figure(9, 6)
    ax = fig.subplots()
    area = lambda params: params / 1e6 * 6  # noqa: E731  (points², 6 per million parameters)
    families = list(dict.fromkeys(p.family for p in points))
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    for family in families:
        mine = [p for p in points if p.family == family]
        ax.scatter([p.macs / 1e9 for p in mine], [p.top1 for p in mine], s=[area(p.params) for p in mine],
                   alpha=0.45, color=colours[family], edgecolor=colours[family], label=family)
    ordered = sorted(points, key=lambda p: (p.macs, p.top1))
    for p, offset in zip(ordered, _label_offsets(ordered)):
        ax.annotate(p.name, (p.macs / 1e9, p.top1), textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("multiply-accumulates per image, conv + linear (G, log scale)")
    ax.set_ylabel("published top-1 accuracy (%)")
    ax.set_title("Top-1 accuracy vs operations (bubble area ∝ parameters)")
    ax.grid(True, which="major", alpha=0.3)
    first = ax.legend(loc="upper left", title="family", fontsize=8)
    for handle in first.legend_handles:
        handle.set_sizes([40])
    ax.add_artist(first)
    keys = [ax.scatter([], [], s=area(m * 1e6), alpha=0.45, color="grey") for m in (10, 50, 150)]
    ax.legend(keys, ["10 M params", "50 M params", "150 M params"], loc="lower right",
              labelspacing=1.5, borderpad=1)
    ax.margins(x=0.15, y=0.08)
    _save(fig, path)


def draw_layers(report: Report, path: Path) -> None:
    """MACs and parameters of every layer that multiplies (conv, deconv, linear), in graph order."""
    rows = [row for row in report.layers if row.macs > 0]
    fig = _figure(max(8.0, min(0.18 * len(rows), 40.0)), 7)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = range(len(rows))
    top.bar(x, [r.macs / 1e6 for r in rows], color="tab:orange")
    bottom.bar(x, [r.params / 1e6 for r in rows], color="tab:green")
    top.set_ylabel("MACs (M)")
    bottom.set_ylabel("parameters (M)")
    top.set_title(f"{report.model}: per-layer cost, input {list(report.input)}, batch {report.batch} — "
                  f"{report.totals.macs / 1e9:.3g} G MACs, {report.totals.params / 1e6:.3g} M params")
    if len(rows) <= 80:
        bottom.set_xticks(list(x), [r.name for r in rows], rotation=90, fontsize=7)
    else:
        bottom.set_xlabel(f"{len(rows)} conv / deconv / linear layers in graph order")
    for ax in (top, bottom):
        ax.grid(True, axis="y", alpha=0.3)
    _save(fig, path)
