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

from cnntool.cli import bench as cli
from cnntool.bench.errors import BenchError

QUICK = ["--iters", "5", "--warmup", "1", "--warmup-time", "0", "--threads", "1"]
runner = CliRunner()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """A small app with the bench commands; the spec engine is replaced by a tiny model."""
    seen: dict = {}

    def fake_source(ref: str, args: dict, input_shape, config=None):
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


@pytest.mark.slow  # a real torch build, trace or timing
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


@pytest.mark.slow  # a real torch build, trace or timing
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


@pytest.mark.slow  # a real torch build, trace or timing
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
    code = "import sys, cnntool.cli.bench; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# --- bench-compare refuses different models/shapes, warns about other differences ---

def _edit(path: Path, dest: Path, edit) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    dest.write_text(json.dumps(data))
    return dest


@pytest.mark.slow  # a real torch build, trace or timing
def test_compare_refuses_different_models_and_shapes(app: typer.Typer, tmp_path: Path) -> None:
    a = _bench_json(app, tmp_path, "a.json", "--batch", "1,2")
    other = _edit(a, tmp_path / "c.json", lambda d: d["model"].update(name="lenet5"))
    shape = _edit(a, tmp_path / "s.json", lambda d: d["model"].update(input_shape=[3, 64, 64]))
    for x, y in ((a, other), (other, a)):
        res = runner.invoke(app, ["bench-compare", str(x), str(y)])
        assert res.exit_code == 2 and "B/A" not in res.stdout
        assert f"error: cannot compare {x} with {y}: models differ" in res.stderr
        assert ("(tiny vs lenet5)" if x == a else "(lenet5 vs tiny)") in res.stderr
    res = runner.invoke(app, ["bench-compare", "-f", "json", str(a), str(shape)])
    assert res.exit_code == 2 and res.stdout == ""
    assert "input shapes differ (3x16x16 vs 3x64x64)" in res.stderr and "models differ" not in res.stderr


@pytest.mark.slow  # a real torch build, trace or timing
def test_compare_warns_about_each_difference_and_still_compares(app: typer.Typer, tmp_path: Path) -> None:
    a = _bench_json(app, tmp_path, "a.json", "--batch", "1,2")
    # tf32 on CPU runs fp32: rows still match on the effective dtype
    b = _bench_json(app, tmp_path, "b.json", "--batch", "1,2", "--channels-last", "--dtype", "tf32")
    b = _edit(b, tmp_path / "b2.json", lambda d: d["environment"].update(torch="9.9.9", cudnn=90100))
    res = runner.invoke(app, ["bench-compare", str(a), str(b)])
    assert res.exit_code == 0 and "B/A" in res.stdout
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert "warning: A and B differ in channels_last: false vs true" in warnings
    assert "warning: A and B differ in dtype: fp32 vs tf32" in warnings
    torch_version = json.loads(a.read_text())["environment"]["torch"]
    assert f"warning: A and B differ in torch: {torch_version} vs 9.9.9" in warnings
    assert any(w.startswith("warning: A and B differ in cudnn: ") and w.endswith(" vs 9.1.0") for w in warnings)
    assert len(warnings) == 4
    res = runner.invoke(app, ["bench-compare", "-f", "json", str(a), str(b)])  # -f: short --format
    assert res.exit_code == 0 and [r["batch"] for r in json.loads(res.stdout)] == [1, 2]
    assert "differ in channels_last" in res.stderr
    same = runner.invoke(app, ["bench-compare", str(a), str(a)])
    assert same.exit_code == 0 and same.stderr == ""


def test_compare_missing_file_in_cnntools_voice(app: typer.Typer, tmp_path: Path) -> None:
    a = _bench_json(app, tmp_path, "a.json")
    missing = tmp_path / "a-file-that-is-not-there.json"
    for args in ([str(missing), str(a)], [str(a), str(missing)]):
        res = runner.invoke(app, ["bench-compare", *args], env={"COLUMNS": "60"})
        assert res.exit_code == 2
        assert res.stderr == f"error: cannot read {missing}: no such file\n"  # one line, cnntool.files wording
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    res = runner.invoke(app, ["bench-compare", str(junk), str(a)])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: cannot read {junk}: not JSON (")


# --- text output: lines are not wrapped, numbers have one format ---

P99_WARNING = ("warning: p99 from fewer than 100 latency samples is close to the maximum; "
               "use more --iters for a real tail")


@pytest.mark.slow  # a real torch build, trace or timing
def test_header_warnings_and_errors_are_not_wrapped(app: typer.Typer) -> None:
    res = runner.invoke(app, ["bench", "tiny", "--batch", "1,2", *QUICK], env={"COLUMNS": "60"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert any(line.startswith("dtype fp32 (effective fp32): TF32 matmul=off cudnn=off, "
                               "matmul precision=highest, cudnn.benchmark=off, autocast=off")
               for line in lines)
    assert P99_WARNING in lines
    res = runner.invoke(app, ["bench", "tiny", "-f", "json", *QUICK], env={"COLUMNS": "60"})
    assert res.exit_code == 0 and P99_WARNING in res.stderr.splitlines()
    res = runner.invoke(app, ["bench", "tiny", "--iters", "3", "--budget", "2", "--set",
                              "a-rather-long-argument-without-an-equals-sign-to-pass-60-columns"],
                        env={"COLUMNS": "60"})
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1


def _significant_digits(cell: str) -> int:
    digits = cell.replace(".", "").lstrip("0")
    return len(digits)


def test_table_numbers_have_three_significant_figures(app: typer.Typer) -> None:
    res = runner.invoke(app, ["bench", "tiny", "--batch", "1,2", "--per-layer", *QUICK])
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.stdout.splitlines() if line.split()[1:2] == ["ok"]]
    assert len(rows) == 2
    for cells in rows:  # batch status img/s IQR p50 p90 p99 TFLOP/s MFU
        for cell in cells[4:8]:
            assert _significant_digits(cell) == 3 or ("." not in cell and float(cell) >= 1000), cells


def test_cpu_header_shows_torch_and_cpu_but_not_cuda(app: typer.Typer) -> None:
    import torch

    res = runner.invoke(app, ["bench", "tiny", *QUICK])
    assert res.exit_code == 0, res.output
    assert f"torch {torch.__version__}" in res.stdout.splitlines()
    assert "CUDA" not in res.stdout and "cuDNN" not in res.stdout
    assert "device cpu (" in res.stdout and "1 torch thread\n" in res.stdout


def test_cuda_header_formats_cudnn_as_a_version() -> None:
    from cnntool.bench.report import versions

    env = {"torch": "2.5.1", "cuda_runtime": "12.4", "cudnn": 92400, "device": "cuda:1"}
    assert versions(env) == "torch 2.5.1, CUDA 12.4, cuDNN 9.24.0"
    assert versions({**env, "cudnn": 8902}) == "torch 2.5.1, CUDA 12.4, cuDNN 8.9.2"
    assert versions({**env, "cudnn": None}) == "torch 2.5.1, CUDA 12.4"
    assert versions({**env, "device": "mps"}) == versions({**env, "device": "cpu"}) == "torch 2.5.1"


# --- documentation matches the help ---

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bench.md"


def _help(command: str) -> str:
    """The command's help as `cnntool` prints it (plain, not rich panels), whitespace collapsed."""
    plain = typer.Typer(rich_markup_mode=None)
    plain.callback()(lambda: None)
    cli.register(plain)
    res = runner.invoke(plain, [command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return " ".join(res.stdout.split())


def test_warmup_cap_is_documented(app: typer.Typer) -> None:
    from cnntool.bench.measure import MAX_WARMUP_ITERS

    cap = f"{MAX_WARMUP_ITERS:,}"
    assert f"warm-up stops after {cap} iterations" in _help("bench")
    docs = " ".join(DOCS.read_text().split())
    assert f"never more than {cap} iterations" in docs and f"stops at {cap} iterations" in docs


@pytest.mark.parametrize(("command", "start", "end"), [
    ("bench", "## Options", "## JSON"),
    ("bench-compare", "## `cnntool bench-compare", "## Python API"),
])
def test_docs_options_tables_list_every_option_as_the_help_does(
        app: typer.Typer, command: str, start: str, end: str) -> None:
    import re

    docs = DOCS.read_text()
    rows = [line for line in docs[docs.index(start):docs.index(end)].splitlines() if line.startswith("| `")]
    params = typer.main.get_command(app).commands[command].params
    options = [[*p.opts, *p.secondary_opts] for p in params if p.param_type_name == "option"]
    assert {"-f", "--format"} in [set(o) for o in options]
    help_text = _help(command)
    for opts in options:
        if len(opts) == 2 and opts[0].startswith("--") != opts[1].startswith("--"):  # short form
            assert f"{min(opts, key=len)}, {max(opts, key=len)}" in help_text
        found = [r for r in rows if all(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", r) for o in opts)]
        assert found, f"{command}: {opts} missing from the options table in docs/bench.md"
