"""Peak dense throughput and memory bandwidth of known GPUs, as data.

Source: NVIDIA data sheets -- "NVIDIA A100 Tensor Core GPU" (2021),
"NVIDIA H100 Tensor Core GPU" (2023) and "NVIDIA H200 Tensor Core GPU" (2024).
Tensor-core figures are the *dense* ones (the data sheets headline 2x "with
sparsity"). Units: TFLOP/s and TB/s (10^12). A GPU is matched on
``torch.cuda.get_device_name`` by case-insensitive substrings; an unmatched
name means "peak unknown", and MFU is then not reported rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = (
    "NVIDIA data sheets: A100 Tensor Core GPU (2021), H100 Tensor Core GPU (2023), "
    "H200 Tensor Core GPU (2024); dense (non-sparse) figures"
)

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class DevicePeak:
    """Peak dense TFLOP/s per precision and peak DRAM bandwidth of one GPU model."""

    name: str
    all_of: tuple[str, ...]
    none_of: tuple[str, ...]
    fp32: float
    tf32: float
    fp16: float
    bf16: float
    bandwidth_tbs: float

    def matches(self, device_name: str) -> bool:
        """True when every required substring is present and no excluded one is."""
        text = device_name.upper()
        return all(s in text for s in self.all_of) and not any(s in text for s in self.none_of)

    def tflops(self, precision: str) -> float:
        """Peak dense TFLOP/s for fp32, tf32, fp16 or bf16."""
        if precision not in PRECISIONS:
            raise KeyError(precision)
        return float(getattr(self, precision))

    def ridge_flop_per_byte(self, precision: str) -> float:
        """Roofline ridge point: arithmetic intensity where compute and bandwidth meet."""
        return self.tflops(precision) / self.bandwidth_tbs


# Order matters: the first match wins, so specific entries come first.
PEAKS: tuple[DevicePeak, ...] = (
    DevicePeak("H200", ("H200",), ("NVL",), 67.0, 495.0, 989.0, 989.0, 4.8),
    DevicePeak("H100 PCIe", ("H100", "PCIE"), (), 51.0, 378.0, 756.0, 756.0, 2.0),
    DevicePeak("H100 SXM", ("H100",), ("PCIE", "NVL"), 67.0, 495.0, 989.0, 989.0, 3.35),
    DevicePeak("A100 SXM 80GB", ("A100", "SXM", "80GB"), (), 19.5, 156.0, 312.0, 312.0, 2.039),
    DevicePeak("A100 SXM 40GB", ("A100", "SXM", "40GB"), (), 19.5, 156.0, 312.0, 312.0, 1.555),
    DevicePeak("A100 PCIe 80GB", ("A100", "PCIE", "80GB"), (), 19.5, 156.0, 312.0, 312.0, 1.935),
    DevicePeak("A100 PCIe 40GB", ("A100", "PCIE"), (), 19.5, 156.0, 312.0, 312.0, 1.555),
)


def find_peak(device_name: str | None) -> DevicePeak | None:
    """The table entry for a GPU name, or None when the GPU is not in the table."""
    if not device_name:
        return None
    return next((p for p in PEAKS if p.matches(device_name)), None)
