"""Make the package and benchkit.py importable whatever pytest's import mode."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
if importlib.util.find_spec("cnntool") is None:  # running without an installed package
    sys.path.insert(0, str(HERE.parents[1]))
