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
