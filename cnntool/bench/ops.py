"""Per-device operations: resolve, synchronise, time latency, track memory.

Everything device-specific lives here so the timing loops in measure.py are
shared. CUDA calls always name the benchmarked device, never device 0.
"""

from __future__ import annotations

import contextlib
import gc
import re

import torch

from .errors import BenchError
from .measure import ClockTimer, LatencyTimer
from .memory import RssTracker
from .results import Memory


def resolve_device(spec: str) -> torch.device:
    """Parse cpu, cuda, cuda:N or mps and check the device exists (BenchError if not)."""
    text = spec.strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise BenchError("device 'mps' is not available on this machine")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match is None:
        raise BenchError(f"unknown device {spec!r}: expected cpu, cuda, cuda:N or mps")
    if not torch.cuda.is_available():
        built = torch.version.cuda or "none"
        raise BenchError(
            f"device {spec!r} requested but CUDA is not available "
            f"(torch {torch.__version__}, built for CUDA {built}, no GPU visible); use --device cpu"
        )
    count = torch.cuda.device_count()
    index = int(match.group(1)) if match.group(1) else torch.cuda.current_device()
    if index >= count:
        raise BenchError(f"device {spec!r} does not exist: {count} CUDA device(s) visible")
    return torch.device("cuda", index)


def is_oom(exc: BaseException) -> bool:
    """Out-of-memory in any of its forms: CUDA OOM, MemoryError, allocator RuntimeError."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "memory" in str(exc).lower()


class CpuOps:
    """CPU: nothing to synchronise; perf_counter latency; RSS peak growth."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._rss = RssTracker()

    def synchronize(self) -> None:
        """CPU ops run synchronously; nothing to wait for."""

    def latency_timer(self) -> LatencyTimer:
        return ClockTimer(self.synchronize)

    def context(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def memory_begin(self) -> None:
        self._rss.begin()

    def memory_end(self) -> Memory:
        return Memory(method=self._rss.method, rss_growth_bytes=self._rss.end())

    def free(self) -> None:
        gc.collect()


class CudaEventTimer:
    """Latency from CUDA events on the device's current stream (GPU-side span)."""

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._start.record(torch.cuda.current_stream(self._device))

    def stop(self) -> float:
        self._end.record(torch.cuda.current_stream(self._device))
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1e3


class CudaOps(CpuOps):
    """CUDA: synchronise the model's device; event latency; allocator peaks."""

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def latency_timer(self) -> LatencyTimer:
        return CudaEventTimer(self.device)

    def context(self) -> contextlib.AbstractContextManager[None]:
        return torch.cuda.device(self.device)

    def memory_begin(self) -> None:
        self.free()
        torch.cuda.reset_peak_memory_stats(self.device)
        self._baseline = torch.cuda.memory_allocated(self.device)

    def memory_end(self) -> Memory:
        return Memory(
            method="torch.cuda.max_memory_allocated/reserved",
            peak_allocated_bytes=torch.cuda.max_memory_allocated(self.device),
            peak_reserved_bytes=torch.cuda.max_memory_reserved(self.device),
            baseline_allocated_bytes=self._baseline,
        )

    def free(self) -> None:
        gc.collect()
        torch.cuda.empty_cache()


class MpsOps(CpuOps):
    """Apple MPS: torch.mps.synchronize around host-clock timing."""

    def synchronize(self) -> None:
        torch.mps.synchronize()

    def memory_begin(self) -> None:
        self.free()

    def memory_end(self) -> Memory:
        return Memory(
            method="torch.mps.driver_allocated_memory (current, not peak)",
            peak_reserved_bytes=torch.mps.driver_allocated_memory(),
        )

    def free(self) -> None:
        gc.collect()
        torch.mps.empty_cache()


def device_ops(device: torch.device) -> CpuOps:
    """The ops object for a resolved device."""
    return {"cuda": CudaOps, "mps": MpsOps}.get(device.type, CpuOps)(device)
