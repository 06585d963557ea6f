"""`cnntool plot`: the zoo chart and the per-layer chart render to non-empty PNG/SVG files."""
import sys

import pytest
import typer
from typer.testing import CliRunner

import cnntool
from cnntool.render.plot import ZooPoint, draw_layers, draw_zoo, zoo_points
from cnntool.cli.plot import register
from cnntool.spec.zoo import zoo

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def app():
    app = typer.Typer()

    @app.callback()
    def root() -> None:  # keeps `plot` a sub-command, as in the real app
        pass

    register(app)
    return app


def run(app, *args):
    return CliRunner().invoke(app, list(args))


def test_zoo_points_keep_only_models_with_a_sourced_top1():
    entries = zoo()
    points, skipped = zoo_points(entries.values())
    names = {p.name for p in points}
    assert "resnet50" in names and "googlenet" in names  # torchvision weights metadata
    assert "unet" in skipped and "resnet50-v1" in skipped  # no accuracy recorded
    assert names.isdisjoint(skipped) and len(names) + len(skipped) == len(entries)
    r50 = next(p for p in points if p.name == "resnet50")
    assert (r50.macs, r50.params, r50.top1) == (4_089_184_256, 25_557_032, 76.130)


def test_draw_zoo_png_and_svg(tmp_path):
    points = [ZooPoint("a", "fam", 10**9, 10**7, 70.0, "s"), ZooPoint("b", "fam", 2 * 10**9, 10**8, 75.0, "s")]
    draw_zoo(points, tmp_path / "zoo.png")
    draw_zoo(points, tmp_path / "zoo.svg")
    assert (tmp_path / "zoo.png").read_bytes().startswith(PNG)
    assert b"<svg" in (tmp_path / "zoo.svg").read_bytes()[:2000]


def test_draw_layers_png(tmp_path):
    draw_layers(cnntool.analyze("resnet18"), tmp_path / "layers.png")
    data = (tmp_path / "layers.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_cli_plot_zoo(app, tmp_path):
    out = tmp_path / "zoo.png"
    result = run(app, "plot", "zoo", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    assert "skipped" in result.output and "unet" in result.output  # the note names what is left out


def test_cli_plot_layers_svg(app, tmp_path):
    out = tmp_path / "unet.svg"
    result = run(app, "plot", "layers", "unet", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and b"<svg" in out.read_bytes()[:2000]


def test_cli_plot_layers_with_set(app, tmp_path):
    out = tmp_path / "r32.png"
    result = run(app, "plot", "layers", "resnet20", "--set", "depth=32", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)


def test_cli_unknown_image_type_exits_2(app, tmp_path):
    result = run(app, "plot", "layers", "vgg16", "-o", str(tmp_path / "x.jpg"))
    assert result.exit_code == 2
    assert not (tmp_path / "x.jpg").exists()


def test_cli_unknown_model_exits_2(app, tmp_path):
    result = run(app, "plot", "layers", "no-such-model", "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2
    assert "no built-in model" in result.output


def test_cli_without_matplotlib_exits_2(app, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib...` now raises ImportError
    result = run(app, "plot", "layers", "vgg16", "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2
    assert "matplotlib" in result.output and "pip install" in result.output
    assert not (tmp_path / "x.png").exists()
