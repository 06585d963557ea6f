"""The JSON Schema for spec files: generated from the registries, shipped, and true to the specs."""
import json
from pathlib import Path

import pytest
import yaml

from cnntool.spec.schema import SCHEMA_FILE, schema_text, spec_schema

jsonschema = pytest.importorskip("jsonschema")

SPECS = sorted((Path(__file__).parent.parent / "model_specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(spec_schema())


def errors(validator, text: str) -> list[str]:
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


def test_committed_schema_is_current():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "cnntool/spec/spec.schema.json is stale (a layer kind, field or key changed); regenerate it with\n"
        "    cnntool schema -o cnntool/spec/spec.schema.json")


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(spec_schema())
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["$schema"].endswith("2020-12/schema")


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_builtin_spec_validates(validator, path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert not problems, "\n".join(problems[:5])


GOOD = """
name: t
input: [3, 32, 32]
args: {w: 16, bn: true}
defaults: {conv: {kernel: 3, padding: same}}
blocks:
  unit:
    args: {c: null}
    layers: [conv: $c, {bn: null, if: $bn}, relu]
layers:
  - conv: {out: $w, kernel: [3, 5], padding: [1, 2], stride: 1}
  - unit: ${2 * w}
    repeat: 2
  - parallel: {branches: {main: [conv: 32, relu], shortcut: []}, merge: add}
  - name: pool
    maxpool: 2
  - globalavgpool
  - flatten
  - linear: 10
expect:
  - source: a test
    params: 1.2 M
    macs: "3.8 G ± 0.1"
    out_shape: [10]
    by_kind: {conv: {layers: 3}}
    layers: {pool: {out_shape: [32, 16, 16], rf: 5}}
"""


def test_a_spec_using_every_construct_validates(validator):
    assert errors(validator, GOOD) == []


@pytest.mark.parametrize("bad, where, why", [
    ("layers: [convv: 64]", "layers/0", "unknown kind (no blocks in this file, so not a block call)"),
    ("layers: [convv]", "layers/0", "unknown kind written bare"),
    ("layers: [conv: {out: 64, kernel: 3, stirde: 2}]", "layers/0/conv", "unknown field on conv"),
    ("layers: [conv: {out: sixty-four, kernel: 3}]", "layers/0/conv/out", "wrong type: out is an integer"),
    ("layers: [conv: {out: 64, kernel: [3, 3, 3]}]", "layers/0/conv/kernel", "a Pair has two items"),
    ("layers: [conv: {out: 64, kernel: 3, padding: full}]", "layers/0/conv/padding", "a Pair, 'same' or 'valid'"),
    ("layers: [{conv: 64, relu: null}]", "layers/0", "two kinds in one entry"),
    ("layers: [{name: x}]", "layers/0", "meta keys only"),
    ("layers: [{relu: null, repeat: 2, for: {a: [1]}}]", "layers/0", "repeat and for together"),
    ("layers: [parallel: {branches: [[relu], []], merge: max}]", "layers/0/parallel/merge", "add, concat or mul"),
    ("defaults: {convv: {kernel: 3}}\nlayers: [relu]", "defaults", "defaults for an unknown kind"),
    ("defaults: {conv: {kernal: 3}}\nlayers: [relu]", "defaults/conv", "defaults with an unknown field"),
    ("layers: [relu]\nexpect: {params: 5}", "expect", "expect without a source"),
    ("layers: [relu]\nexpect: {source: x, params: lots}", "expect/params", "a figure that cannot be read"),
    ("layers: [relu]\nexpect: {source: x, by_kind: {convv: {params: 1}}}", "expect/by_kind", "by_kind names a kind"),
    ("layers: [relu]\nlayer: [relu]", "", "unknown top-level key"),
    ("layers: [relu]\nvariants: {a: {layers: [relu]}}", "variants/a", "variants cannot change the layers"),
    ("input: [3, 8]\nlayers: [relu]", "input", "input is [C, H, W] or [features]"),
])
def test_bad_specs_fail(validator, bad, where, why):
    text = ("name: t\n" if "input:" in bad else "name: t\ninput: [3, 8, 8]\n") + bad
    found = [e for e in validator.iter_errors(yaml.safe_load(text))]
    assert found, why
    best = jsonschema.exceptions.best_match(found)
    assert "/".join(map(str, best.absolute_path)) == where, (why, best.message)


def test_block_calls_are_allowed_where_blocks_exist(validator):
    text = "name: t\ninput: [3, 8, 8]\nblocks: {b: {layers: [relu]}}\nlayers: [b, {b: null, repeat: 2}]\n"
    assert errors(validator, text) == []
    assert errors(validator, text.replace("blocks: {b:", "blocks: {conv:")), "a block may not take a kind's name"


def test_schema_command_writes_the_file(tmp_path):
    from typer.testing import CliRunner

    from cnntool.cli.main import app
    out = tmp_path / "s.json"
    result = CliRunner().invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == schema_text()
    printed = CliRunner().invoke(app, ["schema"])
    assert json.loads(printed.stdout)["title"] == "cnntool spec"


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_docs_describe_every_kind_and_field():
    """docs/spec-language.md is written by hand; this keeps it in step with the registry."""
    from cnntool.layers import REGISTRY
    from cnntool.layers.base import fields_of
    doc = (Path(__file__).parent.parent / "docs" / "spec-language.md").read_text(encoding="utf-8")
    kinds = {line.split("|")[1].strip(" `"): line for line in _section(doc, "Layer kinds").splitlines()
             if line.startswith("| `")}
    counting = _section(doc, "Counting conventions")
    missing = sorted(set(REGISTRY) - set(kinds))
    assert not missing, f"add these kinds to the 'Layer kinds' table of docs/spec-language.md: {missing}"
    for kind, cls in REGISTRY.items():
        for f in fields_of(cls):
            assert f"`{f.name}`" in kinds[kind], f"docs/spec-language.md: {kind} lacks its field `{f.name}`"
        assert f"`{kind}`" in counting, f"docs/spec-language.md: add {kind}'s rule to 'Counting conventions'"
