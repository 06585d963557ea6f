"""End to end through the real spec engine (skipped until it provides load/analyze/build)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

import cnntool
from cnntool.cli import bench as cli

pytestmark = pytest.mark.skipif(
    not all(hasattr(cnntool, f) for f in ("load", "analyze", "build")), reason="spec engine not present"
)


@pytest.mark.slow  # a real torch build, trace or timing
def test_lenet5_through_the_real_glue() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    cli.register(app)
    res = CliRunner().invoke(app, ["bench", "lenet5", "--format", "json", "--batch", "1,4", "--dtype", "bf16",
                                   "--per-layer", "--iters", "5", "--warmup", "1", "--warmup-time", "0",
                                   "--threads", "1"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    report = cnntool.analyze(cnntool.load("lenet5"))
    assert data["model"]["macs_per_image"] == report.totals.macs > 0
    assert [r["status"] for r in data["rows"]] == ["ok", "ok"]
    assert data["correctness"]["status"] == "pass"
    spec_names = {row.name for row in report.layers}
    profiled = [row["name"] for row in data["per_layer"]["layers"]]
    assert profiled and set(profiled) <= spec_names
    assert any(row["macs"] for row in data["per_layer"]["layers"])


def test_unknown_model_is_a_clean_exit_2() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    cli.register(app)
    res = CliRunner().invoke(app, ["bench", "no-such-model"])
    assert res.exit_code == 2 and "no-such-model" in res.output and "Traceback" not in res.output
