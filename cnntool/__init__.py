"""cnntool: analyse convolutional networks from YAML specs, analytically and without torch.

    >>> import cnntool
    >>> report = cnntool.analyze(cnntool.load("vgg16"))
    >>> report.totals.params
    138357544
"""
from __future__ import annotations

from typing import Any

from .analysis.analyze import analyze as _analyze
from .errors import Loc, SpecError
from .graph import Model, Node
from .analysis.report import LayerRow, Report, Totals
from .spec.zoo import load

__all__ = ["load", "analyze", "build", "Model", "Node", "Report", "LayerRow", "Totals",
           "SpecError", "Loc"]
__version__ = "0.1.0"


def analyze(model: Model | str, batch: int = 1, input_shape: tuple[int, ...] | None = None,
            dtype_bytes: int = 4) -> Report:
    """Analyse a Model (or load a built-in name / spec path first)."""
    if isinstance(model, str):
        model = load(model)
    return _analyze(model, batch, input_shape, dtype_bytes)


def build(model: Model | str, input_shape: tuple[int, ...] | None = None, **kwargs: Any):
    """The torch.nn.Module of a spec (imports torch; see cnntool.torch.build)."""
    from .torch.build import build as _build
    if isinstance(model, str):
        model = load(model)
    return _build(model, input_shape, **kwargs)
