"""The bad-spec corpus: every file in tests/bad_specs/ is one broken spec that must fail with a
located, readable error, through the library and through the CLI.

Each file starts with comment lines that state what is expected:

    # error: <text the first line of the message contains>
    # at: <line>:<col>          where the message points (1-based, as editors count)
    # hint: / # also: <text>    more text the message must contain (a suggestion, a note)
    # unsafe: <why>             never loaded in this process, only in a memory-capped subprocess
    # xfail: <why>              a known defect in cnntool, reported to the lead; strict, so the
                                test fails once it is fixed and the marker must go
"""
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cnntool
from cnntool.errors import SpecError

CORPUS = Path(__file__).parent / "bad_specs"
HEADER = re.compile(r"^# (error|at|hint|also|unsafe|xfail): (.+)$")
MEMORY_CAP = 2 * 2**30  # bytes of address space for the CLI subprocess: a bomb fails there, not here
HANG_GUARD_S = 60  # a guard against hangs, not a speed requirement


@dataclass
class Case:
    path: Path
    error: str
    line: int
    col: int
    also: list[str] = field(default_factory=list)
    unsafe: str | None = None
    xfail: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: error: "


def read_case(path: Path) -> Case:
    found: dict[str, list[str]] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        match = HEADER.match(text)
        if not match:
            break
        found.setdefault(match[1], []).append(match[2].strip())
    assert "error" in found and "at" in found, f"{path.name}: starts with no `# error:` and `# at:` lines"
    line, col = map(int, found["at"][0].split(":"))
    return Case(path, found["error"][0], line, col, found.get("hint", []) + found.get("also", []),
                (found.get("unsafe") or [None])[0], (found.get("xfail") or [None])[0])


CASES = [read_case(p) for p in sorted(CORPUS.glob("*.yaml"))]


def _cases():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.path.stem, marks=marks)


CASE_PARAMS = list(_cases())


def check_message(case: Case, text: str) -> None:
    first = text.splitlines()[0] if text else ""
    assert first.startswith(case.where), f"expected the error at {case.where!r}, got:\n{text}"
    assert case.error in first, f"expected {case.error!r} in:\n{text}"
    for more in case.also:
        assert more in text, f"expected {more!r} in:\n{text}"


def test_corpus_covers_the_required_failures():
    required = {"kernel_larger_than_input", "conv_out_zero", "input_zero", "add_channels_parallel",
                "add_channels_from", "unknown_kind", "unknown_field", "unknown_top_key", "unknown_reference",
                "forward_reference", "broken_yaml", "empty", "python_tag", "alias_bomb", "huge_repeat",
                "missing_required_field", "wrong_type", "bad_expression", "block_missing_argument",
                "concat_size_mismatch", "linear_without_flatten", "duplicate_key", "duplicate_name",
                "same_padding_stride2"}
    assert required <= {case.path.stem for case in CASES}


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_library_reports_a_located_error(case):
    if case.unsafe:
        pytest.skip(f"not loaded in the test process: {case.unsafe}")
    with pytest.raises(SpecError) as info:
        cnntool.analyze(cnntool.load(str(case.path)))
    check_message(case, str(info.value))


def _cap_memory() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


# through the real entry point in a memory-capped subprocess: the unsafe cases, and a few that
# prove the installed `python -m cnntool` path (the rest run in-process: ~0.5 s of startup each)
SUBPROCESS = {"broken_yaml", "alias_bomb", "huge_repeat", "deep_nesting", "unknown_field"}


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_cli_prints_the_error_and_exits_2(case):
    if case.unsafe or case.path.stem in SUBPROCESS:
        result = subprocess.run([sys.executable, "-m", "cnntool", "shapes", str(case.path)], capture_output=True,
                                text=True, timeout=HANG_GUARD_S, preexec_fn=_cap_memory)
        code, out, err = result.returncode, result.stdout, result.stderr
    else:
        from typer.testing import CliRunner

        from cnntool.cli.main import app
        result = CliRunner().invoke(app, ["shapes", str(case.path)])
        code, out, err = result.exit_code, result.stdout, result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out + err, err[-2000:]
    assert code == 2, err[-2000:]
    check_message(case, err)


def test_alias_bomb_names_the_limit():
    from cnntool.spec.yamlsource import MAX_NODES
    with pytest.raises(SpecError, match=f"more than {MAX_NODES:,} values"):
        cnntool.load(str(CORPUS / "alias_bomb.yaml"))


def test_huge_repeat_names_the_limit():
    from cnntool.spec.expand import MAX_LAYERS
    with pytest.raises(SpecError, match=f"over the limit of {MAX_LAYERS:,} layers"):
        cnntool.load(str(CORPUS / "huge_repeat.yaml"))
