"""`cnntool check`: exit codes, locations of failures, output formats, the torchvision comparison."""
import json
import re
import sys

import pytest
import typer
from typer.testing import CliRunner

import cnntool
from cnntool.check import run as check, torch_steps as check_torch
from cnntool.check.run import Status, Step
from cnntool.cli.check import register
from cnntool.spec.zoo import zoo

app = typer.Typer()
register(app)


@app.callback()
def _root() -> None:  # keeps `check` a subcommand, as in the cnntool app
    pass


runner = CliRunner()

GOOD = """\
name: tiny
input: [3, 16, 16]
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
  - bn
  - relu
  - maxpool: 2
  - flatten
  - linear: 10
expect:
  - source: conv 8·3·9 + 8, bn 16, linear 512·10 + 10
    params: 5370
    macs: {macs}
    out_shape: [10]
"""
MACS = 8 * 27 * 16 * 16 + 8 * 8 * 8 * 10  # conv + linear, bias excluded


def invoke(*args):
    return runner.invoke(app, list(args))


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def line_of(path, needle):
    return next(i for i, line in enumerate(open(path), 1) if needle in line)


@pytest.fixture
def good(tmp_path):
    return write(tmp_path, GOOD.replace("{macs}", str(MACS)))


@pytest.fixture
def wrong(tmp_path):
    return write(tmp_path, GOOD.replace("{macs}", str(MACS + 1)), "wrong.yaml")


def test_good_spec_passes_every_step(good):
    result = invoke("check", good)
    assert result.exit_code == 0, result.output
    run = check.check_paths([good])
    steps = {s.step: s for s in run.models[0].steps}
    assert steps[Step.expect].passed == steps[Step.expect].total == 3
    assert steps[Step.params].status is Status.ok and steps[Step.params].total == 7
    assert steps[Step.fvcore].status is Status.ok
    assert steps[Step.torchvision].status is Status.none  # no reference: nothing to compare


def test_wrong_expect_value_fails_at_its_line(wrong):
    result = invoke("check", wrong, "--format", "github")
    assert result.exit_code == 1
    line = line_of(wrong, "macs:")
    assert re.search(rf"^::error file=[^,]*wrong\.yaml,line={line},col=\d+,title=[^:]*::expected macs = "
                     rf"{MACS + 1:,}.*got {MACS:,}", result.stdout, re.M), result.stdout
    table = invoke("check", wrong)
    assert table.exit_code == 1 and f"wrong.yaml:{line}:" in table.stdout


def test_unreadable_spec_exits_2_with_its_location(tmp_path, good):
    bad = write(tmp_path, "name: bad\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n", "bad.yaml")
    result = invoke("check", good, bad)
    assert result.exit_code == 2
    assert re.search(r"bad\.yaml:4:\d+: error: conv has no field 'kernal'", result.stderr)
    assert "Traceback" not in result.output
    assert invoke("check", str(tmp_path / "missing.yaml")).exit_code == 2


@pytest.mark.slow  # spawns two processes that import torch
def test_jobs_give_the_same_results_in_the_same_order(tmp_path, good, wrong):
    bad = write(tmp_path, "name: bad\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n", "bad.yaml")
    paths = [good, "lenet5", wrong, bad]
    serial, parallel = check.check_paths(paths), check.check_paths(paths, jobs=2)
    same = lambda run: [(m.name, m.file, m.status, m.steps, m.issues) for m in run.models]  # noqa: E731
    assert same(parallel) == same(serial) and parallel.exit_code == serial.exit_code == 2
    assert [m.status for m in parallel.models][:3] == [Status.ok, Status.ok, Status.failed]


def test_jobs_must_be_positive(good):
    result = invoke("check", good, "--jobs", "0")
    assert result.exit_code == 2 and "--jobs" in result.stderr and "Traceback" not in result.output


def test_json_format(good, wrong):
    result = invoke("check", good, wrong, "--format", "json", "--fast")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["exit_code"] == 1 and data["fast"] is True
    first, second = data["models"]
    assert first["status"] == "ok" and first["steps"]["expect"] == {
        "status": "ok", "passed": 3, "total": 3, "note": ""}
    assert first["steps"]["params"]["status"] == "skipped"
    (issue,) = second["issues"]
    assert issue["step"] == "expect" and issue["line"] == line_of(second["file"], "macs:")


def test_github_format_escapes_and_annotates_warnings(tmp_path):
    path = write(tmp_path, "name: odd\ninput: [1, 9, 8]\nlayers:\n  - conv: {out: 2, kernel: 2, stride: 2}\n",
                 "odd,1.yaml")
    result = invoke("check", path, "--fast", "-f", "github")
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()  # H = 9 does not divide by 2; W = 8 does
    assert line.startswith("::warning file=") and "odd%2C1.yaml,line=4,col=" in line
    assert "title=cnntool check odd (parse)::" in line and "stride does not divide" in line


@pytest.mark.slow  # a real torch build, trace or timing
def test_torchvision_reference_vgg11():
    # references.md, torchvision 0.29.1 table: vgg11 132,863,336 params, 7,609,090,048 conv+linear MACs
    (model,) = check.check_paths(["vgg11"]).models
    step = model.step(Step.torchvision)
    assert step.status is Status.ok and step.passed == step.total == 2, model.issues
    assert model.status is Status.ok
    report = cnntool.analyze("vgg11")
    assert (report.totals.params, report.totals.macs) == (132_863_336, 7_609_090_048)


def test_reference_that_computes_its_layout_with_tensors_builds_without_weights():
    # torchvision's RegNet calls .tolist() while building, which a meta tensor refuses
    torch = pytest.importorskip("torch")
    tvm = pytest.importorskip("torchvision.models")
    from cnntool.torch.meta import weights_on_meta
    with weights_on_meta():
        net = tvm.regnet_y_400mf()
    assert {p.device.type for p in net.parameters()} == {"meta"}
    # read from the installed torchvision: RegNet_Y_400MF_Weights.IMAGENET1K_V1.meta["num_params"]
    assert sum(p.numel() for p in net.parameters()) == tvm.RegNet_Y_400MF_Weights.IMAGENET1K_V1.meta["num_params"]
    assert torch.empty(2).device.type == "cpu"  # the mode ends with the block


@pytest.mark.slow  # a real torch build, trace or timing
def test_torchvision_mismatch_points_at_the_reference(tmp_path):
    text = GOOD.replace("{macs}", str(MACS)) + "reference: torchvision.models.resnet18\n"
    path = write(tmp_path, text)
    (model,) = check.check_paths([path]).models
    assert model.status is Status.failed
    issues = [i for i in model.issues if i.step is Step.torchvision]
    assert {i.loc.line for i in issues} == {line_of(path, "reference:")}
    # references.md: resnet18 has 11,689,512 parameters
    assert any("11,689,512 parameters" in i.message for i in issues)


@pytest.mark.parametrize("reference", ["os.system", "torchvision.models.vgg11; import os",
                                       "torchvision.models.__builtins__", "torchvision.models.list_models"])
def test_only_torchvision_model_builders_are_accepted(tmp_path, reference):
    path = write(tmp_path, GOOD.replace("{macs}", str(MACS)) + f"reference: '{reference}'\n")
    result = invoke("check", path)
    assert result.exit_code in (1, 2), result.output
    assert f"spec.yaml:{line_of(path, 'reference:')}:" in result.output
    assert "Traceback" not in result.output


def test_without_torch_steps_1_and_2_run_and_the_rest_say_why(monkeypatch, good):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    result = invoke("check", good)  # the command: one line naming the extra, exit 2 (a CI job must not pass)
    assert result.exit_code == 2, result.output
    assert "torch is not installed" in result.stderr and "cnntool[torch]" in result.stderr
    assert invoke("check", "--fast", good).exit_code == 0
    (model,) = check.check_paths([good]).models  # the library: steps 3-5 skipped, with the reason
    assert [s.status for s in model.steps] == [Status.ok, Status.ok] + [Status.skipped] * 3


def test_a_wrong_layer_rule_is_caught_layer_by_layer(monkeypatch, good):
    from cnntool.layers.conv import Conv
    monkeypatch.setattr(Conv, "params", lambda self, io: 1)
    monkeypatch.setattr(Conv, "macs", lambda self, io: 1)
    (model,) = check.check_paths([good]).models
    failed = {i.step for i in model.issues if i.severity == "error"}
    assert {Step.params, Step.fvcore} <= failed
    conv_line = line_of(good, "conv:")
    layer_issues = [i for i in model.issues if i.message.startswith("conv1 (conv)")]
    assert {i.step for i in layer_issues} == {Step.params, Step.fvcore}
    assert {i.loc.line for i in layer_issues} == {conv_line}


def test_big_models_are_traced_at_a_smaller_input(monkeypatch, good):
    monkeypatch.setattr(check_torch, "TRACE_BUDGET", 20_000)
    monkeypatch.setattr(check_torch, "BATCH2_BUDGET", 10_000)
    (model,) = check.check_paths([good]).models
    step = model.step(Step.fvcore)
    assert step.status is Status.ok and step.note.startswith("counted at [3, ")


def test_targets_default_to_every_builtin_and_accept_names_and_directories(tmp_path, good):
    assert sorted(t.name for t in check.collect([])) == sorted(zoo())
    assert [(t.name, t.variant) for t in check.collect(["vgg16"])] == [("vgg16", "vgg16")]
    assert [t.name for t in check.collect([str(tmp_path)])] == ["tiny"]
    seen = []
    check.check_paths([good], fast=True, progress=lambda done, total, name: seen.append((done, total)))
    assert seen == [(0, 1), (1, 1)]


def test_build_command_prints_the_module_and_refuses_missing_onnx(tmp_path):
    result = invoke("build", "vgg16", "--print")
    assert result.exit_code == 0
    assert "(stage2): Scope(" in result.stdout and "Conv2d(64, 128" in result.stdout
    assert "138,357,544 parameters" in result.stderr
    if check_torch.missing("onnx") or check_torch.missing("onnxscript"):
        result = invoke("build", "lenet5", "--onnx", str(tmp_path / "m.onnx"))
        assert result.exit_code == 2 and "pip install onnx" in result.stderr
    assert invoke("build", "nosuchmodel").exit_code == 2


def test_pre_commit_hook_runs_the_fast_check():
    import yaml
    from pathlib import Path
    (hook,) = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "cnntool-check" and hook["entry"] == "cnntool check --fast"
    assert re.search(hook["files"], "model_specs/vgg.yaml") and re.search(hook["files"], "x.yml")


def test_importing_the_commands_does_not_import_torch():
    import subprocess
    code = ("import sys, cnntool.cli.check, cnntool.check.run; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'fvcore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_json_issues_carry_the_hint(tmp_path):
    spec = tmp_path / "h.yaml"
    spec.write_text("name: h\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n")
    result = CliRunner().invoke(app, ["check", str(spec), "--format", "json", "--fast"])
    issue = json.loads(result.stdout)["models"][0]["issues"][0]
    assert issue["line"] == 4 and "did you mean 'kernel'?" in issue["text"]
