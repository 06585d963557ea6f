"""Host (CPU) peak-memory measurement.

Preferred: reset the kernel's RSS high-water mark by writing "5" to
/proc/self/clear_refs (Linux >= 4.0), then peak growth = VmHWM after - VmRSS
before. Fallback: ru_maxrss, a process-lifetime high-water mark that cannot be
reset, so growth is reported over the mark before the run: it is a lower bound
and reads 0 when an earlier phase (e.g. model build) already peaked higher.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ru_maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) if sys.platform == "darwin" else int(rss) * 1024


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class RssTracker:
    """Peak resident-set growth of the process during one measured phase."""

    def __init__(self) -> None:
        self.method = "ru_maxrss-delta"
        self._base = 0

    def begin(self) -> None:
        """Record the baseline (and reset VmHWM where the kernel allows)."""
        rss = _status_kib("VmRSS")
        if rss is not None and _reset_hwm() and _status_kib("VmHWM") is not None:
            self.method, self._base = "vmhwm-reset", rss * 1024
        else:
            self.method, self._base = "ru_maxrss-delta", _ru_maxrss_bytes()

    def end(self) -> int:
        """Bytes of peak RSS above the baseline (never negative)."""
        if self.method == "vmhwm-reset":
            peak = (_status_kib("VmHWM") or 0) * 1024
        else:
            peak = _ru_maxrss_bytes()
        return max(0, peak - self._base)
