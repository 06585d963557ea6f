"""`cnntool train`, the backward columns of `flops` and the JSON, and the size parser (torch-free)."""
import json
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st
from typer.testing import CliRunner

import cnntool
from cnntool.analysis.training import Optimizer, Precision, max_batch, training
from cnntool.cli.main import app
from cnntool.units import parse_bytes

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_train_json_has_every_term_and_the_batch_search():
    res = run("train", "resnet50", "-b", "32", "--optimizer", "adam", "--memory", "24GiB", "-f", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    t = training(cnntool.load("resnet50"), 32, Optimizer.adam)
    assert data["peak_bytes"] == t.peak_bytes == sum(data["terms"].values())
    # torchvision ResNet50_Weights.IMAGENET1K_V1.meta["num_params"] = 25,557,032 (README table)
    assert data["terms"]["params"] == 4 * 25_557_032
    assert data["terms"]["optimizer_state"] == 8 * 25_557_032
    # meta["_ops"] 4.089 G per image: the forward at batch 32
    assert data["macs"]["forward"] == 32 * 4_089_184_256
    assert data["macs"]["step"] == data["macs"]["forward"] + data["macs"]["backward"]
    assert data["fits"] == {"budget_bytes": 24 * 2**30,
                            "batch": max_batch(cnntool.load("resnet50"), 24 * 2**30, Optimizer.adam)}


def test_train_table_and_csv():
    res = run("train", "lenet5", "-b", "4", "--dtype", "bf16", "--optimizer", "momentum")
    assert res.exit_code == 0, res.output
    assert "predicted peak" in res.stdout and "optimizer state" in res.stdout and "bf16 autocast" in res.stdout
    csv = run("train", "lenet5", "-f", "csv").stdout.splitlines()
    assert csv[0] == "name,kind,keeps,saved_bytes,param_bytes,grad_bytes,state_bytes,backward_macs"
    assert csv[1].startswith("C1,conv,input,")


@pytest.mark.parametrize("args,message", [
    (["--memory", "24XB"], "--memory: error: expected a size such as 24GiB"),
    (["--optimizer", "lamb"], "Invalid value"),
    (["-b", "0"], "Invalid value"),
])
def test_train_bad_options_exit_2(args, message):
    res = run("train", "resnet18", *args)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_flops_view_and_json_carry_backward_macs():
    res = run("flops", "resnet18")
    assert "backward MACs" in res.stdout and "training step (forward + backward" in res.stdout
    data = json.loads(run("flops", "resnet18", "-f", "json").stdout)
    rows = {r["name"]: r for r in data["layers"]}
    # conv1 reads the image: only its weight gradient (= forward MACs) is computed
    assert rows["conv1"]["backward_macs"] == rows["conv1"]["macs"]
    assert rows["linear1"]["backward_macs"] == 2 * rows["linear1"]["macs"]
    totals = data["totals"]
    assert totals["training_macs"] == totals["macs"] + totals["backward_macs"]
    assert totals["backward_macs"] == sum(r["backward_macs"] for r in data["layers"])


def test_batch_search_is_monotone_in_the_budget_and_precision():
    model = cnntool.load("resnet18")
    small, big = (max_batch(model, b * 2**30, Optimizer.sgd) for b in (4, 8))
    assert 0 < small < big
    assert max_batch(model, 4 * 2**30, Optimizer.sgd, Precision.bf16) > small


def test_train_does_not_import_torch():
    code = ("import sys; from cnntool.cli.main import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['train', 'resnet18', '--memory', '8GiB']); print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("text,value", [("24GiB", 24 * 2**30), ("80GB", 80 * 10**9), ("1.5 MiB", 1572864),
                                        ("4096", 4096), ("512 kib", 512 * 1024)])
def test_parse_bytes_units(text, value):
    assert parse_bytes(text) == value


@given(st.integers(0, 10**6), st.sampled_from(["", "B", "KB", "MiB", "GiB", "tb"]))
def test_parse_bytes_round_trips_integers(n, unit):
    scale = {"": 1, "B": 1, "KB": 1000, "MiB": 2**20, "GiB": 2**30, "tb": 10**12}[unit]
    assert parse_bytes(f"{n}{unit}") == n * scale


@given(st.text(max_size=12))
def test_parse_bytes_rejects_or_parses_any_text(text):
    try:
        assert parse_bytes(text) >= 0
    except ValueError as exc:
        assert "expected a size" in str(exc)


def test_summary_states_the_training_peak():
    res = run("summary", "resnet18", "-b", "8")
    t = training(cnntool.load("resnet18"), 8, Optimizer.sgd)
    from cnntool.units import human_bytes
    assert f"training step at batch 8 (fp32, SGD): predicted peak {human_bytes(t.peak_bytes)}" in res.stdout
