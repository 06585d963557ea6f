"""Forward-pass benchmarking (cnntool bench)."""
