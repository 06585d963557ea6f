"""`cnntool spec NAME`: every built-in model written as a standalone file reproduces the built-in.

The oracle is the built-in itself (the same numbers counted from the family file and from the
exported file), and each exported file's `expect:` blocks, whose sources are the papers and
torchvision metadata quoted in model_specs/ (references.md).
"""
import pytest
import yaml
from typer.testing import CliRunner

import cnntool
from cnntool.cli.main import app
from cnntool.spec.expect import evaluate
from cnntool.spec.export import export_spec
from cnntool.spec.file import SpecFile
from cnntool.spec.zoo import zoo

runner = CliRunner()
ZOO = zoo()


@pytest.mark.parametrize("name", list(ZOO))
def test_exported_spec_reproduces_the_builtin(name, tmp_path):
    entry = ZOO[name]
    text = export_spec(entry.spec, entry.variant, entry.spec.path.read_text(encoding="utf-8"), f"cnntool spec {name}")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    exported = SpecFile(path)
    assert not exported.variants  # standalone: no family left to choose from
    mine, theirs = exported.model(), entry.model()
    a, b = cnntool.analyze(mine), cnntool.analyze(theirs)
    assert (a.totals.params, a.totals.macs, a.totals.flops) == (b.totals.params, b.totals.macs, b.totals.flops)
    assert [(r.name, r.out_shape, r.params, r.macs) for r in a.layers] == \
           [(r.name, r.out_shape, r.params, r.macs) for r in b.layers]
    assert mine.name == name and mine.args == theirs.args and mine.input_shape == theirs.input_shape
    assert (mine.reference, mine.accuracy, mine.description, mine.source, mine.notes) == \
           (theirs.reference, theirs.accuracy, theirs.description, theirs.source, theirs.notes)
    count, failures = evaluate(mine.expect, a)
    assert (count, failures) == (evaluate(theirs.expect, b)[0], [])
    sources = [block.source for block in mine.expect]
    assert sources == [block.source for block in theirs.expect]


def test_export_keeps_comments_and_blocks():
    text = runner.invoke(app, ["spec", "vgg16"]).stdout
    doc = yaml.safe_load(text)
    assert doc["name"] == "vgg16" and "variants" not in doc and "stage" in doc["blocks"]
    assert doc["args"]["convs"] == [2, 2, 3, 3, 3]  # configuration D, VGG paper Table 1
    assert "# Krizhevsky et al.'s constants, as VGG used" in text  # the family's comments survive
    assert "vgg19" not in text  # no other variant's settings


def test_spec_to_a_file_then_analyse_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["spec", "resnet18", "-o", "resnet18.yaml"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["params", "resnet18.yaml", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert '"params": 11689512' in result.stdout  # torchvision 0.29.1 resnet18 num_params (references.md)


def test_a_missing_yaml_named_like_a_builtin_gets_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["shapes", "vgg16.yaml"])
    assert result.exit_code == 2
    assert "vgg16.yaml: error: no such file" in result.stderr
    assert "'vgg16' is a built-in model" in result.stderr and "cnntool spec vgg16 -o vgg16.yaml" in result.stderr


@pytest.mark.parametrize("ref, listed", [("vgg", "vgg11, vgg11-lrn, vgg11-bn, vgg13, vgg16-c, vgg16, vgg19"),
                                         ("resnet", "resnet18, resnet34, resnet50")])
def test_a_family_name_lists_its_variants(ref, listed):
    result = runner.invoke(app, ["shapes", ref])
    assert result.exit_code == 2 and listed in result.stderr


def test_names_are_case_insensitive():
    result = runner.invoke(app, ["params", "VGG16", "-f", "json"])
    assert result.exit_code == 0 and '"params": 138357544' in result.stdout  # torchvision vgg16 num_params


def test_builtin_locations_open_from_anywhere(tmp_path, monkeypatch):
    import json
    from pathlib import Path
    monkeypatch.chdir(tmp_path)  # not below the package: absolute paths
    data = json.loads(runner.invoke(app, ["shapes", "alexnet", "-f", "json"]).stdout)
    assert Path(data["file"]).is_absolute() and Path(data["file"]).is_file()
    loc = data["warnings"][0]["loc"]  # conv1's inexact stride (alexnet.yaml)
    assert loc.startswith(data["file"] + ":") and Path(loc.rsplit(":", 2)[0]).is_file()
    monkeypatch.chdir(Path(data["file"]).parent)  # below it: relative
    data = json.loads(runner.invoke(app, ["shapes", "alexnet", "-f", "json"]).stdout)
    assert data["file"] == "alexnet.yaml" and data["layers"][1]["loc"].startswith("alexnet.yaml:")


def test_a_variant_of_any_file_even_in_flow_style(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fam.yaml").write_text("""name: fam
input: [3, 32, 32]
args: {width: 8, classes: 10}   # flow style: re-dumped, not spliced
layers: [{conv: {out: $width, kernel: 3}}, relu, globalavgpool, flatten, {linear: $classes}]
variants:
  small: {args: {width: 4}, expect: [{source: "3·3·3·4 + 4 conv, 4·10 + 10 linear", params: 162}]}
  big:
    args: {width: 16}
    input: [3, 64, 64]
""")
    for variant, params in (("small", 162), ("big", 3 * 3 * 3 * 16 + 16 + 16 * 10 + 10)):  # weights + biases
        result = runner.invoke(app, ["spec", f"fam.yaml:{variant}", "-o", f"{variant}.yaml"])
        assert result.exit_code == 0, result.output
        model = SpecFile(tmp_path / f"{variant}.yaml").model()
        assert cnntool.analyze(model).totals.params == params and model.name == variant
    assert SpecFile(tmp_path / "big.yaml").model().input_shape == (3, 64, 64)
    assert evaluate(SpecFile(tmp_path / "small.yaml").model().expect, cnntool.analyze(
        SpecFile(tmp_path / "small.yaml").model())) == (1, [])
