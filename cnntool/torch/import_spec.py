"""`cnntool import`'s output: the spec text, its header (source, reference, notes) and the
`expect:` block measured on the real model (cnntool.torch.importer does the tracing)."""
from __future__ import annotations

from typing import Any

from ..spec.writer import WriteError, tree_of
from ..spec.writer_blocks import Blocks
from ..spec.writer_text import spec_text
from .importer import Imported, ImportFailure, import_model, kwargs_text

__all__ = ["import_spec"]

def import_spec(target: str, kwargs: dict[str, Any] | None = None,
                input_shape: tuple[int, ...] = (3, 224, 224), allow_unsupported: bool = False) -> str:
    """The YAML text of a spec for ``target(**kwargs)``, with its measured `expect:` block."""
    im = import_model(target, kwargs, input_shape, allow_unsupported)
    try:
        blocks = Blocks(tree_of(im.ops, im.classes, im.output))
    except WriteError as exc:
        raise ImportFailure(str(exc)) from None
    return spec_text(blocks, _head(im), _expect(im), f"written by `cnntool import {target}` ({im.versions})")


def _call(im: Imported) -> str:
    return f"{im.target}({kwargs_text(im.kwargs)})"


def _head(im: Imported) -> dict[str, Any]:
    from ..check.torch_steps import REFERENCE, REFERENCE_KWARGS
    name = im.target.replace(":", ".").rpartition(".")[2]
    reference = "torchvision.models." + name
    # `cnntool check` compares the reference's parameters, all of them: none may be left out
    same = (im.target == reference and im.kwargs == REFERENCE_KWARGS.get(name, {}) and REFERENCE.match(reference)
            and not im.unused)
    notes = [f"{n} ({p:,} parameters) is never called by the traced forward, so it is left out"
             for n, p in im.unused.items()]
    notes += [f"{len(im.opaque)} calls have no layer kind and are `opaque` nodes (not counted); "
              "the model's real counts are in the expect source"] if im.opaque else []
    return {"name": name, "description": f"{_call(im)}, imported", "source": f"{_call(im)} ({im.versions}), "
            "traced with torch.fx by cnntool import", "reference": reference if same else None,
            "notes": "; ".join(notes) or None, "input": list(im.input_shape)}


def _expect(im: Imported) -> dict[str, Any]:
    what = "parameters of the modules the forward calls; conv/linear MACs = FlopCounterMode / 2"
    if im.opaque:  # the spec cannot reproduce counts it leaves out: state them, do not assert them
        return {"source": f"measured on {_call(im)} at import ({what}): params {im.params:,}, "
                          f"MACs {im.macs:,}, not asserted (opaque nodes)", "out_shape": list(im.out_shape)}
    return {"source": f"measured on {_call(im)} at import, batch 1 ({what})", "params": im.params,
            "macs": im.macs, "out_shape": list(im.out_shape)}
