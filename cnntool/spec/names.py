"""Scoped node names: what `from:`, `indices:` and `like:` refer to.

A block call or a parallel branch opens a scope; entries get `<kind><n>` names counted per scope;
a reference resolves in the innermost scope that defines it, then outward, then as a full dotted
name. Only earlier nodes can be named, so a graph cannot have a cycle.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import Loc, SpecError
from ..graph import INPUT

__all__ = ["Scope", "Names", "suggest", "check_name", "NAME", "MAX_NAME"]

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")  # node, block, branch, argument and variant names;
# digits alone name a torch Sequential's child (`layer1.0.conv1`, as `cnntool import` writes them)
MAX_NAME = 100


def check_name(name: Any, loc: Loc, what: str) -> str:
    """The one rule for every name a spec defines: no dots (they join scopes), nothing that is
    not printable, never `input` (the model's input node)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or len(name) > MAX_NAME or name == INPUT:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:60] + "…"
        raise SpecError(f"bad {what} {shown}: a name is letters, digits, '_' or '-', not starting with '-' "
                        f"(at most {MAX_NAME} characters, not 'input')", loc)
    return name


def suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


@dataclass
class Scope:
    prefix: str  # "" at the top, "stage2." inside a block called stage2
    input: str  # the node `from: input` means here
    trace: tuple[Loc, ...] = ()
    parent: "Scope | None" = None
    depth: int = 0
    names: dict[str, str] = field(default_factory=dict)  # local name -> full node name
    name_locs: dict[str, Loc] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)

    def loc(self) -> Loc:
        return self.trace[0] if self.trace else Loc("<spec>", 0, 0)

    def auto(self, base: str) -> str:
        """The next free `<base><n>` in this scope: conv1, conv2, ..."""
        while True:
            self.counters[base] += 1
            name = f"{base}{self.counters[base]}"
            if name not in self.names:
                return name

    def define(self, local: str, loc: Loc) -> str:
        if local in self.names:
            first = self.name_locs.get(local)
            raise SpecError(f"name '{local}' is already used in this scope"
                            + (f" (line {first.line})" if first else ""), loc, trace=self.trace)
        full = self.prefix + local
        self.names[local], self.name_locs[local] = full, loc
        return full


class Names:
    """Every node and alias defined so far, for references across scopes."""

    def __init__(self, later: dict[str, Loc]):
        self.later = later  # every literal `name:` in the file, for 'defined after this point'
        self.nodes: dict[str, int] = {}  # full name -> position
        self.aliases: dict[str, str] = {}  # block/branch full name -> its output node

    def alias(self, scope: Scope, full: str, out: str) -> None:
        """A block's or branch's name stands for its output node."""
        scope.names[full[len(scope.prefix):]] = self.aliases[full] = out

    def resolve(self, name: Any, scope: Scope, loc: Loc) -> str:
        if not isinstance(name, str):
            raise SpecError(f"a node reference must be a name, got {name!r}", loc)
        if name == INPUT:
            return scope.input
        s: Scope | None = scope
        visible: list[str] = [INPUT]
        while s is not None:
            if name in s.names:
                return s.names[name]
            visible += list(s.names)
            s = s.parent
        if name in self.nodes:
            return name
        if name in self.aliases:
            return self.aliases[name]
        if name in self.later:
            raise SpecError(f"'{name}' is defined after this point (line {self.later[name].line}); "
                            "references must point to earlier nodes, so a cycle cannot be formed",
                            loc, trace=scope.trace)
        raise SpecError(f"no node named '{name}' before this point", loc, hint=suggest(name, visible),
                        trace=scope.trace)
