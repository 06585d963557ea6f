"""Tables fit the terminal and never cut a number: text columns wrap or go first, and a line says so."""
import io
import re
from collections import Counter

import pytest
from rich.console import Console
from typer.testing import CliRunner

import cnntool
from cnntool.cli import main
from cnntool.render.tables import COLUMNS, view_columns
from cnntool.units import human_bytes

runner = CliRunner()
WIDTHS = [60, 80, 120, 200]
NUMBER = re.compile(r"^[\d.,]+( [kMGT]i?B?| [kMGT]| B|%)?$")


def render(monkeypatch, width, *args):
    buffer = io.StringIO()
    monkeypatch.setattr(main, "out", Console(file=buffer, width=width, soft_wrap=False))
    result = runner.invoke(main.app, list(args))
    assert result.exit_code == 0, result.output
    return buffer.getvalue()


def cells(text):
    """Every cell of every table line (│ and ┃ rows), stripped."""
    return Counter(c.strip() for line in text.splitlines() if line[:1] in "│┃" for c in re.split("[│┃]", line)[1:-1])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("model, view", [("alexnet", "flops"), ("resnet50", "summary"), ("googlenet", "shapes"),
                                         ("lenet5", "params"), ("unet", "summary")])
def test_every_number_is_whole(monkeypatch, width, model, view):
    text = render(monkeypatch, width, view, model)
    assert "…" not in text and all(len(line) <= width for line in text.splitlines())
    report = cnntool.analyze(cnntool.load(model))
    shown = cells(text)
    hidden = re.search(r"not shown at \d+ columns: (.*?);", re.sub(r"\s+", " ", text))  # the line may wrap
    kept = [c for c in view_columns(report, view) if not (hidden and c.title in hidden.group(1))]
    assert any(c.key == "layer" for c in kept) and any(c.key == "output" for c in kept)
    for col in kept:
        values = [v for v in (col.human(r, report) for r in report.layers) if v]
        if col.numeric:  # a count: one whole cell
            wanted, have = Counter(values), shown
        elif col.key == "output":  # a shape may wrap between its numbers, never inside one
            wanted, have = Counter(t for v in values for t in v.split()), Counter(t for c in shown.elements() for t in c.split())
        else:
            continue
        assert not wanted - have, f"{col.title}: cut or missing: {list((wanted - have))[:5]}"
    if width >= 200:
        assert not hidden  # room for everything
    if view == "summary" and width == 80:
        assert hidden and "receptive field" in hidden.group(1)  # text goes before numbers


@pytest.fixture(scope="module")
def listings():
    """The rows of `list` and `compare` (analysed once; the test is about their layout)."""
    import json
    zoo = json.loads(runner.invoke(main.app, ["list", "-f", "json"]).stdout)
    some = json.loads(runner.invoke(main.app, ["compare", "vgg11", "vgg16", "resnet50", "hrnetv2-w48-seg",
                                               "-f", "json"]).stdout)
    return {"list": (zoo, ["name", "input", "params", "macs", "description"]),
            "compare": (some, ["name", "input", "weight_layers", "params", "macs", "flops", "act_bytes", "top1",
                               "expect"])}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("which", ["list", "compare"])
def test_listings_keep_numbers_whole(monkeypatch, listings, width, which):
    from cnntool.render.tables import Format
    rows, keys = listings[which]
    buffer = io.StringIO()
    monkeypatch.setattr(main, "out", Console(file=buffer, width=width, soft_wrap=False))
    main._listing(rows, keys, Format.table, which)
    text = buffer.getvalue()
    assert "…" not in text and all(len(line) <= width for line in text.splitlines())
    shown = cells(text)
    for key in ("params", "macs"):  # never dropped: every row's figure, whole
        assert not Counter(main._HUMAN[key](r[key]) for r in rows) - shown, key
    assert "25.56 M" in shown  # resnet50: 25,557,032 params (torchvision num_params, references.md)


def test_columns_picks_and_orders(monkeypatch):
    text = render(monkeypatch, 200, "summary", "vgg16", "--columns", "layer,params")
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.split("┃")[1:-1]] == ["layer", "params"]
    csv = runner.invoke(main.app, ["flops", "vgg16", "-f", "csv", "--columns", "layer,macs"]).stdout
    assert csv.splitlines()[0] == "layer,macs" and csv.splitlines()[-1] == "total,15470264320"  # references.md


def test_unknown_column_is_our_error():
    result = runner.invoke(main.app, ["summary", "vgg16", "--columns", "layer,parms"])
    assert result.exit_code == 2
    assert "--columns: error: no column 'parms'" in result.stderr and "did you mean 'params'" in result.stderr
    assert set(COLUMNS) <= set(result.stderr.replace(",", " ").split())


@pytest.mark.parametrize("columns", ["60", "80", None])
def test_piped_output_honours_COLUMNS(columns):
    """Piped, the tables are 200 wide (CI logs, files) unless $COLUMNS says otherwise."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | ({"COLUMNS": columns} if columns else {})
    out = subprocess.run([sys.executable, "-m", "cnntool", "flops", "alexnet"], capture_output=True, text=True,
                         env=env, check=True).stdout
    widest = max(len(line) for line in out.splitlines())
    assert widest <= int(columns or 200) and (widest > 100) == (columns is None)
    # alexnet's total MACs, 1,135,256,096: conv 1.08 G + linear 58.6 M, as the lecture notes give them
    assert "…" not in out and "1.14 G" in out


@pytest.mark.parametrize("width", WIDTHS)
def test_train_keeps_numbers_whole(monkeypatch, width):
    import json
    text = render(monkeypatch, width, "train", "resnet18", "-b", "8", "--memory", "24GiB")
    assert "…" not in text and all(len(line) <= width for line in text.splitlines() if line[:1] in "┃│┏┡└")
    data = json.loads(runner.invoke(main.app, ["train", "resnet18", "-b", "8", "-f", "json"]).stdout)
    shown = cells(text)
    for key in ("saved_bytes", "param_bytes"):  # never dropped: every row's figure, whole
        assert not Counter(human_bytes(r[key]) for r in data["layers"] if r[key]) - shown, key
    assert "(not shown" in text if width < 120 else "(not shown" not in text
