"""Human-readable numbers for tables (JSON keeps the exact values)."""

from __future__ import annotations

import math

_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float | None, unit: str = "") -> str:
    """1.08e9 -> '1.08 G' (decimal prefixes); '-' for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.2f} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def rate(images_per_s: float | None) -> str:
    """312.4 -> '312.4 img/s'."""
    return "-" if images_per_s is None else f"{images_per_s:,.1f} img/s"


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds with 3-4 significant digits."""
    if seconds is None:
        return "-"
    v = seconds * 1e3
    digits = 0 if v >= 100 else 1 if v >= 10 else 2 if v >= 1 else 3
    return f"{v:.{digits}f} ms"


def secs(seconds: float | None) -> str:
    """Long spans (first call, warm-up): ms below one second, else s."""
    if seconds is None:
        return "-"
    return ms(seconds) if seconds < 1 else f"{seconds:.2f} s"


def nbytes(value: int | None) -> str:
    """Bytes in binary units: '1.50 GiB'."""
    if value is None:
        return "-"
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value} B"


def pct(fraction: float | None, digits: int = 1) -> str:
    """0.123 -> '12.3%'."""
    return "-" if fraction is None else f"{fraction * 100:.{digits}f}%"
