"""Built-in specs ship inside the wheel, so names resolve after a non-editable install."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("cnntool-*.whl"))


@pytest.mark.slow  # builds and installs a wheel
def test_wheel_ships_every_spec_and_the_schema(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in (ROOT / "model_specs").glob("*.yaml"):
        assert f"cnntool/model_specs/{spec.name}" in names
    assert "cnntool/py.typed" in names


@pytest.mark.slow  # builds and installs a wheel
def test_installed_wheel_resolves_builtin_names(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = "import cnntool; print(cnntool.analyze('vgg16').totals.params)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, check=True)
    assert result.stdout.strip() == "138357544"  # torchvision vgg16 num_params (references.md)
