"""The typer commands, through CliRunner on an app built with register()."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import typer
from benchkit import LayoutSensitive, tiny_source
from typer.testing import CliRunner

from cnntool.bench import cli
from cnntool.bench.errors import BenchError

QUICK = ["--iters", "5", "--warmup", "1", "--warmup-time", "0", "--threads", "1"]
runner = CliRunner()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """A small app with the bench commands; the spec engine is replaced by a tiny model."""
    seen: dict = {}

    def fake_source(ref: str, args: dict, input_shape):
        seen.update(ref=ref, args=args, input_shape=input_shape)
        factory = LayoutSensitive if ref == "layout-bug" else None
        return tiny_source(factory) if factory else tiny_source()

    monkeypatch.setattr(cli, "load_source", fake_source)
    app = typer.Typer()
    app.callback()(lambda: None)
    cli.register(app)
    app.seen = seen  # type: ignore[attr-defined]
    return app


def _bench_json(app: typer.Typer, tmp_path: Path, name: str, *extra: str) -> Path:
    res = runner.invoke(app, ["bench", "tiny", "--format", "json", *QUICK, *extra])
    assert res.exit_code == 0, res.output
    path = tmp_path / name
    path.write_text(res.stdout)
    return path


def test_table_output(app: typer.Typer) -> None:
    res = runner.invoke(app, ["bench", "tiny", "--batch", "1,2", "--dtype", "bf16", "--per-layer",
                              "--set", "width=2", "--input", "3,16,16", *QUICK])
    assert res.exit_code == 0, res.output
    for text in ("img/s", "p99 ms", "check: pass", "per layer", "autocast=bfloat16"):
        assert text in res.stdout
    assert app.seen == {"ref": "tiny", "args": {"width": 2}, "input_shape": (3, 16, 16)}


def test_json_output_is_parseable(app: typer.Typer) -> None:
    res = runner.invoke(app, ["bench", "tiny", "--format", "json", "--batch", "1,4", "--repeats", "6", *QUICK])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["schema"] == "cnntool.bench/1" and [r["batch"] for r in data["rows"]] == [1, 4]
    assert len(data["rows"][0]["throughput"]["samples_img_s"]) == 6
    assert data["config"]["threads"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "tpu"], "unknown device"),
    (["--device", "cuda:7"], "cuda:7"),
    (["--batch", "1,x"], "bad batch list"),
    (["--batch", "4,4"], "duplicate"),
    (["--input", "3,0,8"], "bad input shape"),
    (["--iters", "3", "--budget", "2"], "not both"),
    (["--cuda-graphs"], "needs a CUDA device"),
    (["--set", "novalue"], "KEY=VALUE"),
])
def test_bad_input_exits_2_without_traceback(app: typer.Typer, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["bench", "tiny", *QUICK, *args])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_failed_check_exits_1(app: typer.Typer) -> None:
    res = runner.invoke(app, ["bench", "layout-bug", "--channels-last", *QUICK])
    assert res.exit_code == 1 and "check: fail" in res.stdout and "correctness check failed" in res.stderr


def test_bench_compare(app: typer.Typer, tmp_path: Path) -> None:
    a = _bench_json(app, tmp_path, "a.json", "--batch", "1,2")
    b = _bench_json(app, tmp_path, "b.json", "--batch", "2,1")
    res = runner.invoke(app, ["bench-compare", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "B/A" in res.stdout and "significant" in res.stdout
    res = runner.invoke(app, ["bench-compare", str(a), str(b), "--format", "json"])
    rows = json.loads(res.stdout)
    assert [r["batch"] for r in rows] == [1, 2]
    ra = json.loads(a.read_text())["rows"][0]
    assert rows[0]["a_img_s"] == ra["throughput"]["median_img_s"]
    assert rows[0]["throughput_ratio"] == pytest.approx(rows[0]["b_img_s"] / rows[0]["a_img_s"])
    assert isinstance(rows[0]["throughput_significant"], bool)


def test_compare_significance_rule(tmp_path: Path) -> None:
    from cnntool.bench.compare import compare

    def result(median: float, iqr: float) -> dict:
        row = {"batch": 8, "status": "ok",
               "throughput": {"median_img_s": median, "iqr_img_s": iqr},
               "latency": {"p50_s": 8 / median, "iqr_s": 0.0}}
        return {"schema": "cnntool.bench/1", "precision": {"effective": "fp16"}, "rows": [row]}

    assert compare(result(100, 5), result(111, 5))[0].throughput_significant  # 11 > 5 + 5
    assert not compare(result(100, 5), result(110, 5))[0].throughput_significant  # 10 = 5 + 5
    assert not compare(result(100, 5), result(92, 5))[0].throughput_significant
    assert compare(result(100, 1), result(108, 1))[0].latency_significant


def test_bench_compare_bad_files(app: typer.Typer, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something-else"}')
    for args in ([str(junk), str(junk)], [str(other), str(other)], [str(tmp_path / "no.json"), str(junk)]):
        res = runner.invoke(app, ["bench-compare", *args])
        assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output


def test_compare_without_common_rows(app: typer.Typer, tmp_path: Path) -> None:
    a = _bench_json(app, tmp_path, "a.json", "--batch", "1")
    b = _bench_json(app, tmp_path, "b.json", "--batch", "2")
    res = runner.invoke(app, ["bench-compare", str(a), str(b)])
    assert res.exit_code == 2 and "no batch size" in res.output


def test_glue_turns_spec_errors_into_bench_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnntool

    try:
        from cnntool.errors import SpecError
    except ImportError:  # the spec engine has not landed: stand in for it
        class SpecError(Exception):  # type: ignore[no-redef]
            pass
        monkeypatch.setitem(sys.modules, "cnntool.errors", types.SimpleNamespace(SpecError=SpecError))

    def bad_load(ref, args=None):
        raise SpecError("m.yaml:3:5: error: unknown layer kind 'cnv'")

    monkeypatch.setattr(cnntool, "load", bad_load, raising=False)
    with pytest.raises(BenchError, match="m.yaml:3:5"):
        cli.load_source("m.yaml", {}, None)


def test_glue_builds_a_model_source(monkeypatch: pytest.MonkeyPatch) -> None:
    import cnntool

    if "cnntool.errors" not in sys.modules:
        try:
            import cnntool.errors  # noqa: F401
        except ImportError:
            monkeypatch.setitem(sys.modules, "cnntool.errors",
                                types.SimpleNamespace(SpecError=type("SpecError", (Exception,), {})))
    row = types.SimpleNamespace(name="stage1.conv", kind="conv", macs=10, flops=20, params=3)
    report = types.SimpleNamespace(totals=types.SimpleNamespace(macs=100, flops=200, params=30), layers=[row])
    model = types.SimpleNamespace(name="m", input_shape=(3, 8, 8))
    monkeypatch.setattr(cnntool, "load", lambda ref, args=None: model, raising=False)
    monkeypatch.setattr(cnntool, "analyze", lambda m, batch=1, input_shape=None: report, raising=False)
    monkeypatch.setattr(cnntool, "build", lambda m, input_shape=None: ("built", input_shape), raising=False)
    src = cli.load_source("m", {}, (3, 4, 4))
    assert (src.name, src.input_shape, src.macs_per_image, src.params) == ("m", (3, 4, 4), 100, 30)
    assert src.layers[0].name == "stage1.conv" and src.factory() == ("built", (3, 4, 4))

    def bad_build(m, input_shape=None):
        raise sys.modules["cnntool.errors"].SpecError("conv1 (conv): cannot build the torch module")

    monkeypatch.setattr(cnntool, "build", bad_build, raising=False)
    with pytest.raises(BenchError, match="cannot build"):
        cli.load_source("m", {}, None).factory()


def test_cli_module_does_not_import_torch() -> None:
    root = Path(__file__).resolve().parents[2]
    code = "import sys, cnntool.bench.cli; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
