"""The environment a result depends on: versions, hardware, clocks, thermals.

GPU state comes from `nvidia-smi --query-gpu` (one subprocess per snapshot);
its absence, or an unknown field on an old driver, is tolerated (None).
"""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

SMI_FIELDS = (
    "name", "clocks.sm", "clocks.mem", "clocks.max.sm", "power.draw", "power.limit",
    "temperature.gpu", "pstate", "clocks_throttle_reasons.active",
)
CLOCK_DROP_WARN = 0.10
BUSY_LOAD_FRACTION = 0.5
TEMP_RISE_WARN_C = 15.0
# Throttle-reason bits that mean "slowed down" (not idle): SW power cap,
# HW slowdown, SW thermal, HW thermal, HW power brake.
THROTTLE_BITS = {0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sw_thermal_slowdown",
                 0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown"}


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _number(text: str) -> Any:
    text = text.strip()
    if not text or text.startswith("[") or text.upper() == "N/A":
        return None
    try:
        return int(text, 16) if text.startswith("0x") else float(text)
    except ValueError:
        return text


def gpu_snapshot(gpu_id: str | None) -> dict[str, Any] | None:
    """Clocks (MHz), power (W), temperature (C) of one GPU, or None if unavailable."""
    if gpu_id is None:
        return None
    # Older/newer drivers may reject the throttle field: retry without it.
    return _query(gpu_id, SMI_FIELDS) or _query(gpu_id, SMI_FIELDS[:-1])


def _query(gpu_id: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    cmd = ["nvidia-smi", f"--id={gpu_id}", f"--query-gpu={','.join(fields)}",
           "--format=csv,noheader,nounits"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    values = proc.stdout.strip().splitlines()[0].split(",")
    if len(values) != len(fields):
        return None
    snap = {f: _number(v) for f, v in zip(fields, values, strict=True)}
    snap["name"] = values[0].strip()
    return snap


def throttle_warnings(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Warn on an SM clock drop, a temperature rise, or active throttle reasons."""
    if not before or not after:
        return []
    out: list[str] = []
    c0, c1 = before.get("clocks.sm"), after.get("clocks.sm")
    if isinstance(c0, float) and isinstance(c1, float) and c0 > 0 and c1 < c0 * (1 - CLOCK_DROP_WARN):
        out.append(f"GPU SM clock dropped {c0:.0f} -> {c1:.0f} MHz during the run (throttling?)")
    t0, t1 = before.get("temperature.gpu"), after.get("temperature.gpu")
    if isinstance(t0, float) and isinstance(t1, float) and t1 - t0 > TEMP_RISE_WARN_C:
        out.append(f"GPU temperature rose {t0:.0f} -> {t1:.0f} C during the run")
    reasons = after.get("clocks_throttle_reasons.active")
    if isinstance(reasons, int):
        active = [name for bit, name in THROTTLE_BITS.items() if reasons & bit]
        if active:
            out.append("GPU clocks limited at the end of the run by: " + ", ".join(active))
    return out


def load_average() -> list[float] | None:
    """1/5/15-minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def busy_warning(load: list[float] | None, cpus: int | None) -> list[str]:
    """Warn when other work already occupied over half the CPUs before the run."""
    if not load or not cpus or load[0] <= BUSY_LOAD_FRACTION * cpus:
        return []
    return [f"machine busy: 1-minute load average {load[0]:.2f} on {cpus} CPUs before the run; "
            "other processes compete for CPU and memory bandwidth"]


def gpu_id(device: Any) -> str | None:
    """nvidia-smi id of a torch CUDA device: its UUID (robust to renumbering) or index."""
    import torch

    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    uuid = getattr(props, "uuid", None)
    if uuid is not None:
        text = str(uuid)
        return text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"
    return str(device.index)


def collect(device: Any) -> dict[str, Any]:
    """Versions, CPU and (on CUDA) GPU facts; snapshots are added by the runner."""
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_average(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "device": str(device),
        "gpu_name": None,
        "gpu_capability": None,
        "gpu_memory_bytes": None,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu_name=props.name, gpu_capability=f"{props.major}.{props.minor}",
                   gpu_memory_bytes=props.total_memory)
    return env
