"""JSON Schema of what `bench-compare` reads from a `cnntool bench --format json` result.

The fields are those documented in docs/bench.md ("JSON"); only the ones a comparison uses are
constrained, the rest may be anything (a newer cnntool adds fields without bumping the schema).
A row that is `ok` must carry positive medians and p50s (they are divided by) and IQRs >= 0.
"""
from __future__ import annotations

from typing import Any

__all__ = ["RESULT_SCHEMA", "MAX_RESULT_BYTES"]

MAX_RESULT_BYTES = 64 * 2**20  # a result keeps every timing sample; real ones are a few hundred KiB

_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_SPREAD = {"type": "number", "minimum": 0}
_OK_ROW = {
    "properties": {
        "throughput": {"type": "object", "required": ["median_img_s", "iqr_img_s"],
                       "properties": {"median_img_s": _POSITIVE, "iqr_img_s": _SPREAD}},
        "latency": {"type": "object", "required": ["p50_s", "iqr_s"],
                    "properties": {"p50_s": _POSITIVE, "iqr_s": _SPREAD}},
    },
    "required": ["throughput", "latency"],
}
RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "model", "precision", "rows"],
    "properties": {
        "schema": {"const": "cnntool.bench/1"},
        "model": {"type": "object", "required": ["name", "input_shape"],
                  "properties": {"name": {"type": "string", "maxLength": 200},
                                 "input_shape": {"type": "array", "maxItems": 8,
                                                 "items": {"type": "integer", "minimum": 1}}}},
        "precision": {"type": "object", "required": ["effective"],
                      "properties": {"effective": {"type": "string", "maxLength": 20}}},
        "config": {"type": "object"},
        "environment": {"type": "object"},
        "rows": {"type": "array", "maxItems": 10_000, "items": {
            "type": "object", "required": ["batch", "status"],
            "properties": {"batch": {"type": "integer", "minimum": 1, "maximum": 2**31},
                           "status": {"type": "string", "maxLength": 20}},
            "if": {"properties": {"status": {"const": "ok"}}}, "then": _OK_ROW}},
    },
}
