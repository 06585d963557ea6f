"""The command line: formats, exit codes, errors with locations, overrides."""
import csv
import io
import json
import subprocess
import sys

from typer.testing import CliRunner

from cnntool.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_flops_json_is_exact_and_documented():
    result = run("flops", "vgg16", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"cnntool_json", "model", "input", "batch", "layers", "totals", "warnings"} <= set(data)
    # torchvision 0.29.1 vgg16 metadata (references.md)
    assert data["totals"]["params"] == 138_357_544
    assert data["totals"]["macs"] == 15_470_264_320
    layer = data["layers"][1]
    assert {"name", "kind", "out_shape", "params", "macs", "flops", "rf", "loc"} <= set(layer)
    assert layer["out_shape"] == [64, 224, 224] and layer["rf"]["size"] == [3, 3]


def test_batch_scales_counts_not_params():
    one = json.loads(run("flops", "vgg11", "-f", "json").stdout)["totals"]
    eight = json.loads(run("flops", "vgg11", "-f", "json", "--batch", "8").stdout)["totals"]
    assert eight["macs"] == 8 * one["macs"] and eight["params"] == one["params"]


def test_csv_rows_sum_to_total_row():
    result = run("params", "vgg13", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[-1]["layer"] == "total"
    assert sum(int(r["params"]) for r in rows[:-1]) == int(rows[-1]["params"]) == 133_047_848


def test_markdown_table():
    result = run("shapes", "vgg11", "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("| layer | kind |")
    assert "| stage5.maxpool1 | maxpool | 2×2/2 | [1, 512, 7, 7] |" in result.stdout


def test_table_shows_human_numbers_and_totals():
    result = run("summary", "vgg16")
    assert result.exit_code == 0
    assert "138.4 M" in result.stdout and "15.47 G" in result.stdout and "138,357,544" in result.stdout


def test_explain_shows_arithmetic():
    result = run("shapes", "vgg16", "--explain")
    assert "stage1.conv1: H: (224 + 2×1 − 3) / 1 + 1 = 224" in result.stdout


def test_input_and_set_overrides():
    data = json.loads(run("shapes", "vgg16", "--input", "3,32,32", "-f", "json").stdout)
    assert data["layers"][-1]["out_shape"] == [1000]
    assert data["totals"]["params"] == 138_357_544 - 102_764_544 + 512 * 4096 + 4096
    data = json.loads(run("shapes", "vgg16", "--set", "classes=10", "-f", "json").stdout)
    assert data["layers"][-1]["out_shape"] == [10]


def test_output_file(tmp_path):
    target = tmp_path / "r.json"
    assert run("flops", "vgg11", "-f", "json", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text())["model"] == "vgg11"


def test_path_and_variant_refs(tmp_path):
    from cnntool.spec.zoo import spec_dir
    path = spec_dir() / "vgg.yaml"
    by_path = json.loads(run("params", f"{path}:vgg19", "-f", "json").stdout)
    assert by_path["totals"]["params"] == 143_667_240
    result = run("params", str(path))
    assert result.exit_code == 2 and "variants" in result.stderr


def test_bad_spec_exits_2_with_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n")
    result = run("shapes", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:4:20: error: conv has no field 'kernal'" in result.stderr
    assert "did you mean 'kernel'?" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_model_suggests():
    result = run("flops", "vgg61")
    assert result.exit_code == 2 and "no built-in model" in result.stderr


def test_inexact_stride_warns_with_arithmetic(tmp_path):
    spec = tmp_path / "a.yaml"
    spec.write_text("name: a\ninput: [3, 224, 224]\nlayers:\n  - conv: {out: 96, kernel: 11, stride: 4}\n")
    data = json.loads(run("shapes", str(spec), "-f", "json").stdout)
    assert data["layers"][1]["out_shape"] == [96, 54, 54]
    assert "(224 + 2×0 − 11) / 4 + 1 = 217/4 → floor 54" in data["warnings"][0]["message"]


def test_list_and_compare():
    result = run("list", "--format", "json")
    names = {row["name"] for row in json.loads(result.stdout)}
    assert {"vgg11", "vgg16", "vgg19"} <= names
    result = run("compare", "vgg11", "vgg11-lrn", "vgg13", "vgg16-c", "vgg16", "vgg19", "-f", "json")
    rows = json.loads(result.stdout)
    # VGG paper Table 2, parameters in millions
    assert [round(r["params"] / 1e6) for r in rows] == [133, 133, 133, 134, 138, 144]
    assert [r["weight_layers"] for r in rows] == [11, 11, 13, 16, 16, 19]


def test_analysis_does_not_import_torch():
    code = "import sys; from cnntool.cli.main import app; from typer.testing import CliRunner; " \
           "CliRunner().invoke(app, ['summary', 'vgg16']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_output_to_a_missing_directory_is_a_clean_error(tmp_path):
    for fmt in ("json", "csv", "table"):
        result = run("shapes", "vgg11", "-f", fmt, "-o", str(tmp_path / "nope" / "x.out"))
        assert result.exit_code == 2 and "cannot write" in result.stderr, fmt
    result = run("shapes", "vgg11", "-f", "csv", "-o", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr
    assert not list(tmp_path.glob(".cnntool-*"))  # no temp file left behind


def test_output_files_follow_the_umask(tmp_path):
    import os
    mask = os.umask(0o022)
    try:
        for fmt in ("json", "csv", "table"):
            target = tmp_path / f"r.{fmt}"
            assert run("params", "vgg11", "-f", fmt, "-o", str(target)).exit_code == 0
            assert target.stat().st_mode & 0o777 == 0o644, fmt
    finally:
        os.umask(mask)


def test_peer_figures_are_per_image():
    result = run("flops", "vgg16", "--batch", "8")
    # torchvision vgg16 _ops = 15.47 (references.md), quoted per image whatever the batch
    assert "15.470 G" in result.stdout and "per image" in result.stdout


def test_json_carries_the_arithmetic():
    data = json.loads(run("shapes", "vgg16", "-f", "json").stdout)
    assert data["layers"][1]["arithmetic"][0] == "H: (224 + 2×1 − 3) / 1 + 1 = 224"


def test_compare_names_the_variant_that_fails(tmp_path):
    spec = tmp_path / "fam.yaml"
    spec.write_text("name: fam\ninput: [3, 8, 8]\nargs: {k: 3}\nlayers:\n  - conv: {out: 4, kernel: $k}\n"
                    "variants:\n  ok: {}\n  huge: {args: {k: 9}}\n")
    result = run("compare", str(spec))
    assert result.exit_code == 2 and "error: huge: conv1 (conv)" in result.stderr


def test_depth_rolls_up_blocks():
    data = json.loads(run("params", "resnet50", "--depth", "1", "-f", "json").stdout)
    names = [layer["name"] for layer in data["layers"]]
    assert "layer3" in names and not any(n.startswith("layer3.") for n in names)
    assert sum(layer["params"] for layer in data["layers"]) == 25_557_032  # torchvision num_params


def test_compare_checks_expectations_at_the_published_setting():
    # vgg16's expect block (torchvision metadata) holds per image at 224: -b/-i must not break it
    rows = json.loads(run("compare", "vgg16", "-b", "2", "-i", "3,112,112", "-f", "json").stdout)
    assert rows[0]["expect"] == "14/14" and rows[0]["macs"] != 15_470_264_320


def test_usage_errors_speak_our_style():
    """`-d 0`, a bad type, an unknown option: `where: error: …` and a hint, exit 2, no click `Error:`."""
    for args, where in ((["shapes", "vgg16", "-d", "0"], "--depth: error:"), (["shapes", "vgg16", "-b", "x"], "--batch: error:"),
                        (["shapes", "vgg16", "--frmat", "json"], "cnntool shapes: error:")):
        result = subprocess.run([sys.executable, "-m", "cnntool", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and result.stderr.startswith(where), result.stderr
        assert "hint: `cnntool shapes --help`" in result.stderr and "Error:" not in result.stderr


def test_top_level_help_does_not_cut_descriptions():
    result = subprocess.run([sys.executable, "-m", "cnntool", "--help"], capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "COLUMNS": "80"})
    commands = result.stdout.split("Commands:")[1]
    assert result.returncode == 0 and not any(line.endswith("...") for line in commands.splitlines()), commands
    assert "spec " in result.stdout and "fvcore's count." in result.stdout


def test_one_meaning_of_short_options():
    """-d is --depth wherever it exists; bench's device is --device only."""
    result = run("bench", "--help")
    assert "--device" in result.stdout and "-d," not in result.stdout
    build = run("build", "--help").stdout
    assert "KEY=VALUE" in build and "C,H,W" in build and "<list" not in build
