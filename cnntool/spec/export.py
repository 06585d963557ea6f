"""Write one model of a spec file (a built-in variant, say) as a standalone spec the user can edit.

The text is spliced from the original file, not re-dumped, so comments, blocks and the layout of
`layers:` stay as written. For a variant, its settings replace the family's: its arguments become
the defaults of `args:`, and its input, description, source, notes, reference, accuracy and
`expect:` blocks (with their sources) take the place of the family's, exactly as
``SpecFile.model(variant)`` reads them; `variants:` is left out.
"""
from __future__ import annotations

from typing import Any

import yaml

from .file import SpecFile
from .yamlsource import LocMap

__all__ = ["export_spec"]

Span = tuple[int, int]  # 0-based [start, end) line indices of one key and its value


def _spans(mapping: LocMap, lines: list[str], end: int) -> dict[str, Span] | None:
    """Line spans of a block mapping's keys; None for a flow mapping or keys sharing a line."""
    keys = sorted(mapping, key=lambda k: mapping.key_locs[k].line)
    starts = [mapping.key_locs[k].line - 1 for k in keys]
    if not keys or mapping.loc != mapping.key_locs[keys[0]] or len(set(starts)) < len(starts):
        return None
    col = mapping.key_locs[keys[0]].col - 1
    for i in range(1, len(starts)):  # a comment just above a key, at its indentation, goes with it
        while starts[i] - 1 > starts[i - 1] and lines[starts[i] - 1].startswith(" " * col + "#"):
            starts[i] -= 1
    return {k: (s, e) for k, s, e in zip(keys, starts, starts[1:] + [end])}


def _dedent(text: str, n: int) -> str:
    if n == 0:
        return text
    return "".join("\n" if not line.strip() else line[n:] if line[:n].isspace() else line.lstrip()
                   for line in text.splitlines(True))


def _plain(value: Any) -> Any:
    """LocMap/LocList as the dict/list that yaml.safe_dump knows."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list) else value


def _flow(value: Any) -> str:
    """One YAML value on one line: [1, 1, 2, 2, 2], true, v1."""
    text = yaml.safe_dump(_plain(value), default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _block(key: str, value: Any) -> str:
    return yaml.safe_dump({key: _plain(value)}, allow_unicode=True, sort_keys=False, width=96)


class _Source:
    """The text of one mapping of a spec file, key by key."""

    def __init__(self, mapping: LocMap, lines: list[str], end: int):
        self.mapping, self.lines = mapping, lines
        self.spans = _spans(mapping, lines, end)

    def text(self, key: str) -> str:
        if self.spans is None:  # a flow mapping: dump the value instead
            return _block(key, self.mapping[key])
        start, end = self.spans[key]
        body = "".join(self.lines[start:end])
        return _dedent(body, self.mapping.key_locs[key].col - 1).rstrip("\n") + "\n"


def _args(base: _Source, values: dict[str, Any], variant: str) -> str:
    """`args:` with the variant's values as the defaults; the family's own lines kept otherwise."""
    args: LocMap = base.mapping["args"]
    inner = _spans(args, base.lines, base.spans["args"][1]) if base.spans else None
    if inner is None:
        return _block("args", {k: values.get(k, v) for k, v in args.items()})
    out = ["args:\n"]
    for key in args:
        start, end = inner[key]
        if key in values:
            line = f"{' ' * (args.key_locs[key].col - 1)}{key}: {_flow(values[key])}"
            column = base.lines[start].find("  # ") + 2  # keep the family's comments aligned
            out.append(f"{line.ljust(column if column > len(line) else len(line) + 3)}# {variant}'s value\n")
        else:
            out.append("".join(base.lines[start:end]))
    return "".join(out).rstrip("\n") + "\n"


def _notes(top: _Source, var: _Source) -> str:
    """The family's notes, a blank line, the variant's: as SpecFile.model joins them (with a newline)."""
    mine, theirs = top.text("notes"), var.text("notes")
    if mine.startswith("notes: >-\n") and theirs.startswith("notes: >-\n"):
        return mine + "\n" + theirs.removeprefix("notes: >-\n")
    return _block("notes", f"{top.mapping['notes'].strip()}\n{var.mapping['notes'].strip()}")


def export_spec(spec: SpecFile, variant: str | None, text: str, command: str = "") -> str:
    """Spec text for `spec` (whose source is `text`) with `variant`'s settings baked in."""
    made = f"# Written by `{command}` from {spec.display}" if command else f"# From {spec.display}"
    if variant is None:
        return f"{made}.\n{text}"
    lines = text.splitlines(keepends=True)
    top = _Source(spec.doc, lines, len(lines))
    family = _spans(spec.variants, lines, top.spans["variants"][1]) if top.spans else None
    var = _Source(spec.variants[variant], lines, family[variant][1] if family else len(lines))
    part = var.mapping
    out = [f"{made}, variant {variant}:\n# its arguments, input and published numbers in place of the family's.\n"]
    for key in spec.doc:
        if key == "variants":
            continue
        if key == "name":
            out.append(f"name: {_flow(variant)}   # variant of `{spec.name}`\n")
        elif key == "args" and "args" in part:
            out.append(_args(top, dict(part["args"]), variant))
        elif key == "notes" and "notes" in part:
            out.append(_notes(top, var))
        elif key in part:
            out.append(var.text(key))
        elif key not in ("reference", "accuracy", "expect"):  # a variant has only its own
            out.append(top.text(key))
    out += [var.text(key) for key in part if key not in spec.doc and key != "args"]
    return "".join(out)
