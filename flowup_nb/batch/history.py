"""What earlier runs left in the ledger: videos already upscaled, jobs still running."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from flowup_nb.batch.items import BatchItem
from flowup_nb.ledger.job_history import OpenIntent, done_upscales, open_intents, open_upscales

__all__ = ["RESUME_WINDOW", "apply_history", "intent_items", "unfinished_items"]

# Jobs submitted longer ago than this are not waited for: the service's jobs take
# minutes, and how long it keeps their records is undocumented.
RESUME_WINDOW = 24 * 3600.0


def apply_history(items: Sequence[BatchItem], path: str | os.PathLike[str]) -> None:
    """Mark items upscaled before as done (origin "ledger"), and adopt the jobs of items
    submitted before and never seen finished (origin "resumed"), instead of resubmitting."""
    done = done_upscales(path, (item.key for item in items))
    still_open = {}
    for job in open_upscales(path, since=time.time() - RESUME_WINDOW):
        if job.source_id is not None and job.resolution is not None:
            still_open[(job.source_id, job.resolution)] = job  # the latest one wins
    for item in items:
        previous = done.get(item.key)
        if previous is not None:
            item.status, item.origin = "done", "ledger"
            item.job_id = previous.job_id
            item.result_id, item.video_url = previous.result_id, previous.video_url
            item.cached = previous.cached
            continue
        running = still_open.get(item.key)
        if running is not None:
            item.status, item.origin = "running", "resumed"
            item.job_id = running.job_id


def unfinished_items(path: str | os.PathLike[str], within: float) -> list[BatchItem]:
    """One running item per job submitted in the last ``within`` seconds and never seen
    finished, for ``client.resume()``."""
    items = []
    for position, job in enumerate(open_upscales(path, since=time.time() - within)):
        item = BatchItem(
            job.source_id or "",
            job.resolution or "1080p",
            job.account,
            position,
            status="running",
            origin="resumed",
            job_id=job.job_id,
        )
        items.append(item)
    return items


def intent_items(
    path: str | os.PathLike[str], within: float, *, besides: Sequence[BatchItem]
) -> tuple[list[BatchItem], list[OpenIntent]]:
    """One queued item per video with open intents written in the last ``within``
    seconds (a submission whose 201 the ledger never got), unless ``besides`` has it or
    the ledger shows it upscaled since; and those intents, for ``resume()``."""
    intents = open_intents(path, since=time.time() - within)
    taken = {item.key for item in besides}
    accounts: dict[tuple[str, str], str | None] = {}
    for intent in intents:
        if intent.source_id and intent.resolution:
            key = (intent.source_id, intent.resolution)
            if key not in taken:
                accounts.setdefault(key, intent.account)
    done = done_upscales(path, accounts)
    items: list[BatchItem] = []
    for (source, resolution), account in accounts.items():
        if (source, resolution) not in done:
            position = len(besides) + len(items)
            items.append(BatchItem(source, resolution, account, position))
    return items, intents
