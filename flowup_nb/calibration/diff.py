"""Where the simulator's answers differ from the service's, call by call.

Answers are grouped by call (`GET /accounts/{email}`, ...) and status; each group's
shapes are merged, then compared:

- `status`: the service answered a call with a status the simulator did not;
- `missing`: a field the service has and the simulator lacks;
- `invented`: a field the simulator has and the service never showed;
- `type`: a field whose JSON type or string format differs (the service's not among ours);
- `values`: an enum-like field with values the service uses and the simulator never did;
- `header`: a header that matters (content-type, retry-after) that differs.

A map the service showed empty (no running jobs, say) has nothing to compare its
entries with, so only maps seen non-empty on both sides are compared entry by entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from flowup_nb.calibration.probe import Answer
from flowup_nb.calibration.shapes import Shape, merge

__all__ = ["KINDS", "Difference", "compare", "describe"]

KINDS = ("status", "missing", "invented", "type", "values", "header")
_COMPARED_HEADERS = ("content-type", "retry-after")


@dataclass(frozen=True)
class Difference:
    kind: str
    call: str
    status: int | None  # the status whose answers differ (None for a status difference)
    path: str  # "$.a.<email>.b[]", or "header content-type", or "" for a status
    service: str
    simulator: str

    def __str__(self) -> str:
        where = f"{self.call} -> {self.status}" if self.status is not None else self.call
        if self.kind == "status":
            return f"status    {where}: service {self.service}, simulator {self.simulator}"
        return (
            f"{self.kind:<9} {where} {self.path}: service {self.service}, "
            f"simulator {self.simulator}"
        )

    def record(self) -> dict[str, Any]:
        return asdict(self)


def compare(service: list[Answer], twin: list[Answer]) -> list[Difference]:
    out: list[Difference] = []
    service_groups = _groups(service)
    twin_groups = _groups(twin)
    for call, by_status in service_groups.items():
        ours = twin_groups.get(call, {})
        theirs_statuses, our_statuses = set(by_status), set(ours)
        if theirs_statuses != our_statuses:
            out.append(
                Difference(
                    "status", call, None, "", _statuses(theirs_statuses), _statuses(our_statuses)
                )
            )
        for status in sorted(theirs_statuses & our_statuses):
            theirs, mine = by_status[status], ours[status]
            out.extend(_header_differences(call, status, theirs, mine))
            out.extend(
                Difference(kind, call, status, path, svc, ours_text)
                for kind, path, svc, ours_text in _shape_differences(
                    _merged(theirs), _merged(mine), "$"
                )
            )
    return out


def _groups(answers: list[Answer]) -> dict[str, dict[int, list[Answer]]]:
    groups: dict[str, dict[int, list[Answer]]] = {}
    for answer in answers:
        groups.setdefault(answer.call, {}).setdefault(answer.status, []).append(answer)
    return groups


def _statuses(statuses: set[int]) -> str:
    return ", ".join(str(s) for s in sorted(statuses)) or "none"


def _merged(answers: list[Answer]) -> Shape:
    shape = answers[0].shape
    for answer in answers[1:]:
        shape = merge(shape, answer.shape)
    return shape


def _header_differences(
    call: str, status: int, theirs: list[Answer], mine: list[Answer]
) -> Iterator[Difference]:
    for name in _COMPARED_HEADERS:
        svc = {a.headers[name] for a in theirs if name in a.headers}
        sim = {a.headers[name] for a in mine if name in a.headers}
        if svc - sim or (sim and not svc):
            yield Difference(
                "header",
                call,
                status,
                f"header {name}",
                " | ".join(sorted(svc)) or "absent",
                " | ".join(sorted(sim)) or "absent",
            )


def describe(node: Shape) -> str:
    """`string (iso-time)`, `object`, `integer | null`: a shape's kind, without values."""
    parts = []
    for kind in node["types"]:
        if kind == "string" and node.get("formats"):
            parts.append(f"string ({', '.join(node['formats'])})")
        else:
            parts.append(kind)
    return " | ".join(parts)


def _compatible_types(theirs: list[str], ours: list[str]) -> bool:
    """Every type the service used is one of ours (an integer fits a number field)."""
    widened = set(ours) | ({"integer"} if "number" in ours else set())
    return set(theirs) <= widened


def _is_map_of_placeholders(node: Shape) -> bool:
    keys = node.get("keys", {})
    return bool(keys) and all(k.startswith("<") for k in keys)


def _always_empty(node: Shape) -> bool:
    return bool(node.get("sizes", [0, 0])[1] == 0)


def _shape_differences(
    theirs: Shape, ours: Shape, path: str
) -> Iterator[tuple[str, str, str, str]]:
    if not _compatible_types(theirs["types"], ours["types"]):
        yield "type", path, describe(theirs), describe(ours)
    if "object" in theirs["types"] and "object" in ours["types"]:
        yield from _key_differences(theirs, ours, path)
    if "items" in theirs and "items" in ours:
        yield from _shape_differences(theirs["items"], ours["items"], path + "[]")
    secret = theirs.get("secret") or ours.get("secret")
    if "string" in theirs["types"] and "string" in ours["types"] and not secret:
        svc_formats = set(theirs.get("formats", [])) - {"empty"}
        sim_formats = set(ours.get("formats", []))
        if svc_formats - sim_formats and _compatible_types(theirs["types"], ours["types"]):
            yield "type", path, describe(theirs), describe(ours)
    if "values" in theirs and "values" in ours and not secret:
        new = [v for v in theirs["values"] if v not in ours["values"]]
        if new:
            yield "values", path, _values(new), _values(ours["values"])


def _key_differences(theirs: Shape, ours: Shape, path: str) -> Iterator[tuple[str, str, str, str]]:
    # An empty map on one side says nothing about the entries the other side has.
    if (_always_empty(theirs) and _is_map_of_placeholders(ours)) or (
        _always_empty(ours) and _is_map_of_placeholders(theirs)
    ):
        return
    their_keys, our_keys = theirs.get("keys", {}), ours.get("keys", {})
    for key, node in their_keys.items():
        child = f"{path}.{key}"
        if key not in our_keys:
            yield "missing", child, describe(node), "absent"
        else:
            yield from _shape_differences(node, our_keys[key], child)
    for key, node in our_keys.items():
        if key not in their_keys:
            yield "invented", f"{path}.{key}", "absent", describe(node)


def _values(values: list[Any]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
