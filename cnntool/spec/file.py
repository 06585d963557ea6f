"""Read a spec document: check its top-level keys, pick a variant, set arguments, expand layers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import Loc, SpecError
from .expand import CONSTRUCTS, META_KEYS, Block, Expander, suggest
from .names import check_name
from .expect import parse_expect
from .functions import define_functions
from ..graph import Model
from ..layers import REGISTRY
from ..layers.base import MAX_DIM
from .yamlsource import LocList, LocMap, load_yaml, loc_of

__all__ = ["SpecFile", "read_spec", "TOP_KEYS", "VARIANT_KEYS"]

# key -> (required, what it holds); the JSON Schema and the docs are generated from these too
TOP_KEYS: dict[str, tuple[bool, str]] = {
    "name": (True, "model or family name"),
    "description": (False, "one line shown by `cnntool list`"),
    "source": (False, "where the architecture comes from (paper, table, repository)"),
    "notes": (False, "free text: choices made, known inconsistencies in the source"),
    "input": (True, "input shape [C, H, W] without the batch"),
    "args": (False, "spec arguments and their defaults, used as $name / ${expr}"),
    "functions": (False, "expression helpers, `name(a, b): expression`, callable in any ${...}"),
    "defaults": (False, "default fields per layer kind, e.g. {conv: {kernel: 3, padding: 1}}"),
    "blocks": (False, "reusable blocks: name -> {args: {...}, layers: [...]}"),
    "layers": (True, "the layer list"),
    "expect": (False, "published numbers the model must reproduce, each block with its source"),
    "variants": (False, "named variants: name -> {args, input, description, expect, ...}"),
    "reference": (False, "torchvision.models.<name> to compare with (cnntool check)"),
    "accuracy": (False, "published accuracy, e.g. {top1: 71.592, source: ...}"),
}
VARIANT_KEYS = {k: (False, TOP_KEYS[k][1]) for k in
                ("description", "source", "notes", "args", "input", "expect", "reference", "accuracy")}


def _check_keys(doc: LocMap, allowed: dict[str, tuple[bool, str]], what: str) -> None:
    for key in doc:
        if key not in allowed:
            raise SpecError(f"unknown key '{key}' in {what}", doc.key_locs[key],
                            hint=suggest(key, allowed) or "allowed: " + ", ".join(allowed))
    for key, (required, text) in allowed.items():
        if required and key not in doc:
            raise SpecError(f"{what} needs `{key}:` ({text})", doc.loc)


def _input_shape(value: Any, loc: Loc) -> tuple[int, ...]:
    ok = (isinstance(value, list) and len(value) in (1, 3)
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value))
    if ok and max(value) > MAX_DIM:
        raise SpecError(f"input {value!r} is over the limit of {MAX_DIM:,} per dimension", loc)
    if not ok:
        hint = "the input excludes the batch (set it with --batch)" if isinstance(value, list) and len(value) == 4 else ""
        raise SpecError(f"input must be [C, H, W] (or [features]) of positive integers, got {value!r}", loc,
                        hint=hint)
    return tuple(value)


ACCURACY_KEYS = {"top1": "top-1 %", "top5": "top-5 %", "source": "where the figure is published"}


def _accuracy(part: LocMap) -> dict[str, Any]:
    """`accuracy: {top1: 71.592, top5: ..., source: ...}`: percentages in [0, 100], a text source."""
    value = _mapping(part, "accuracy")
    for key, item in value.items():
        where = loc_of(value, key, value.loc)
        if key not in ACCURACY_KEYS:
            raise SpecError(f"unknown key '{key}' in accuracy", value.key_locs[key],
                            hint=suggest(key, ACCURACY_KEYS) or "allowed: " + ", ".join(ACCURACY_KEYS))
        if key == "source" and not isinstance(item, str):
            raise SpecError("accuracy.source must be text", where)
        if key != "source" and (not isinstance(item, (int, float)) or isinstance(item, bool) or not 0 <= item <= 100):
            raise SpecError(f"accuracy.{key} must be a percentage from 0 to 100, got {item!r}", where)
    return dict(value)


def _mapping(doc: LocMap, key: str) -> LocMap:
    value = doc.get(key)
    if value is None:
        empty = LocMap()
        empty.loc, empty.key_locs, empty.value_locs = doc.loc, {}, {}
        return empty
    if not isinstance(value, LocMap):
        raise SpecError(f"`{key}` must be a mapping", loc_of(doc, key, doc.loc))
    return value


class SpecFile:
    """One parsed spec file; ``model()`` turns it (or one of its variants) into a Model."""

    def __init__(self, path: Path | str, text: str | None = None, display: str | None = None):
        self.path = Path(path)
        self.display = display or str(path)
        doc = load_yaml(path, text, display=self.display)
        if not isinstance(doc, LocMap):
            raise SpecError("a spec is a mapping with name, input and layers", getattr(
                doc, "loc", Loc(self.display, 1, 1)))
        _check_keys(doc, TOP_KEYS, "the spec")
        self.doc = doc
        self.name = self._text(doc, "name")
        self.variants = _mapping(doc, "variants")
        for vname, variant in self.variants.items():
            check_name(vname, self.variants.key_locs[vname], "variant name")
            if not isinstance(variant, LocMap):
                raise SpecError(f"variant '{vname}' must be a mapping", loc_of(self.variants, vname, doc.loc))
            _check_keys(variant, VARIANT_KEYS, f"variant '{vname}'")
        for arg, where in _mapping(doc, "args").key_locs.items():
            check_name(arg, where, "argument name")
        self.blocks = self._blocks()
        self.defaults = self._defaults()

    def _text(self, doc: LocMap, key: str) -> str:
        value = doc.get(key, "")
        if not isinstance(value, str):
            raise SpecError(f"`{key}` must be text", loc_of(doc, key, doc.loc))
        return value.strip()

    def _blocks(self) -> dict[str, Block]:
        blocks = {}
        raw = _mapping(self.doc, "blocks")
        for name, body in raw.items():
            loc = raw.key_locs[name]
            check_name(name, loc, "block name")
            if name in REGISTRY or name in CONSTRUCTS or name in META_KEYS:
                raise SpecError(f"block name '{name}' is taken by a layer kind or keyword", loc)
            if not isinstance(body, LocMap) or set(body) - {"args", "layers", "description"} \
                    or not isinstance(body.get("layers"), LocList):
                raise SpecError(f"block '{name}' must be {{args: {{...}}, layers: [...]}}", loc)
            args = _mapping(body, "args")
            for arg in args:
                check_name(arg, args.key_locs[arg], "argument name")
            blocks[name] = Block(name, args, body["layers"], loc)
        return blocks

    def _defaults(self) -> dict[str, LocMap]:
        raw = _mapping(self.doc, "defaults")
        for kind, fields in raw.items():
            if kind not in REGISTRY:
                raise SpecError(f"defaults for unknown layer kind '{kind}'", raw.key_locs[kind],
                                hint=suggest(kind, REGISTRY))
            if not isinstance(fields, LocMap):
                raise SpecError(f"defaults for '{kind}' must be a mapping of fields", raw.key_locs[kind])
        return dict(raw)

    def model(self, variant: str | None = None, overrides: dict[str, Any] | None = None,
              input_shape: tuple[int, ...] | None = None) -> Model:
        """Expand the base spec, or a variant, with arguments overridden by the caller."""
        doc = self.doc
        part: LocMap = doc
        if variant is not None:
            if variant not in self.variants:
                raise SpecError(f"{self.display} has no variant '{variant}'", doc.loc,
                                hint=suggest(variant, self.variants) or
                                "variants: " + (", ".join(self.variants) or "none"))
            part = self.variants[variant]
        args = dict(_mapping(doc, "args"))
        for source, where in ((_mapping(part, "args") if part is not doc else {}, "variant"),
                              (overrides or {}, "--set")):
            for key, value in source.items():
                if key not in args:
                    loc = source.key_locs[key] if isinstance(source, LocMap) else Loc("--set", 0, 0)
                    raise SpecError(f"spec '{self.name}' has no argument '{key}' ({where})", loc,
                                    hint=suggest(key, args) or "arguments: " + (", ".join(args) or "none"))
                args[key] = value
        shape_doc = part if "input" in part else doc
        shape = input_shape or _input_shape(shape_doc["input"], loc_of(shape_doc, "input", doc.loc))
        if not isinstance(doc["layers"], list) or not doc["layers"]:
            raise SpecError("`layers` must be a non-empty list", loc_of(doc, "layers", doc.loc))
        later = _literal_names(doc)
        helpers = define_functions(doc.get("functions"), args, loc_of(doc, "functions", doc.loc))
        expander = Expander(self.defaults, self.blocks, later, {**args, **helpers}, shape)
        nodes = expander.expand(doc["layers"], loc_of(doc, "layers", doc.loc))
        if variant is None and self.variants and "expect" not in doc:
            expect: tuple = ()
        else:
            expect = parse_expect(part.get("expect"), loc_of(part, "expect", part.loc)) if "expect" in part else ()
        _check_expect_names(expect, nodes, expander.names.aliases)
        return Model(
            name=variant or self.name, input_shape=shape, nodes=nodes,
            description=self._text(part, "description") or self._text(doc, "description"),
            source=self._text(part, "source") or self._text(doc, "source"),
            notes="\n".join(t for t in (self._text(doc, "notes"), self._text(part, "notes") if part is not doc
                                        else "") if t),
            file=self.display, variant=variant, args=args, expect=expect,
            reference=part.get("reference", doc.get("reference") if part is doc else None),
            accuracy=_accuracy(part), loc=part.loc, aliases=dict(expander.names.aliases),
            respec=(lambda at: self.model(variant, overrides, at)) if expander.read_input else None)


def _check_expect_names(expect: tuple, nodes: tuple, aliases: dict[str, str]) -> None:
    """`expect: layers:` must name nodes (or blocks) that exist, else the check could never pass."""
    known = {node.name for node in nodes} | set(aliases)
    for block in expect:
        for check in block.checks:
            if check.path[0] == "layers" and check.path[1] not in known:
                raise SpecError(f"expect names no node '{check.path[1]}'", check.loc,
                                hint=suggest(check.path[1], known) or "`cnntool shapes` lists the node names")


def _literal_names(doc: LocMap) -> dict[str, Loc]:
    """Every literal `name:` in the layers and blocks, for 'defined after this point' messages."""
    found: dict[str, Loc] = {}

    def walk(value: Any) -> None:
        if isinstance(value, LocMap):
            if isinstance(value.get("name"), str) and "$" not in value["name"]:
                found.setdefault(value["name"], value.value_locs["name"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(doc.get("layers"))
    walk(doc.get("blocks"))
    return found


def parse_overrides(pairs: list[str], option: str = "--set") -> dict[str, Any]:
    """``--set depth=50 variant=v1``: values are read as YAML scalars (50 is an int); errors name
    ``option`` (`cnntool import` reads its ``--arg`` pairs here too)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"{option} takes key=value, got {pair!r}", Loc(option, 0, 0))
        # the spec reader's rules: plain data, bounded integers, no control characters
        out[key.strip()] = load_yaml(option, value, display=option) if value.strip() else None
    return out


def read_spec(path: Path | str) -> SpecFile:
    return SpecFile(path)
