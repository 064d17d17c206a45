"""The units of a batch: one :class:`BatchItem` per distinct (video, resolution).

Inputs are checked and deduplicated here, before any request: a malformed id stops the
whole call with an :class:`InputError` that lists the offenders, a repeated id becomes
one item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flowup_nb.api import policy
from flowup_nb.api.errors import FlowError, InputError
from flowup_nb.api.models import UpscaleResult

__all__ = ["BatchItem", "Origin", "Status", "make_items"]

# How an item came to be in the batch's answer.
# "new" (submitted now) | "resumed" (a job already running) | "ledger" (done before) |
# "adopted" (a job whose 201 was lost, found again) | "resubmitted" (its job could not be)
Origin = str
# queued -> running -> done | failed
Status = str

_SHOWN_BAD_INPUTS = 5


@dataclass(eq=False)
class BatchItem:
    """One distinct (source video, resolution) of a batch, and what happened to it."""

    source_id: str
    resolution: str
    account: str | None
    position: int  # index of its first occurrence in the input
    status: Status = "queued"
    origin: Origin = "new"
    job_id: str | None = None
    reply_ref: str | None = None
    not_before: float = 0.0  # monotonic time before which it may not be (re)submitted
    submissions: int = 0
    retries_used: int = 0  # resends after a rejected captcha, a failed job or a pause
    resends_used: int = 0  # rounds after an error the client had already retried
    requeues: int = 0  # times a pause sent it back to the queue
    polls: int = 0
    webhooks: int = 0
    started_at: float | None = None  # monotonic, first submission (or adoption)
    finished_at: float | None = None
    result: UpscaleResult | None = None
    result_id: str | None = None
    video_url: str | None = None
    cached: bool | None = None
    error: FlowError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_id, self.resolution)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def make_items(ids: Iterable[object], resolution: str) -> list[BatchItem]:
    """One item per distinct (id, resolution), in first-seen order.

    ``ids`` holds mediaGenerationIds, or ``(id, resolution)`` pairs that override the
    batch's ``resolution``. Every entry is checked before any request.
    """
    if isinstance(ids, str | bytes):
        raise InputError(
            "upscale_many takes a list of mediaGenerationIds, not one string: "
            "wrap it in a list, or call upscale() for a single video"
        )
    default = policy.validate_resolution(resolution)
    items: dict[tuple[str, str], BatchItem] = {}
    bad: list[str] = []
    try:
        entries = list(ids)
    except TypeError:
        raise InputError(
            f"ids must be an iterable of mediaGenerationIds, got {type(ids).__name__}"
        ) from None
    for position, entry in enumerate(entries):
        source, wanted = _split(entry, default)
        try:
            source = policy.validate_media_generation_id(source)
            wanted = policy.validate_resolution(wanted)
        except InputError as exc:
            bad.append(f"#{position}: {exc}")
            continue
        key = (source, wanted)
        if key not in items:
            items[key] = BatchItem(source, wanted, policy.decode_account(source), position)
    if bad:
        more = f" (and {len(bad) - _SHOWN_BAD_INPUTS} more)" if len(bad) > _SHOWN_BAD_INPUTS else ""
        raise InputError(
            f"{len(bad)} of {len(entries)} batch entries are not valid, nothing was sent{more}:\n"
            + "\n".join(bad[:_SHOWN_BAD_INPUTS])
        )
    if not items:
        raise InputError("upscale_many got no ids: pass a list of mediaGenerationIds")
    return list(items.values())


def _split(entry: object, default: str) -> tuple[object, object]:
    if isinstance(entry, tuple | list) and len(entry) == 2:
        return entry[0], entry[1]
    return entry, default
