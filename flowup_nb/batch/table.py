"""The batch's answer: one DataFrame row per distinct (video, resolution)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowup_nb.api.prices import upscale_price
from flowup_nb.batch.items import BatchItem

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "to_frame"]

COLUMNS = (
    "id",  # the source video's mediaGenerationId
    "resolution",
    "account",
    "status",  # done | failed
    # new (submitted now) | resumed (was running) | ledger (done before) | adopted (its
    # 201 was lost; found again) | resubmitted (its 201 was lost and its job not found)
    "origin",
    "job_id",
    "result_id",  # mediaGenerationId of the upscaled video
    "video_url",
    "cached",
    "credits",  # charged for it in this run (by the price list; 0 when cached)
    "duration_s",  # first submission (or adoption) to the end, this run
    "submissions",
    "polls",
    "webhooks",
    "error_type",
    "error",  # the typed exception (a fu.FlowError), None when done
    "result",  # the UpscaleResult (None for rows taken from the ledger)
)

_CATEGORIES = {
    "status": ("done", "failed"),
    "origin": ("new", "resumed", "ledger", "adopted", "resubmitted"),
    "resolution": ("1080p", "4K"),
}


def _credits(item: BatchItem) -> int:
    if item.status != "done":
        return 0
    if item.origin == "ledger":
        return 0
    return upscale_price(item.resolution, cached=bool(item.cached))


def to_frame(items: Sequence[BatchItem]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for item in sorted(items, key=lambda i: i.position):
        duration = None
        if item.started_at is not None and item.finished_at is not None:
            duration = round(item.finished_at - item.started_at, 3)
        rows.append(
            (
                item.source_id,
                item.resolution,
                item.account,
                item.status,
                item.origin,
                item.job_id,
                item.result_id,
                item.video_url,
                item.cached,
                _credits(item),
                duration,
                item.submissions,
                item.polls,
                item.webhooks,
                type(item.error).__name__ if item.error is not None else None,
                item.error,
                item.result,
            )
        )
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for name in ("credits", "submissions", "polls", "webhooks"):
        frame[name] = frame[name].astype("Int64")
    frame["cached"] = frame["cached"].astype("boolean")
    frame["duration_s"] = frame["duration_s"].astype("Float64")
    for name, categories in _CATEGORIES.items():
        frame[name] = frame[name].astype(pd.CategoricalDtype(list(categories)))
    frame["error"] = frame["error"].astype(object)
    frame["result"] = frame["result"].astype(object)
    return frame
