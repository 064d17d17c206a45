"""The shape of a JSON answer: keys, JSON types, string formats, enum values, lengths.

A shape is plain JSON, so it goes into the calibration file as it is:

    {"types": ["object"], "count": 2, "keys": {"status": {...}}, "sizes": [5, 6]}

`types` are JSON types (`integer` and `number` apart); strings add `formats` (see
:func:`~flowup_nb.calibration.redact.string_format`); the fields in :data:`ENUM_KEYS`
add the `values` seen, scrubbed; lists add `items` (every item merged) and `sizes`
(shortest, longest), objects add `keys` and `sizes`. Values under a secret-looking key
are marked `secret` and contribute their type only. Shapes of several answers to the
same call merge into one.
"""

from __future__ import annotations

from typing import Any

from flowup_nb.calibration.redact import Redactor, is_secret_key, string_format

__all__ = ["ENUM_KEYS", "Shape", "json_type", "merge", "shape_of"]

Shape = dict[str, Any]

# Fields whose values are a small closed set worth comparing (statuses, tiers, reasons).
ENUM_KEYS = frozenset(
    {
        "@type",
        "aspectRatio",
        "clientPlatform",
        "code",
        "health",
        "httpStatus",
        "mediaGenerationStatus",
        "mediaVisibility",
        "model",
        "paygateTier",
        "reason",
        "resolution",
        "service",
        "status",
        "success",
        "type",
        "upsampleResolution",
        "userPaygateTier",
        "videoUpsampleResolution",
        "visibility",
        "workflowStepId",
    }
)
_MAX_VALUES = 20  # distinct values kept per field: an enum has few


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_of(
    value: Any, redactor: Redactor, *, key: str | None = None, secret: bool = False
) -> Shape:
    """The shape of one JSON value (`key`: the field it sits in, which decides whether its
    value is enum-like or secret)."""
    secret = secret or (key is not None and is_secret_key(key))
    kind = json_type(value)
    node: Shape = {"types": [kind], "count": 1}
    if secret:
        node["secret"] = True
    if isinstance(value, dict):
        node["sizes"] = [len(value), len(value)]
        keys: dict[str, Shape] = {}
        for raw_key, item in value.items():
            name = redactor.key(str(raw_key))
            child = shape_of(item, redactor, key=str(raw_key), secret=secret)
            keys[name] = merge(keys[name], child) if name in keys else child
        node["keys"] = keys
    elif isinstance(value, list):
        node["sizes"] = [len(value), len(value)]
        items = [shape_of(item, redactor, key=key, secret=secret) for item in value]
        if items:
            merged = items[0]
            for item in items[1:]:
                merged = merge(merged, item)
            node["items"] = merged
    elif isinstance(value, str):
        node["formats"] = [string_format(value)]
    if not secret and key in ENUM_KEYS and isinstance(value, str | int | float | bool):
        node["values"] = [redactor.enum_value(value) if isinstance(value, str) else value]
    return node


def _union(a: list[Any], b: list[Any]) -> list[Any]:
    out = list(a)
    out.extend(v for v in b if v not in out)
    return sorted(out, key=lambda v: (type(v).__name__, str(v)))


def merge(a: Shape, b: Shape) -> Shape:
    """One shape for two values seen at the same place."""
    out: Shape = {"types": _union(a["types"], b["types"]), "count": a["count"] + b["count"]}
    if a.get("secret") or b.get("secret"):
        out["secret"] = True
    if "sizes" in a or "sizes" in b:
        sizes = [s for s in (a.get("sizes"), b.get("sizes")) if s is not None]
        out["sizes"] = [min(s[0] for s in sizes), max(s[1] for s in sizes)]
    if "keys" in a or "keys" in b:
        keys: dict[str, Shape] = dict(a.get("keys", {}))
        for name, child in b.get("keys", {}).items():
            keys[name] = merge(keys[name], child) if name in keys else child
        out["keys"] = keys
    if "items" in a and "items" in b:
        out["items"] = merge(a["items"], b["items"])
    elif "items" in a or "items" in b:
        out["items"] = a.get("items") or b["items"]
    for field in ("formats", "values"):
        if field in a or field in b:
            out[field] = _union(a.get(field, []), b.get(field, []))[:_MAX_VALUES]
    return out
