"""The one exception type the bench raises for problems the user can fix."""

from __future__ import annotations


class BenchError(Exception):
    """A user-facing benchmark failure (missing device, bad option, bad file).

    The CLI prints the message and exits with code 2, never a traceback.
    """
