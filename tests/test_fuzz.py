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


# -- the evaluator alone: random expressions end in a value within the limits or an ExprError --

from hypothesis import given, settings, strategies as st  # noqa: E402

from cnntool.spec import expr  # noqa: E402

_ATOMS = st.sampled_from(["0", "1", "2", "64", "65", "99999", "100001", "1e300", "1e999", "-1", "0.5", "'a'",
                          "'%0999999d'", "'%*d'", "[]", "[0]", "[[0]*1000]", "c", "xs", "true", "range(100000)"])
_BINARY = ["+", "-", "*", "/", "//", "%", "**", "<", "==", " in ", " and ", " or "]


def _expressions():
    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(_BINARY), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            st.tuples(st.sampled_from(["-", "not "]), inner).map(lambda t: f"({t[0]}{t[1]})"),
            st.tuples(st.sampled_from(["len", "sum", "int", "abs", "round", "min", "max", "range"]),
                      st.lists(inner, min_size=1, max_size=2)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"))
    return st.recursive(_ATOMS, extend, max_leaves=12)


def _within_limits(value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value.bit_length() <= expr.MAX_INT_BITS
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, (str, list)):
        return len(value) <= expr.MAX_ITEMS
    return value is None


@settings(max_examples=400, deadline=None)
@given(_expressions())
def test_random_expressions_give_a_bounded_value_or_an_expr_error(text):
    try:
        value = expr.substitute("${" + text + "}", {"c": 3, "xs": [1, 2, 3]})
    except expr.ExprError:
        return
    assert _within_limits(value), (text, repr(value)[:80])
