"""Find models: a built-in name (a spec file's stem or one of its variants) or a path."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import Loc, SpecError
from .expand import suggest
from ..graph import Model
from .file import SpecFile

__all__ = ["ZooEntry", "zoo", "spec_dir", "load", "resolve"]


def spec_dir() -> Path:
    """Where the built-in specs live, in a checkout and in an installed wheel alike."""
    return Path(str(resources.files("cnntool.model_specs")))


@dataclass(frozen=True)
class ZooEntry:
    name: str
    spec: SpecFile
    variant: str | None

    def model(self, overrides: dict[str, Any] | None = None, input_shape=None) -> Model:
        return self.spec.model(self.variant, overrides, input_shape)


@lru_cache(maxsize=None)
def _spec(path: str, display: str) -> SpecFile:
    return SpecFile(path, display=display)


def display_path(path: Path) -> str:
    """A path that opens from here: relative to the working directory when below it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def zoo() -> dict[str, ZooEntry]:
    """Every built-in model: one per file without variants, one per variant otherwise."""
    entries: dict[str, ZooEntry] = {}
    for path in sorted(spec_dir().glob("*.yaml")):
        spec = _spec(str(path), display_path(path))
        names = list(spec.variants) or [None]
        for variant in names:
            name = variant or path.stem
            if name in entries:
                raise SpecError(f"built-in model '{name}' is defined twice", spec.doc.loc)
            entries[name] = ZooEntry(name, spec, variant)
    return entries


def resolve(ref: str) -> ZooEntry:
    """``vgg16``, ``model_specs/vgg.yaml``, ``my.yaml:variant`` -> the spec and variant to use."""
    path, variant = _split(ref)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in ref:
        if path.suffix in (".yaml", ".yml") and not path.exists() and variant is None:
            _missing_file(path)
        spec = _spec(str(path), str(path))
        if variant is None and spec.variants:
            raise SpecError(f"{path} holds {len(spec.variants)} variants; name one as "
                            f"{path}:<variant>", spec.doc.loc, hint="variants: " + ", ".join(spec.variants))
        if variant is not None and variant not in spec.variants:
            raise SpecError(f"{path} has no variant '{variant}'", spec.doc.loc,
                            hint=suggest(variant, spec.variants) or ("variants: " + ", ".join(spec.variants)
                                 if spec.variants else "this file has no variants; use the path alone"))
        return ZooEntry(variant or spec.name, spec, variant)
    entries = zoo()
    if ref in entries:
        return entries[ref]
    folded = {name.lower(): entry for name, entry in entries.items()}
    if ref.lower() in folded:  # built-in names are lower-case; VGG16 means vgg16
        return folded[ref.lower()]
    raise SpecError(f"no built-in model or spec file named '{ref}'", Loc(ref, 0, 0), hint=_family_hint(ref, entries)
                    or suggest(ref.lower(), entries) or "`cnntool list` shows the built-in models")


def _family_hint(ref: str, entries: dict[str, ZooEntry]) -> str:
    """`vgg` (a file's stem or its `name:`) lists that family's variants."""
    key = ref.lower().replace("-", "_")
    members = [name for name, e in entries.items()
               if key in (e.spec.path.stem.lower().replace("-", "_"), e.spec.name.lower().replace("-", "_"))]
    return f"'{ref}' is a family of {len(members)} built-in models: " + ", ".join(members) if members else ""


def _missing_file(path: Path) -> None:
    """`shapes vgg16.yaml` where vgg16 is built in: say how to use it, and how to get it as a file."""
    entries = zoo()
    name = next((n for n in entries if n.lower() == path.stem.lower()), None)
    if name is None:
        return
    raise SpecError("no such file", Loc(str(path), 0, 0),
                    hint=f"'{name}' is a built-in model: use the name as it is, or write it as a file to edit "
                         f"with `cnntool spec {name} -o {path}`")


def _split(ref: str) -> tuple[Path, str | None]:
    if ref.endswith(":") and ref.rstrip(":"):  # `vgg.yaml:` would print as `vgg.yaml::`
        raise SpecError(f"'{ref}' names no variant after the ':'", Loc(ref.rstrip(":"), 0, 0),
                        hint="write FILE.yaml:VARIANT, or the file alone")
    head, sep, tail = ref.rpartition(":")
    if sep and head and tail and "/" not in tail and "\\" not in tail and not tail.endswith((".yaml", ".yml")):
        return Path(head), tail
    return Path(ref), None


def load(ref: str, args: dict[str, Any] | None = None, input_shape: tuple[int, ...] | None = None) -> Model:
    """Load a built-in model or a spec file as an expanded graph."""
    return resolve(ref).model(args, input_shape)
