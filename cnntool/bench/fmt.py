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


def sig(value: float | None, figures: int = 3) -> str:
    """Fixed-point with `figures` significant digits, trailing zeros kept.

    6.031 -> '6.03', 11 -> '11.0', 0.05 -> '0.0500', 1234.5 -> '1234' (never an
    exponent, so a column never switches notation); '-' for None or NaN.
    """
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value) or value == 0:
        return str(value) if math.isinf(value) else f"{0:.{figures - 1}f}"
    decimals = max(0, figures - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if decimals > 0 and abs(float(text)) >= 10.0 ** (figures - decimals):  # 9.999 -> 10.00: one too many
        text = f"{value:.{decimals - 1}f}"
    return text


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds, 3 significant digits: '6.03 ms', '11.0 ms'."""
    return "-" if seconds is None else f"{sig(seconds * 1e3)} ms"


def cudnn_version(code: object) -> str | None:
    """torch.backends.cudnn.version()'s integer as a version: 92400 -> '9.24.0', 8902 -> '8.9.2'.

    cuDNN 9 encodes major*10000 + minor*100 + patch, cuDNN 8 and older
    major*1000 + minor*100 + patch.
    """
    if not isinstance(code, int) or isinstance(code, bool):
        return None if code is None else str(code)
    major, rest = divmod(code, 10000) if code >= 90000 else divmod(code, 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


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
