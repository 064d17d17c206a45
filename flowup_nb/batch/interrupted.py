"""Sync upscales interrupted before their answer: found again by their video, adopted.

A sync upscale (``client.upscale``, or a batch in ``mode="sync"``) that a KeyboardInterrupt
or a cancellation ended leaves a row with outcome ``interrupted`` or ``cancelled`` and no
job id: the server may be running it, or have run and charged it. A sync request carries
no replyRef, so ``resume()`` (and a re-run of a batch) looks in the service's load
statistics for a job of the same video and resolution that the ledger does not know, and
waits on it (origin ``"adopted"``). When none is found (the request never became a job,
or the statistics' 15-minute window has passed) the video is submitted again (origin
``"resubmitted"``): free if it ran (cached), charged if it never did. Interrupted async
submits carry their replyRef and are found like intents (``batch/orphans.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Collection, Sequence

from flowup_nb.api.errors import AuthenticationError, FlowError
from flowup_nb.api.job_search import JobLookup
from flowup_nb.api.models import Job
from flowup_nb.api.sent_jobs import SentJob, find_sent
from flowup_nb.batch.items import BatchItem
from flowup_nb.ledger.job_history import InterruptedUpscale, interrupted_upscales, known_job_ids

__all__ = ["adopt_interrupted", "interrupted_items"]

log = logging.getLogger("flowup_nb.batch")


def interrupted_items(
    path: str | os.PathLike[str],
    within: float,
    items: Sequence[BatchItem],
    *,
    add: bool,
) -> list[tuple[BatchItem, InterruptedUpscale]]:
    """The interrupted sync upscales of the last ``within`` seconds, each with its item:
    the queued one of ``items`` of that video; with ``add``, a new item for a video
    ``items`` does not hold (``resume()``), else none (a batch looks after its own)."""
    queued = {item.key: item for item in items if item.status == "queued"}
    held = {item.key for item in items}
    found = []
    position = len(items)
    for call in interrupted_upscales(path, since=time.time() - within):
        key = (call.source_id, call.resolution)
        item = queued.get(key)
        if item is None:
            if not add or key in held:
                continue
            item = BatchItem(call.source_id, call.resolution, call.account, position)
            position += 1
            held.add(key)
        found.append((item, call))
    return found


async def adopt_interrupted(
    calls: JobLookup,
    pairs: Sequence[tuple[BatchItem, InterruptedUpscale]],
    ledger: str | os.PathLike[str],
    *,
    grace: float,
) -> None:
    """Each item adopts the job found for its interrupted upscale (status running, origin
    ``"adopted"``), or is marked origin ``"resubmitted"`` and left queued.

    An interrupted request may still be on its way to becoming a job (the captcha is
    solved first), so one younger than ``grace`` seconds that is not found yet is looked
    for again until it is that old.
    """
    pending = {id(item): (item, call) for item, call in pairs}
    read: set[str] = set()

    def skip(ids: Sequence[str]) -> Collection[str]:
        # Jobs the ledger names are someone's known answer, not an interrupted call's.
        return read | known_job_ids(ledger, ids)

    while pending:
        waiting = list(pending.values())
        wanted = [
            SentJob(call.source_id, call.resolution, None, call.account) for _, call in waiting
        ]
        try:
            jobs = await find_sent(calls, wanted, skip=skip)
        except AuthenticationError:
            raise
        except FlowError as exc:
            log.warning(
                "could not look for %d interrupted upscale(s) (%s): their videos are "
                "submitted again",
                len(pending),
                exc,
            )
            break
        for (item, _), job in zip(waiting, jobs, strict=True):
            if job is not None:
                _adopt(item, job)
                read.add(job.job_id)
                del pending[id(item)]
        left = max((call.interrupted_at for _, call in pending.values()), default=0.0)
        left += grace - time.time()
        if not pending or left <= 0:
            break
        await asyncio.sleep(min(left, max(grace / 8, 0.01)))
    for item, _ in pending.values():
        item.origin = "resubmitted"


def _adopt(item: BatchItem, job: Job) -> None:
    item.status, item.origin, item.job_id = "running", "adopted", job.job_id
    log.info("adopted job %s of the interrupted upscale of %s", job.job_id, item.key)
