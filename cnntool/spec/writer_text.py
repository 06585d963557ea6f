"""The spec writer's YAML text: one line per layer, flow style, keys in the spec's usual order."""
from __future__ import annotations

import json
import re
from typing import Any

from ..layers import REGISTRY
from .writer_blocks import Blocks, Call, Leaf, Range
from .writer_runs import Ramp, Step

__all__ = ["spec_text", "flow"]

_PLAIN = re.compile(r"^(\$[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_.\-]*)$")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def flow(v: Any) -> str:
    """A YAML flow value that PyYAML's safe loader reads back as ``v``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text  # 1e-05 is a str in YAML 1.1
    if isinstance(v, Leaf):
        return f"${v.arg}" if v.times == 1 else json.dumps("${" + v.text() + "}")
    if isinstance(v, Range):
        return json.dumps(f"${{range({_expr(v.start)}, {_expr(v.stop)})}}")
    if isinstance(v, (Ramp, Step)):
        return json.dumps("${" + v.text() + "}")
    if isinstance(v, str):
        return v if _PLAIN.match(v) and v.lower() not in _SPECIAL else json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {flow(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r}")


def _expr(v: Any) -> str:
    return v.text() if isinstance(v, Leaf) else str(v)


def _entry(e: dict[str, Any], indent: str) -> list[str]:
    kind, value, meta = next(iter(e)), e[next(iter(e))], {k: v for k, v in list(e.items())[1:]}
    head = kind if value is None and not meta else f"{kind}: {flow(value)}"
    if not meta:
        return [f"{indent}- {head}"]
    if "for" not in meta:
        return [f"{indent}- {{{head}, " + ", ".join(f"{k}: {flow(v)}" for k, v in meta.items()) + "}"]
    return [f"{indent}- {head}"] + [f"{indent}  {k}: {flow(v)}" for k, v in meta.items()]


def _render(blocks: Blocks, entries: list, plan: list | None, values: list) -> list[dict]:
    """The body with each number replaced as the block's plan says (a Leaf or the literal)."""
    it = iter(range(len(values)))

    def sub(v: Any) -> Any:
        if isinstance(v, dict):
            return {(blocks.names[k] if isinstance(k, tuple) else k):
                    blocks.prune(k, sub(x)) if isinstance(k, str) and isinstance(x, dict) and k in REGISTRY else sub(x)
                    for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        if isinstance(v, Range):
            return Range(sub(v.start), sub(v.stop))
        if isinstance(v, Call):
            return {k: sub(x) for k, x in blocks.entry_args(v).items()} or None
        if isinstance(v, Step):
            return Step(sub(v.a), sub(v.b))
        if isinstance(v, Ramp):
            return Ramp(v.scale, sub(v.k), v.div)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            j = next(it)
            leaf = plan[j][1] if plan else None
            return leaf if leaf is not None else values[j]
        return v
    return [sub(e) for e in entries]


def _loops(entries: list[dict]) -> list[dict]:
    """Top level: calls of one block named P1, P2, … (ResNet's layer1…layer4) → one `for`."""
    out: list[dict] = []
    for e in entries:
        run = out[-1].get("_run") if out else None
        key, args, name = next(iter(e)), e[next(iter(e))], e.get("name", "")
        m = re.fullmatch(r"([A-Za-z_]+?)(\d+)", name) if isinstance(name, str) else None
        if (run and m and isinstance(args, dict) and set(e) == {key, "name"} and run[0] == (key, m[1])
                and int(m[2]) == len(run[1]) + 1 and set(args) == set(run[1][0])):
            run[1].append(args)
            continue
        if m and m[2] == "1" and isinstance(args, dict) and args and set(e) == {key, "name"}:
            e = {**e, "_run": ((key, m[1]), [args])}
        out.append(e)
    final = []
    for e in out:
        run = e.pop("_run", None)
        if run and len(run[1]) > 1:
            key, prefix = run[0]
            calls = run[1]
            varying = [a for a in calls[0] if len({repr(c[a]) for c in calls}) > 1]
            final.append({key: {a: (Leaf(a) if a in varying else calls[0][a]) for a in calls[0]},
                          "name": prefix, "for": {a: [c[a] for c in calls] for a in varying}})
        else:
            final.append(e)
    return final


def spec_text(blocks: Blocks, head: dict[str, Any], expect: dict[str, Any], comment: str) -> str:
    """The whole spec file: `head` keys (name, description, source, …), then the structure."""
    lines = [f"# {comment}"] + [f"{k}: {flow(v)}" for k, v in head.items() if v is not None]
    if blocks.defaults:
        lines.append("defaults:")
        lines += [f"  {kind}: {flow(fields)}" for kind, fields in blocks.defaults.items()]
    if blocks.names:
        lines.append("blocks:")
        for key, name in blocks.names.items():
            tree = blocks.instances[key][0]
            values = [v for _, v in blocks.leaves(tree)]
            lines.append(f"  {name}:  # {tree.cls}, called {len(blocks.instances[key])}×")
            args = blocks.arg_names(key)
            if args:
                lines.append(f"    args: {flow({a: None for a in args})}")
            lines.append("    layers:")
            for e in _render(blocks, blocks.body[id(tree)], blocks.args[key], values):
                lines += _entry(e, "      ")
    lines.append("layers:")
    root = blocks.root
    for e in _loops(_render(blocks, blocks.body[id(root)], None, [v for _, v in blocks.leaves(root)])):
        lines += _entry(e, "  ")
    lines.append("expect:")
    first = True
    for k, v in expect.items():
        lines.append(f"  {'- ' if first else '  '}{k}: {flow(v)}")
        first = False
    return "\n".join(lines) + "\n"
