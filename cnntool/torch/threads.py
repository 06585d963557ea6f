"""torch's intra-op thread count, set for a block and restored after it."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["num_threads"]


@contextlib.contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Set torch's intra-op thread count for the block (None: leave it) and restore it afterwards."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
