"""A JSON Schema (draft 2020-12) for spec files, generated from the code that reads them.

Everything comes from the registries: the top-level and variant keys (cnntool.spec.file), the meta
keys and constructs (cnntool.spec.expand), each layer kind's fields with their types, defaults and
docs (cnntool.layers), and the expect keys (cnntool.spec.expect). Editors use it for completion,
hover text and red squiggles; `cnntool schema -o cnntool/spec/spec.schema.json` refreshes the copy
shipped with the package. It validates structure only: whether `conv: $width` resolves, or a
`from:` names an earlier node, is for the analysis to say.

A block call is any other single key, since block names are the spec's own. A file without
`blocks:` has no block calls, so there an unknown key in a layer entry is an error.
"""
from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import typer

from .yamlsource import EXP_FLOAT

__all__ = ["spec_schema", "schema_text", "register", "SCHEMA_FILE"]

SCHEMA_FILE = Path(__file__).with_name("spec.schema.json")
DRAFT = "https://json-schema.org/draft/2020-12/schema"

META_DOCS = {
    "name": "explicit node name (letters, digits, '_', '-'); with repeat/for it gets 1..N appended",
    "from": "input node name, or a list of names (add, concat); default: the previous entry",
    "repeat": "repeat this entry N times in a chain (N ≥ 0; 0 leaves it out)",
    "for": "loop binding variables, zipped: {var: [list], var2: [list]} (lists of one length)",
    "if": "include this entry only when the expression is true",
}
EXPR = {"$ref": "#/$defs/expr"}
EXPR_PATTERN = r"\$(\{[^{}]+\}|[A-Za-z_])"  # `$name` or `${...}` anywhere in the string
NOT_EXPR = "a string here must be an expression: $name or ${...}"


def _with_expr(schema: dict[str, Any]) -> dict[str, Any]:
    """A value of this schema, or an expression string (`pattern` only constrains strings)."""
    if set(schema) <= {"type", "minimum"} and isinstance(schema["type"], str):
        return {**schema, "type": [schema["type"], "string"], "pattern": EXPR_PATTERN,
                "patternErrorMessage": NOT_EXPR}
    return {"anyOf": [schema, EXPR]}


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of one field type; any value may also be a `$x` / `${expr}` string."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp == tuple[int, int]:  # Pair: 3 or [3, 5]
        item = _with_expr({"type": "integer"})
        return _with_expr({"anyOf": [{"type": "integer"},
                                     {"type": "array", "items": item, "minItems": 2, "maxItems": 2}]})
    if origin is Literal:
        return _with_expr({"enum": list(args)})
    if origin is Union:
        options = [type_schema(a) for a in args if a is not type(None)]
        if type(None) in args:
            options.append({"type": "null"})
        return {"anyOf": options}
    if origin in (list, tuple):
        return _with_expr({"type": "array", "items": type_schema(args[0])})
    simple = {int: "integer", float: "number", bool: "boolean"}
    if tp is float:  # YAML 1.1 reads an unquoted 1e-6 as text; cnntool reads it as the number
        return _with_expr({"anyOf": [{"type": "number"}, {"type": "string", "pattern": EXP_FLOAT.pattern}]})
    if tp in simple:
        return _with_expr({"type": simple[tp]})
    if tp is str:
        return {"type": "string"}
    raise TypeError(f"cnntool.spec.schema does not know the field type {tp!r}; add it to type_schema()")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


def _fields(cls: type) -> dict[str, Any]:
    from ..layers.base import fields_of
    props = {}
    for f in fields_of(cls):
        schema = {"description": f.doc + (" (required: here or under `defaults:`)" if f.required else ""),
                  **type_schema(f.type)}
        if not f.required and f.default is not None:
            schema["default"] = _plain(f.default)
        props[f.name] = schema
    return {"type": "object", "properties": props, "additionalProperties": False}


def _kind_value(kind: str, cls: type) -> dict[str, Any]:
    """`- relu`, `- conv: 64` (primary field), `- conv: {out: 64, ...}`, `- add: [a, b]`."""
    from ..layers.base import fields_of
    forms: list[dict[str, Any]] = [{"type": "null"}, {"$ref": f"#/$defs/fields/{kind}"}]
    if cls.primary:
        forms.append(type_schema(next(f.type for f in fields_of(cls) if f.name == cls.primary)))
    if cls.arity[1] != 1:
        forms.append({"type": "array", "items": {"type": "string"}, "minItems": cls.arity[0]})
    text = cls.doc + (f" A scalar sets `{cls.primary}`." if cls.primary else "")
    # object or not decides the form, so an unknown field is reported as such
    return {"description": text, "if": {"type": "object"}, "then": forms[1],
            "else": {"anyOf": [forms[0], *forms[2:]]}}


def _meta() -> dict[str, Any]:
    from .expand import META_KEYS
    names = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"}
    schemas = {
        "name": {"anyOf": [names, EXPR]},
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "repeat": _with_expr({"type": "integer", "minimum": 0}),
        "for": {"type": "object", "minProperties": 1,
                "additionalProperties": {"anyOf": [{"type": "array"}, EXPR]}},
        "if": {"type": ["boolean", "string", "integer", "null"]},
    }
    return {key: {"description": META_DOCS[key], **schemas[key]} for key in META_KEYS}


def _entry(open_: bool) -> dict[str, Any]:
    """One list item: a kind, a construct or (open_) a block call, plus optional meta keys."""
    from .expand import CONSTRUCTS, META_KEYS
    from ..layers import REGISTRY
    suffix = "" if open_ else "_closed"
    kinds = sorted(REGISTRY)
    props = {kind: {"$ref": f"#/$defs/kinds/{kind}"} for kind in kinds}
    props["seq"] = {"description": "an inline group of entries, e.g. with `repeat`",
                    "$ref": f"#/$defs/layers{suffix}"}
    props["parallel"] = {"$ref": f"#/$defs/parallel{suffix}"}
    props.update({key: {"$ref": f"#/$defs/meta/{key}"} for key in META_KEYS})
    one_kind = [{"if": {"required": [k]}, "then": {"propertyNames": {"enum": [k, *META_KEYS]}}}
                for k in (*kinds, *CONSTRUCTS)]
    mapping = {
        "type": "object", "properties": props,
        "additionalProperties": {"$ref": "#/$defs/block_call"} if open_ else False,
        "not": {"propertyNames": {"enum": list(META_KEYS)}},  # at least one kind, construct or block
        "allOf": [{"not": {"required": ["repeat", "for"]}}, *one_kind],
    }
    bare = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"} if open_ else {"enum": kinds}
    return {"description": "a layer kind, a construct (seq, parallel)" + (", a block call" if open_ else "")
            + " and optional meta keys (name, from, repeat, for, if)",
            "if": {"type": "string"}, "then": {**bare, "description": "a kind (or block) with no fields: `- relu`"},
            "else": mapping}


def _parallel(suffix: str) -> dict[str, Any]:
    from .expand import MERGES
    layers = {"$ref": f"#/$defs/layers{suffix}"}
    branch = {"anyOf": [layers, {
        "type": "object", "required": ["if", "layers"], "additionalProperties": False,
        "description": "a branch that exists only when `if` is true",
        "properties": {"if": {"type": ["boolean", "string"]}, "layers": layers}}]}
    return {
        "description": "branches from one input, merged: {branches: [[...], [...]] or {name: [...]}, "
                       "merge: add|concat|mul}; an empty branch is the identity",
        "type": "object", "required": ["branches"], "additionalProperties": False,
        "properties": {
            "branches": {"description": "a list of layer lists (scopes branch1, branch2, ...) or name: layers",
                         "anyOf": [{"type": "array", "items": branch, "minItems": 2},
                                   {"type": "object", "additionalProperties": branch, "minProperties": 2}]},
            "merge": {"description": "how branch outputs are joined", "enum": list(MERGES),
                      "default": "concat"}}}


def _expect() -> tuple[dict[str, Any], dict[str, Any]]:
    from .expect import KIND_KEYS, LAYER_KEYS, TOTAL_KEYS
    from ..layers import REGISTRY
    count = {"description": "an exact integer or a rounded figure: '138 M', '1.08 G', '3.8 G ± 0.1', '3.99 Gi'",
             "anyOf": [{"type": "integer"}, {"$ref": "#/$defs/figure"}]}
    shape = {"description": "a shape without the batch, e.g. [1000] or [64, 224, 224]",
             "type": "array", "items": {"type": "integer"}}
    special = {"out_shape": shape, "rf": {"description": "receptive field size: n (square) or [h, w]",
                                          "anyOf": [{"type": "integer"}, shape]}}
    pick = lambda keys: {k: special.get(k, count) for k in keys}  # noqa: E731
    block = {
        "type": "object", "required": ["source"], "additionalProperties": False,
        "properties": {
            "source": {"type": "string", "description": "where these numbers come from"},
            **pick(TOTAL_KEYS),
            "by_kind": {"description": "totals per layer kind", "type": "object",
                        "propertyNames": {"enum": sorted(REGISTRY)},
                        "additionalProperties": {"type": "object", "additionalProperties": False,
                                                 "properties": pick(KIND_KEYS)}},
            "layers": {"description": "per node, by its full dotted name (e.g. stage1.conv1)", "type": "object",
                       "additionalProperties": {"type": "object", "additionalProperties": False,
                                                "properties": pick(LAYER_KEYS)}}}}
    return {"description": "published numbers to reproduce (batch 1, the spec's input): one block or a list, "
                           "each with its source",
            "anyOf": [{"$ref": "#/$defs/expect_block"}, {"type": "array", "items": {"$ref": "#/$defs/expect_block"},
                                                         "minItems": 1}]}, block


def _top(keys: dict[str, tuple[bool, str]]) -> dict[str, Any]:
    from ..check.run import REFERENCE  # the builders `cnntool check` accepts (never arbitrary code)
    shape = {"type": "array", "items": {"type": "integer", "minimum": 1},
             "anyOf": [{"minItems": 3, "maxItems": 3}, {"minItems": 1, "maxItems": 1}]}
    schemas: dict[str, Any] = {
        "name": {"type": "string"}, "description": {"type": "string"}, "source": {"type": "string"},
        "notes": {"type": "string"}, "input": shape,
        "args": {"type": "object"}, "defaults": {"$ref": "#/$defs/defaults"},
        "functions": {"type": "object", "propertyNames": {"pattern": r"^\s*[A-Za-z_]\w*\s*\(.*\)\s*$"},
                      "additionalProperties": {"type": ["string", "number"]}},
        "blocks": {"$ref": "#/$defs/blocks"}, "layers": {"$ref": "#/$defs/layers"},
        "expect": {"$ref": "#/$defs/expect"}, "variants": {"$ref": "#/$defs/variants"},
        "reference": {"type": "string", "pattern": REFERENCE.pattern},
        "accuracy": {"type": "object", "properties": {"top1": {"type": "number"}, "top5": {"type": "number"},
                                                      "source": {"type": "string"}}},
    }
    return {k: {"description": text, **schemas[k]} for k, (_, text) in keys.items()}


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file, built from the live registries."""
    from .expand import CONSTRUCTS, META_KEYS
    from ..layers import REGISTRY
    from .file import TOP_KEYS, VARIANT_KEYS
    kinds = sorted(REGISTRY)
    expect, expect_block = _expect()
    taken = [*kinds, *CONSTRUCTS, *META_KEYS]
    defs = {
        "expr": {"description": "an expression: $name or ${expr} over the spec's and the block's arguments",
                 "type": "string", "pattern": EXPR_PATTERN, "patternErrorMessage": NOT_EXPR},
        "figure": {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kKMGT]i?)?\s*((±|\+-|\+/-)\s*\d+(\.\d+)?"
                                                r"\s*([kKMGT]i?)?)?\s*$"},
        "fields": {kind: _fields(REGISTRY[kind]) for kind in kinds},
        "kinds": {kind: _kind_value(kind, REGISTRY[kind]) for kind in kinds},
        "meta": _meta(),
        "entry": _entry(True), "entry_closed": _entry(False),
        "layers": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
        "layers_closed": {"type": "array", "items": {"$ref": "#/$defs/entry_closed"}},
        "parallel": _parallel(""), "parallel_closed": _parallel("_closed"),
        "block_call": {"description": "a block call: null, one value (the block's first argument) or "
                                      "{argument: value}"},
        "defaults": {"type": "object", "additionalProperties": False,
                     "properties": {k: {"$ref": f"#/$defs/fields/{k}"} for k in kinds}},
        "blocks": {"type": "object",
                   "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$", "not": {"enum": taken}},
                   "additionalProperties": {
                       "type": "object", "required": ["layers"], "additionalProperties": False,
                       "properties": {"description": {"type": "string"},
                                      "args": {"description": "argument: default (null: required)",
                                               "type": ["object", "null"]},
                                      "layers": {"$ref": "#/$defs/layers"}}}},
        "expect": expect, "expect_block": expect_block,
        "variants": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "properties": _top(VARIANT_KEYS)}},
    }
    return {
        "$schema": DRAFT,
        "title": "cnntool spec",
        "description": "A CNN described as data: input, layers, blocks, variants and the published numbers "
                       "it must reproduce (docs/spec-language.md).",
        "type": "object",
        "required": [k for k, (required, _) in TOP_KEYS.items() if required],
        "additionalProperties": False,
        "properties": _top(TOP_KEYS),
        # without `blocks:` there are no block calls, so an unknown key in an entry is an error
        "if": {"not": {"required": ["blocks"]}},
        "then": {"properties": {"layers": {"$ref": "#/$defs/layers_closed"}}},
        "$defs": defs,
    }


def schema_text() -> str:
    """The schema as written to cnntool/spec/spec.schema.json (stable key order, UTF-8)."""
    return json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema(output: Annotated[Optional[Path], typer.Option(
            "--output", "-o", metavar="FILE", help="Write the schema to this file instead of stdout.")] = None) -> None:
        """The JSON Schema of spec files (for editors: `# yaml-language-server: $schema=...`)."""
        from ..cli.main import emit, guard
        with guard():
            emit(schema_text(), output)
