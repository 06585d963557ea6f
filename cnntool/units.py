"""Human-readable numbers for tables; exact integers stay in json/csv/markdown."""
from __future__ import annotations

from fractions import Fraction

__all__ = ["human", "human_bytes", "plain", "shape_text"]

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
