"""cnntool.bench: trustworthy inference benchmarks (issue 5).

Importing this package does not import torch; `run_bench` loads it on first use.
"""

from __future__ import annotations

from typing import Any

from .config import BenchConfig, CompileMode, DType
from .errors import BenchError
from .source import LayerSpec, ModelSource

__all__ = ["BenchConfig", "BenchError", "CompileMode", "DType", "LayerSpec", "ModelSource",
           "run_bench", "to_json"]


def __getattr__(name: str) -> Any:
    """Lazy access to the torch-importing entry points."""
    if name == "run_bench":
        from .runner import run_bench

        return run_bench
    if name == "to_json":
        from .results import to_json

        return to_json
    raise AttributeError(name)
