"""Every code block of README.md and docs/*.md runs here, so the docs cannot drift from the tool.

- `sh`/`console` lines that call cnntool are parsed against the real CLI (options, types, choices);
  cheap ones (no torch) also run and must exit 0, or 2 where the block shows an error;
- output blocks (marked `<!-- doc-test: output of `cmd` -->`, or console blocks with `$ cmd` and
  its output) must match the real output line by line, the `…` lines aside;
- `yaml` blocks load with cnntool's loader: whole specs are analysed and their `expect:` holds,
  fragments must use only spec keys; `python` blocks run, and a `# value` comment after an
  expression is checked.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

import cnntool
from cnntool.cli.main import app
from cnntool.spec.expect import evaluate
from cnntool.spec.file import TOP_KEYS, SpecFile

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = re.compile(r"<!-- doc-test: output of `(.+)` -->")
CHEAP = {"shapes", "params", "flops", "summary", "list", "compare", "spec", "schema"}  # no torch
runner = CliRunner()


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    text: str
    command: str | None  # from a doc-test marker

    @property
    def id(self) -> str:
        return f"{self.file.name}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        start = None
        for i, line in enumerate(lines):
            if line.startswith("```") and start is None:
                start, lang = i, line[3:].strip()
            elif line.startswith("```"):
                before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
                mark = MARK.fullmatch(before.strip())
                found.append(Block(path, start + 1, lang, "\n".join(lines[start + 1:i]), mark and mark.group(1)))
                start = None
    return found


BLOCKS = blocks()
TORCH_PY = {"README.md", "check.md", "bench.md"}  # their Python blocks build or time torch modules


def _params(kind: str) -> list:
    chosen = [b for b in BLOCKS if _kind(b) == kind]
    return [pytest.param(b, id=b.id, marks=pytest.mark.slow if _slow(b) else ()) for b in chosen]


def _kind(block: Block) -> str:
    if block.command or (block.lang in ("", "console") and block.text.startswith("$ ") and "\n" in block.text
                         and not all(line.startswith("$ ") for line in block.text.splitlines())):
        return "output"
    return {"sh": "shell", "console": "shell", "yaml": "yaml", "python": "python", "json": "json"}.get(block.lang, "?")


def _slow(block: Block) -> bool:
    if block.lang == "python":
        return block.file.name in TORCH_PY
    return "cnntool check " in block.text and "--fast" not in block.text


def test_every_block_is_tested():
    assert BLOCKS and all(_kind(b) != "?" for b in BLOCKS), [b.id for b in BLOCKS if _kind(b) == "?"]


# -- commands -------------------------------------------------------------------------------

def _commands(block: Block) -> list[list[str]]:
    """The cnntool calls of a shell block, as argument lists (comments and redirections dropped)."""
    calls = []
    for line in block.text.splitlines():
        line = line.removeprefix("$ ")
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if ">" in words:
                words = words[:words.index(">")]
            if words[:1] == ["cnntool"]:
                calls.append(words[1:])
    return calls


def parse(args: list[str]) -> None:
    """Parse a command line as cnntool would, without running it (UsageError if it is wrong)."""
    command, ctx, name = get_command(app), None, "cnntool"
    while True:
        ctx = command.make_context(name if ctx else "cnntool", list(args), parent=ctx)
        if not hasattr(command, "resolve_command"):
            return
        rest = [*getattr(ctx, "_protected_args", getattr(ctx, "protected_args", [])), *ctx.args]
        name, command, args = command.resolve_command(ctx, rest)


@pytest.mark.parametrize("block", _params("shell"))
def test_shell_blocks(block, monkeypatch, tmp_path):
    for args in _commands(block):
        parse(args)
    for line in block.text.splitlines():  # the Quickstart lines are what CI runs
        if line.startswith("pip install -e '.[all]' && python -m pytest"):
            assert line in (ROOT / ".ci" / "run").read_text()
        if line.startswith("$ python bench/"):
            assert (ROOT / shlex.split(line[2:])[1]).is_file()
    monkeypatch.chdir(tmp_path)
    for args in _commands(block):
        if args[0] in CHEAP and not any(a.endswith((".yaml", ".json")) and not Path(a).exists()
                                        and "spec" != args[0] for a in args):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, f"{block.id}: cnntool {' '.join(args)}\n{result.output}"


# -- output ---------------------------------------------------------------------------------

def _norm(line: str) -> str:
    """A table row as its cells (widths and borders aside); other lines with single spaces."""
    if "│" in line or "┃" in line:
        cells = [c.strip() for c in re.split("[│┃]", line)]
        cells = [re.sub(r"^\d+(\.\d+)? s$", "<time>", c) for c in cells]
        return " | ".join(c for c in cells if c)
    return " ".join(line.split())


def _mynet(broken: bool) -> str:
    """README's 'Writing a spec' example (and the misspelt copy its error example shows)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = readme.split("## Writing a spec\n\n```yaml\n")[1].split("```")[0]
    return text.replace("stride", "stirde") if broken else text


def _run(args: list[str], tmp_path: Path) -> str:
    if args == ["shapes", "specs/mynet.yaml"]:
        (tmp_path / "specs").mkdir(exist_ok=True)
        (tmp_path / "specs" / "mynet.yaml").write_text(_mynet(broken=True))
        import os
        here = os.getcwd()
        os.chdir(tmp_path)
        try:
            return runner.invoke(app, args).output
        finally:
            os.chdir(here)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("block", _params("output"))
def test_output_blocks_match_the_real_output(block, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    if block.command:
        runs = [(shlex.split(block.command)[1:], block.text.splitlines())]
    else:  # a console transcript: `$ cmd` then its output
        runs, lines = [], block.text.splitlines()
        for line in lines:
            if line.startswith("$ "):
                runs.append((shlex.split(line[2:])[1:], []))
            else:
                runs[-1][1].append(line)
    for args, shown in runs:
        actual = _run(args, tmp_path)
        if block.lang == "json":
            _match_json(shown, actual)
            continue
        have = {_norm(line) for line in actual.splitlines()}
        for line in shown:
            if "…" not in line and line.strip() and not set(line.strip()) <= set("─━┏┓┗┛┡┩└┘╇╈┼┳┻"):
                assert _norm(line) in have, f"{block.id}: `cnntool {' '.join(args)}` no longer prints\n{line}"


def _match_json(shown: list[str], actual: str) -> None:
    """Each `"key": value` of the (trimmed) example is in the real JSON, as written."""
    compact = json.dumps(json.loads(actual), ensure_ascii=False)
    pairs = re.findall(r'"\w+": (?:"[^"…]*"|[\d.-]+|null|\[[^\[\]…]*\])', "\n".join(shown))
    assert len(pairs) > 10
    for pair in pairs:
        assert pair in compact, pair


# -- yaml, json, python ---------------------------------------------------------------------

@pytest.mark.parametrize("block", _params("yaml"))
def test_yaml_blocks(block, tmp_path):
    data = yaml.safe_load(block.text)
    if block.text.startswith("# .pre-commit-config.yaml"):
        hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
        assert data["repos"][0]["hooks"][0]["id"] in {h["id"] for h in hooks}
        return
    if block.text.startswith("# .github/workflows/"):
        runs = [s["run"] for s in data["jobs"]["check"]["steps"] if "run" in s]
        for line in "\n".join(runs).splitlines():
            if line.strip().startswith("cnntool "):
                parse(shlex.split(line)[1:])
        return
    if data is None:  # a comment only: the schema line points at the shipped schema
        assert (ROOT / "docs" / block.text.split("$schema=")[1].strip()).resolve().is_file()
        return
    if isinstance(data, dict) and {"name", "input", "layers"} <= set(data):
        path = tmp_path / "spec.yaml"
        path.write_text(block.text)
        spec = SpecFile(path)
        for variant in list(spec.variants) or [None]:
            model = spec.model(variant)
            count, failures = evaluate(model.expect, cnntool.analyze(model))
            assert not failures, failures
        return
    keys = set(data) if isinstance(data, dict) else {next(iter(item)) for item in data if isinstance(item, dict)}
    from cnntool.layers import REGISTRY
    from cnntool.spec.expand import CONSTRUCTS
    assert keys <= set(TOP_KEYS) | set(REGISTRY) | set(CONSTRUCTS), keys  # a fragment of a spec


def test_readme_spec_numbers():
    path = Path(__file__)  # the figures the README quotes under the example
    model = SpecFile(path.with_name("x.yaml"), text=_mynet(broken=False)).model()
    totals = cnntool.analyze(model).totals
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"gives {totals.params:,} parameters and {totals.macs:,} MACs" in readme


@pytest.mark.parametrize("block", _params("json"))
def test_json_blocks(block):
    if block.command:  # an output block
        return
    settings = json.loads("{" + block.text + "}")
    for pattern in settings["yaml.schemas"]:
        assert (ROOT / pattern).is_file()


@pytest.mark.parametrize("block", _params("python"))
def test_python_blocks(block, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for node in ast.parse(block.text).body:
        source = ast.get_source_segment(block.text, node)
        line = block.text.splitlines()[node.end_lineno - 1]
        if isinstance(node, ast.Expr) and "  # " in line:
            value = eval(compile(ast.Expression(node.value), block.id, "eval"), namespace)
            comment = line.split("  # ", 1)[1].strip()
            _check_comment(block, source, value, comment)
        else:
            exec(compile(ast.Module([node], []), block.id, "exec"), namespace)


def _check_comment(block: Block, source: str, value, comment: str) -> None:
    """`expr   # (25557032, 32713474048)`: the value the docs promise."""
    head = comment.split(": ")[0]
    try:
        expected = ast.literal_eval(head)
    except (ValueError, SyntaxError):
        if re.match(r"^[\w.]+\(", head):  # torch.Size([2, 1000])
            assert str(value) == head, f"{block.id}: {source} is {value}, the docs say {head}"
        return
    assert value == expected, f"{block.id}: {source} is {value!r}, the docs say {head}"
