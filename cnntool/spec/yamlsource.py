"""Safe YAML loading that remembers where every value came from.

PyYAML's composer gives node positions; we convert nodes ourselves so that only plain data
(maps, lists, str, int, float, bool, null) is ever built. Any other tag (``!!python/object``,
``!!binary``, ...) is refused, duplicate keys are errors, and expansion of aliases is bounded
so an alias bomb fails fast instead of eating memory.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import CONTROL, Loc, SpecError
from ..files import read_bounded

__all__ = ["LocMap", "LocList", "load_yaml", "loc_of", "MAX_NODES", "MAX_DEPTH", "MAX_BYTES", "MAX_INT_DIGITS"]

MAX_NODES = 200_000  # values after alias expansion; the largest built-in spec has a few thousand
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024
MAX_INT_DIGITS = 30  # any integer a spec needs is far shorter; totals stay far below float limits
MAX_INT_BITS = int(MAX_INT_DIGITS * 3.3219)  # 10**30 < 2**99

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ctor = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
# YAML 1.1 needs a dot in a float (1.0e-6); people write 1e-6, as YAML 1.2 and JSON allow
_EXP_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _tag(node: yaml.Node) -> str:
    return node.tag.replace(_TAG, "!!")


class LocMap(dict):
    """A mapping that knows its own position and those of its keys and values."""

    loc: Loc
    key_locs: dict[str, Loc]
    value_locs: dict[str, Loc]


class LocList(list):
    """A list that knows its own position and those of its items."""

    loc: Loc
    item_locs: list[Loc]


def loc_of(container: Any, key: Any, default: Loc) -> Loc:
    """Position of ``container[key]`` (the value), or ``default`` when unknown."""
    if isinstance(container, LocMap):
        return container.value_locs.get(key, default)
    if isinstance(container, LocList) and isinstance(key, int) and 0 <= key < len(container.item_locs):
        return container.item_locs[key]
    return default


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _plain(value: Any, loc: Loc) -> Any:
    """Refuse what no spec needs and a terminal must not see: control characters in text
    (ESC sequences can clear the screen or set the title) and integers beyond MAX_INT_DIGITS."""
    if isinstance(value, str):
        bad = CONTROL.search(value)
        if bad:
            raise SpecError(f"control character U+{ord(bad[0]):04X} in a string; specs hold printable text", loc)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise SpecError(f"integer of {len(str(abs(value))):,} digits; the limit is {MAX_INT_DIGITS} digits", loc)
    elif isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"the number {value} is not finite", loc)
    return value


def _loc(node: yaml.Node, file: str) -> Loc:
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.count = 0

    def convert(self, node: yaml.Node, depth: int = 0) -> Any:
        loc = _loc(node, self.file)
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"spec expands to more than {MAX_NODES:,} values (an alias bomb?)", loc)
        if depth > MAX_DEPTH:
            raise SpecError(f"spec nests deeper than {MAX_DEPTH} levels", loc)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                raise SpecError(f"YAML tag {_tag(node)} is not allowed in a spec; only plain data", loc)
            out = LocList(self.convert(item, depth + 1) for item in node.value)
            out.loc, out.item_locs = loc, [_loc(item, self.file) for item in node.value]
            return out
        if node.tag not in _SCALAR_TAGS:
            raise SpecError(f"YAML tag {_tag(node)} is not allowed in a spec; only plain data", loc)
        if node.tag == _TAG + "str" and not node.style and _EXP_FLOAT.match(node.value):
            return float(node.value)  # unquoted 1e-6 (quoted, it stays text)
        if node.tag == _TAG + "int" and len(node.value) > 2 * MAX_INT_DIGITS:  # int() of 5,000 digits is slow
            raise SpecError(f"integer of {len(node.value):,} characters; the limit is {MAX_INT_DIGITS} digits", loc)
        try:
            value = _ctor.construct_object(node)
        except Exception as exc:  # any constructor failure: `!!int abc` (ValueError), `!!bool maybe` (KeyError)
            why = "not a value of that type" if isinstance(exc, KeyError) or not str(exc) else str(exc).splitlines()[0]
            raise SpecError(f"bad {_tag(node)} value {_short(node.value)}: {why}", loc) from None
        return _plain(value, loc)

    def _mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> LocMap:
        if node.tag != _TAG + "map":
            raise SpecError(f"YAML tag {_tag(node)} is not allowed in a spec; only plain data", loc)
        out = LocMap()
        out.loc, out.key_locs, out.value_locs = loc, {}, {}
        for key_node, value_node in node.value:
            key_loc = _loc(key_node, self.file)
            if key_node.tag == _TAG + "merge":
                raise SpecError("YAML merge keys ('<<') are not supported; use `defaults:` or a block", key_loc)
            key = self.convert(key_node, depth + 1)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise SpecError(f"mapping keys must be names, got {key!r}", key_loc)
            key = str(key)
            if key in out:
                raise SpecError(f"duplicate key {key!r} (first at line {out.key_locs[key].line})", key_loc)
            out[key] = self.convert(value_node, depth + 1)
            out.key_locs[key], out.value_locs[key] = key_loc, _loc(value_node, self.file)
        return out


def _parse_hint(message: str, text: str, mark: yaml.Mark | None) -> str:
    """The two YAML mistakes people make most in specs, said plainly."""
    if "mapping values are not allowed" in message:
        return ("a layer with `name`/`from`/`if`/... needs a colon after its kind: "
                "`- relu:` and the keys on the next lines")
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line]:
        return "YAML does not allow tabs for indentation; use spaces"
    if mark is not None and mark.line < len(lines) and re.search(r"\$\{[^}]*\s", lines[mark.line]) \
            and ("expected ',' or '}'" in message or "expected ',' or ']'" in message):
        return 'inside {…} or […] an expression with spaces needs quotes: "${2 * width}"'
    return ""


def load_yaml(path: Path | str, text: str | None = None, *, display: str | None = None) -> Any:
    """Parse one YAML document into LocMap/LocList/scalars; every failure is a SpecError."""
    file = display or str(path)
    if text is None:
        data = read_bounded(path, MAX_BYTES, "spec file", file)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"cannot read spec: not UTF-8 text (byte {exc.start:,})", Loc(file, 0, 0)) from None
    elif len(text) > MAX_BYTES:
        raise SpecError(f"spec file is over the limit of {MAX_BYTES:,} bytes", Loc(file, 0, 0))
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        hint = _parse_hint(message, text, mark)
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            start = exc.context_mark
            message += f" ({exc.context} that starts at line {start.line + 1}, column {start.column + 1})"
        raise SpecError(message, where, hint=hint) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", Loc(file, 1, 1)) from None
    except RecursionError:  # PyYAML's composer recurses once per level of `[[[...`
        raise SpecError(f"spec nests deeper than {MAX_DEPTH} levels", Loc(file, 1, 1)) from None
    if node is None:
        raise SpecError("the spec is empty", Loc(file, 1, 1))
    return _Converter(file).convert(node)
