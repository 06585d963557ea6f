"""`cnntool bench`'s tables at any terminal width: every number whole, what is left out named."""

from __future__ import annotations

import io

import pytest
from benchkit import quick, tiny_source
from rich.console import Console

from cnntool.bench import fmt
from cnntool.bench.report import per_layer_table, render, results_table, startup_table
from cnntool.bench.runner import run_bench


@pytest.fixture(scope="module")
def result():
    return run_bench(tiny_source(), quick(batches=(1, 4), per_layer=True))


@pytest.mark.parametrize("width", [50, 60, 80, 120, 200])
def test_every_number_is_whole_at_any_width(result, width):
    buffer = io.StringIO()
    render(result, Console(file=buffer, width=width, soft_wrap=False))
    text = buffer.getvalue()
    assert "…" not in text
    fitted = [results_table(result, width), startup_table(result, width), per_layer_table(result.per_layer, width)]
    for table, _ in fitted:  # lines of text wrap softly; tables fit
        lines = io.StringIO()
        Console(file=lines, width=width).print(table)
        assert max(len(line) for line in lines.getvalue().splitlines()) <= width
    hidden = " ".join(line for line in text.splitlines() if line.startswith("(not shown"))
    for row in result.rows:  # the columns kept whole at every width, and one that gives way first
        assert f"{row.throughput.median_img_s:,.1f}" in text and fmt.sig(row.latency.p50_s * 1e3) in text
        assert fmt.sig(row.latency.p99_s * 1e3) in text or "p99 ms" in hidden
    for layer in result.per_layer.layers:
        assert fmt.sig(layer.time_s * 1e3) in text and fmt.si(layer.flops) in text
    assert bool(fitted[0][1] or fitted[1][1]) == (width < 80)  # speed and memory: whole at 80 columns
    assert bool(fitted[2][1]) == (width < 120)


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_bench_compare_keeps_numbers_whole(width):
    from cnntool.bench.compare import CompareRow, render_compare
    rows = [CompareRow(8, "fp32", 12345.6, 23456.7, 1.900, True, 0.012345, 0.0061, 0.494, True)]
    buffer = io.StringIO()
    render_compare(rows, "a.json", "b.json", Console(file=buffer, width=width, soft_wrap=False))
    text = buffer.getvalue()
    assert "…" not in text and all(len(line) <= width for line in text.splitlines())
    hidden = " ".join(text[text.find("(not shown"):].split())
    for number, column in (("12,345.6", ""), ("23,456.7", ""), ("1.900", ""), ("12.3", "A p50"), ("6.10", "B p50")):
        assert number in text or column and column in hidden, number  # throughput whole at any width
    assert ("not shown" in text) == (width < 100)  # all ten columns need 83
