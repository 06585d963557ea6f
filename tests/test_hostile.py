"""Hostile and broken input outside the spec text (issue 8): output paths, input files that are
not files, bench options and bench results, terminal escapes, `check` on models torch rejects.
Spec-text cases live in tests/bad_specs/ (one file each, with the exact message)."""
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnntool.cli.main import app
from cnntool.errors import Loc, SpecError, printable
from cnntool.files import check_writable, read_bounded, write_output

runner = CliRunner()
ROOT = os.geteuid() == 0


def _device(path: Path, minor: int) -> Path:
    """A character device of our own (1,3 is null, 1,7 is full): never aim a writer at /dev."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    return path


# -- class 1: one writer -------------------------------------------------------------------

def test_a_regular_file_is_replaced_keeping_its_mode(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    target.chmod(0o600)
    write_output(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind


def test_a_symlink_stays_a_link_and_its_target_is_written(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_output(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"


def test_a_read_only_file_is_refused_and_kept(tmp_path):
    target = tmp_path / "ro.txt"
    target.write_text("old")
    target.chmod(0o444)
    with pytest.raises(SpecError, match="it is read-only"):
        write_output(target, "new")
    assert target.read_text() == "old"


def test_a_fifo_without_a_reader_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(SpecError, match="FIFO that no process is reading"):
        write_output(tmp_path / "fifo", "x")


def test_a_fifo_with_a_reader_is_written_through(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, as `cat fifo` would be
    got = []
    try:
        write_output(fifo, "through")
        thread = threading.Thread(target=lambda: got.append(os.read(fd, 100)))
        thread.start()
        thread.join(10)
    finally:
        os.close(fd)
    assert got == [b"through"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(not ROOT, reason="mknod needs root")
def test_devices_are_written_through_never_replaced(tmp_path):
    null, full = _device(tmp_path / "null", 3), _device(tmp_path / "full", 7)
    write_output(null, "x")
    with pytest.raises(SpecError, match="No space left on device"):
        write_output(full, "x")
    assert stat.S_ISCHR(os.lstat(null).st_mode) and stat.S_ISCHR(os.lstat(full).st_mode)


def test_a_missing_folder_is_refused_before_any_work(tmp_path):
    with pytest.raises(SpecError, match="there is no directory"):
        check_writable(tmp_path / "nowhere" / "x.json")
    result = runner.invoke(app, ["flops", "lenet5", "-o", str(tmp_path / "nowhere" / "x.json")])
    assert result.exit_code == 2 and "--output: error: cannot write" in result.output


def test_plot_writes_through_the_same_writer(tmp_path):
    pytest.importorskip("matplotlib")
    result = runner.invoke(app, ["plot", "layers", "lenet5", "-o", str(tmp_path / "nowhere" / "x.png")])
    assert result.exit_code == 2 and "there is no directory" in result.output
    old = tmp_path / "ro.png"
    old.write_bytes(b"old")
    old.chmod(0o444)
    result = runner.invoke(app, ["plot", "layers", "lenet5", "-o", str(old)])
    assert result.exit_code == 2 and "read-only" in result.output and old.read_bytes() == b"old"


def test_build_export_refuses_a_bad_path_before_building(tmp_path):
    pytest.importorskip("torch")
    result = runner.invoke(app, ["build", "lenet5", "--export", str(tmp_path / "nowhere" / "m.pt2")])
    assert result.exit_code == 2 and "--export: error: cannot write" in result.output
    assert "parameters" not in result.output  # refused before the module was built


# -- class 3: one bounded reader -----------------------------------------------------------

def test_read_bounded_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(SpecError, match="it is a FIFO"):
        read_bounded(tmp_path / "fifo.yaml", 100)
    with pytest.raises(SpecError, match="it is a character device"):
        read_bounded("/dev/zero", 100)  # reading only: /dev/zero never ends
    with pytest.raises(SpecError, match="it is a directory"):
        read_bounded(tmp_path, 100)


def test_read_bounded_reads_at_most_the_limit(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert read_bounded(tmp_path / "f", 100) == b"x" * 100
    with pytest.raises(SpecError, match="over the limit of 99 bytes"):
        read_bounded(tmp_path / "f", 99)


def test_specs_check_fast_and_bench_compare_use_the_reader(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    shapes = runner.invoke(app, ["shapes", str(tmp_path / "fifo.yaml")])
    assert shapes.exit_code == 2 and "it is a FIFO" in shapes.output
    fast = runner.invoke(app, ["check", "--fast", str(tmp_path / "fifo.yaml")])
    assert fast.exit_code == 2 and "it is a FIFO" in fast.output
    compare = runner.invoke(app, ["bench-compare", "/dev/zero", "/dev/zero"])
    assert compare.exit_code == 2 and "it is a character device" in compare.output


# -- class 5: check never crashes ---------------------------------------------------------

def test_trace_budget_counts_activation_bytes():
    """1×1 conv + upsample on [1, 30000, 30000]: 3.6 G MACs, within TRACE_BUDGET (40 G), but
    4 × 30000² × 4 B + 4 × 60000² × 4 B ≈ 72 GB of activations: traced smaller, or not at all."""
    import cnntool
    from cnntool.check.torch_steps import TRACE_BUDGET, TRACE_BYTES, trace_input
    from cnntool.spec.file import SpecFile
    spec = SpecFile("big.yaml", text="name: big\ninput: [1, 30000, 30000]\nlayers:\n"
                                     "  - conv: {out: 4, kernel: 1}\n  - upsample: 2\n")
    model = spec.model()
    report = cnntool.analyze(model)
    assert report.totals.macs <= TRACE_BUDGET < report.totals.act_bytes
    traced = trace_input(model, report)
    assert traced is None or cnntool.analyze(model, traced[0], traced[1]).totals.act_bytes <= TRACE_BYTES


def test_reason_drops_cpp_stack_frames():
    from cnntool.check.torch_steps import reason
    error = RuntimeError("Cannot copy out of meta tensor\nException raised from copy_ at aten/src/x.cpp:12\nframe #0")
    assert reason(error) == "RuntimeError: Cannot copy out of meta tensor"


def test_torch_failures_are_failed_rows_and_other_specs_still_get_results(tmp_path):
    pytest.importorskip("fvcore")
    pytest.importorskip("torchvision")
    from cnntool.check.run import Status, Step, check_paths
    (tmp_path / "a_noparams.yaml").write_text("name: t\ninput: [3, 8, 8]\nlayers: [relu]\n")
    (tmp_path / "b_badref.yaml").write_text("name: r\ninput: [1, 64, 64]\nreference: torchvision.models.resnet18\n"
                                            "layers:\n  - conv: {out: 8, kernel: 3}\n")
    run = check_paths([str(tmp_path / "a_noparams.yaml"), str(tmp_path / "b_badref.yaml"), "lenet5"])
    noparams, badref, lenet = run.models
    assert noparams.status is Status.ok and lenet.status is Status.ok
    step = badref.step(Step.torchvision)
    assert step.status is Status.failed
    message = next(i.message for i in badref.issues if i.step is Step.torchvision and "failed" in i.message)
    assert message.startswith("torchvision failed: ") and "Exception raised from" not in message


# -- class 6: what reaches the terminal ---------------------------------------------------

def test_control_characters_are_escaped_in_every_error():
    assert printable("a\x1b[2Jb\x07\nc\td") == "a\\x1b[2Jb\\x07\nc\td"
    assert "\x1b" not in str(SpecError("no such file", Loc("\x1b]0;owned\x07.yaml", 0, 0)))
    result = runner.invoke(app, ["shapes", "\x1b[2J.yaml"])
    assert result.exit_code == 2 and "\x1b" not in result.output and "\\x1b[2J.yaml" in result.output


# -- class 7: bench-compare validates its input -------------------------------------------

GOOD = {"schema": "cnntool.bench/1", "model": {"name": "m", "input_shape": [3, 8, 8]},
        "precision": {"effective": "fp32"}, "rows": [{"batch": 1, "status": "ok",
        "throughput": {"median_img_s": 10.0, "iqr_img_s": 1.0}, "latency": {"p50_s": 0.1, "iqr_s": 0.01}}]}


def _edited(edit):
    data = json.loads(json.dumps(GOOD))
    edit(data)
    return json.dumps(data)


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    (json.dumps(GOOD).replace("10.0", "9" * 5000), "Exceeds the limit (4300 digits)"),
    (json.dumps(GOOD).replace("10.0", "1e999"), "the number 1e999 is out of range"),
    (json.dumps(GOOD).replace("10.0", "NaN"), "NaN is not a number a bench result holds"),
    (_edited(lambda d: d["rows"][0].update(throughput=None)), "at rows/0/throughput: None is not of type 'object'"),
    (_edited(lambda d: d["rows"][0].pop("throughput")), "at rows/0: 'throughput' is a required property"),
    (_edited(lambda d: d["rows"][0]["throughput"].update(median_img_s=0)),
     "at rows/0/throughput/median_img_s: 0 is less than or equal to the minimum of 0"),
    (_edited(lambda d: d["rows"][0]["throughput"].update(median_img_s="9")),
     "at rows/0/throughput/median_img_s: '9' is not of type 'number'"),
    (_edited(lambda d: d.update(rows=5)), "at rows: 5 is not of type 'array'"),
])
def test_bench_compare_refuses_malformed_results(tmp_path, text, message):
    (tmp_path / "bad.json").write_text(text)
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    result = runner.invoke(app, ["bench-compare", str(tmp_path / "bad.json"), str(tmp_path / "good.json")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: cannot read {tmp_path / 'bad.json'}" in result.stderr and message in result.stderr


def test_bench_compare_accepts_the_documented_minimum(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(GOOD))
    result = runner.invoke(app, ["bench-compare", str(tmp_path / "good.json"), str(tmp_path / "good.json")])
    assert result.exit_code == 0, result.output


# -- class 8: bench option bounds (refused before torch is imported) ----------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--iters", "1000000000000"], "--iters 1,000,000,000,000 is over the limit of 1,000,000"),
    (["--repeats", "1000000000"], "--repeats 1,000,000,000 is over the limit of 1,000"),
    (["--warmup", "1000000000000"], "--warmup 1,000,000,000,000 is over the limit of 10,000"),
    (["--threads", "100000"], "--threads 100,000 is over the limit of"),
    (["--budget", "inf"], "--budget inf is not a number of seconds up to 3,600"),
    (["--budget", "nan"], "--budget nan is not a number of seconds up to 3,600"),
    (["--warmup-time", "inf"], "--warmup-time inf is not a number of seconds up to 3,600"),
    (["--batch", "1,100000"], "the largest batch allowed is 65,536"),
])
def test_bench_options_have_stated_maxima(args, message):
    result = runner.invoke(app, ["bench", "lenet5", *args])
    assert result.exit_code == 2 and message in result.stderr, result.output


# -- class 9: errors are located ------------------------------------------------------------

def test_a_trailing_colon_names_no_variant():
    result = runner.invoke(app, ["shapes", "vgg.yaml:"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "vgg.yaml: error: 'vgg.yaml:' names no variant after the ':'"
