import os

# Tests count and compare, they never time: one torch thread per process (set before torch is
# imported; subprocesses inherit it) keeps them reproducible on any machine, and on a busy 2-core
# machine OpenMP's second thread made each model's first CPU forward 3-6x slower (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests choose their own widths: a COLUMNS exported by the shell (or set in pytest-xdist's workers)
# would narrow every piped table (cnntool honours it) and fold the texts they look for.
os.environ.pop("COLUMNS", None)

import pytest

import cnntool
from cnntool.spec.file import SpecFile


@pytest.fixture
def spec(tmp_path):
    """Write YAML text to a file and expand it: spec('name: x ...') -> Model."""
    def make(text: str, variant: str | None = None, **args):
        path = tmp_path / "t.yaml"
        path.write_text(text)
        return SpecFile(path).model(variant, args or None)
    return make


@pytest.fixture
def analyze():
    return cnntool.analyze
