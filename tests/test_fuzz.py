"""Fuzz: random mutations of every built-in spec, in this process, under a CPU-time and a memory
guard (bench/fuzz_specs.py); anything but a SpecError is a crash. The long run (10,000 mutants)
is `python bench/fuzz_specs.py --count 10000`; this is the quick one CI runs."""
import importlib.util
from pathlib import Path

import pytest
import yaml

_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "fuzz_specs.py"
_spec = importlib.util.spec_from_file_location("fuzz_specs", _SCRIPT)
fuzz_specs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz_specs)

COUNT = 200  # mutants per seed: every built-in file about 20 times


@pytest.mark.parametrize("seed", [8])
def test_mutated_specs_fail_only_with_spec_errors(seed):
    crashes = fuzz_specs.fuzz(seed, COUNT)
    assert not crashes, "\n".join(f"{name}: {why}" for name, why, _ in crashes[:5])


def test_the_guards_catch_a_hang_and_a_memory_bomb():
    """The fuzz guard itself can fail: a loop past the time limit and an allocation past the cap."""
    with pytest.raises(fuzz_specs.Timeout):
        with fuzz_specs.guarded(0.2):
            while True:
                pass
    with pytest.raises(MemoryError):
        with fuzz_specs.guarded(30):
            bytearray(fuzz_specs.MEMORY_HEADROOM + 2**30)


def test_mutants_are_reproducible_and_differ_from_the_originals():
    first = list(fuzz_specs.mutants(3, 12))
    assert first == list(fuzz_specs.mutants(3, 12))
    originals = {p.name: yaml.safe_load(p.read_text()) for p in fuzz_specs.spec_dir().glob("*.yaml")}
    changed = [yaml.safe_load(text) != originals[name.split("-", 1)[1]] for name, text in first]
    assert sum(changed) >= 10, changed  # an edit can be a no-op (a value swapped for an equal one)
