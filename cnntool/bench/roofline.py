"""Achieved TFLOP/s, MFU and roofline classification.

Achieved TFLOP/s = 2 x MACs per image x images/s / 1e12 (a MAC is the papers'
multiply-add of conv/linear layers, counted as two FLOPs). MFU = achieved /
the device's peak dense TFLOP/s for the precision in use (peaks.py).
"""

from __future__ import annotations

from .peaks import DevicePeak


def achieved_tflops(macs_per_image: int | None, images_per_s: float) -> float | None:
    """2 x MACs/image x images/s in TFLOP/s; None when MACs are unknown."""
    if macs_per_image is None or macs_per_image <= 0:
        return None
    return 2.0 * macs_per_image * images_per_s / 1e12


def utilisation(tflops: float | None, peak: DevicePeak | None, precision: str) -> tuple[float | None, list[str]]:
    """MFU (fraction of peak) and warnings when the figure is impossible."""
    if tflops is None or peak is None:
        return None, []
    top = peak.tflops(precision)
    mfu = tflops / top
    notes: list[str] = []
    if mfu > 1.0:
        notes.append(
            f"impossible: {tflops:.1f} TFLOP/s exceeds the {peak.name} {precision} peak "
            f"of {top:g} TFLOP/s (check the MAC count)"
        )
        if precision == "fp32":
            notes.append("an fp32 result above the fp32 peak means TF32 (tensor cores) was in use")
    return mfu, notes


def intensity(flops: int | None, nbytes: int) -> float | None:
    """Arithmetic intensity in FLOP/byte; None when FLOPs are unknown."""
    if flops is None or nbytes <= 0:
        return None
    return flops / nbytes


def bound(flop_per_byte: float | None, ridge: float | None) -> str:
    """'compute' at or above the ridge point, 'memory' below, 'n/a' when unknown."""
    if flop_per_byte is None or ridge is None:
        return "n/a"
    return "compute" if flop_per_byte >= ridge else "memory"
