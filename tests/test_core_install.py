"""A core install (`pip install cnntool`, no extras) never tracebacks: tests/core_smoke.py under a blocker."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import core_smoke  # noqa: E402


def test_every_subcommand_without_torch_or_matplotlib():
    proc = core_smoke.run_blocked()
    assert proc.returncode == 0 and "calls behave" in proc.stdout, proc.stdout + proc.stderr


def test_the_blocker_blocks():
    """Otherwise the test above would pass on any machine."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(core_smoke.BLOCKER)
        proc = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True,
                              env={"PYTHONPATH": tmp, "PATH": ""}, timeout=60)
    assert proc.returncode == 1 and "No module named 'torch'" in proc.stderr
