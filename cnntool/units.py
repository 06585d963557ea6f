"""Human-readable numbers for tables; exact integers stay in json/csv/markdown."""
from __future__ import annotations

from fractions import Fraction

import re

__all__ = ["human", "human_bytes", "parse_bytes", "plain", "shape_text"]

_SI = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def human(n: int | float) -> str:
    """138357544 -> '138.4 M', 1080000000 -> '1.08 G' (decimal units, as the papers use)."""
    for scale, unit in _SI:
        if abs(n) >= scale:
            v = n / scale
            return f"{v:.2f} {unit}" if abs(v) < 100 else f"{v:.1f} {unit}"
    return f"{n:,}" if isinstance(n, int) else f"{n:.3g}"


def human_bytes(n: int) -> str:
    """Binary units, as memory is allocated: 1536 -> '1.50 KiB'."""
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            v = n / scale
            return f"{v:.2f} {unit}" if v < 100 else f"{v:.1f} {unit}"
    return f"{n} B"


def plain(x: Fraction | int | float) -> int | float:
    """A Fraction as an int when whole, else a float (for JSON)."""
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x


def shape_text(shape: tuple[int, ...], batch: int | None = None) -> str:
    dims = ([batch] if batch is not None else []) + list(shape)
    return "[" + ", ".join(str(d) for d in dims) + "]"


_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """'24GiB' -> 25769803776, '1.5 GB' -> 1500000000, '4096' -> 4096; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match and _BYTE_UNITS.get(match.group(2).lower())
    if not match or unit is None:
        raise ValueError(f"expected a size such as 24GiB, 80GB or 4096, got {text!r}")
    return int(Fraction(match.group(1)) * unit)
