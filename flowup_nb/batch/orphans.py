"""Submissions whose 201 never reached the ledger: found again by their replyRef, adopted.

Before each async submission the batch writes an intent row (source, resolution and the
submission's fresh ``replyRef``: ``api.exchange.intent_exchange``), then sends. An intent
that no later row settled is a submission whose fate is unknown: the process died after
writing it, either before the request left or before its 201 was recorded. A re-run of
the batch, or ``resume()``, looks for such jobs in the service's load statistics
(``api.job_search``) and waits on the ones it finds (origin ``"adopted"``) instead of
submitting again; only the videos with no job found are submitted anew (origin
``"resubmitted"``). The statistics list finished jobs for 15 minutes only (at most the 10
most recent), so past that a job left behind can no longer be found, and the video is
submitted again: free when it completed (cached), but a new job and a new captcha solve.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Collection, Mapping, Sequence

from flowup_nb.api.errors import AuthenticationError, FlowError
from flowup_nb.api.job_search import JobLookup, find_by_reply_ref, preferred
from flowup_nb.api.models import Job
from flowup_nb.api.policy import PollSchedule
from flowup_nb.api.waiting import PollPlan
from flowup_nb.batch.items import BatchItem
from flowup_nb.ledger.job_history import OpenIntent, known_job_ids

__all__ = ["CREATION_GRACE", "adopt_orphans", "attach_intents", "creation_grace"]

log = logging.getLogger("flowup_nb.batch")

# Service seconds a request may take to become a job (the captcha is solved first): the
# client's default read timeout on a submission, past which a live batch would have
# given up on the 201 too. A guess (docs/reliability.md).
CREATION_GRACE = 60.0
_INTENTS = "intents"  # BatchItem.extra key: the open intents of the item's video


def creation_grace(plan: PollPlan) -> float:
    """:data:`CREATION_GRACE` on the client's clock (a faster poll schedule, e.g. for the
    simulator, means proportionally less), as the batch scales its backoff."""
    return CREATION_GRACE * plan.fallback.first / PollSchedule().first


def attach_intents(items: Sequence[BatchItem], intents: Sequence[OpenIntent]) -> list[BatchItem]:
    """Give each queued item the open intents of its video; returns the items that have any."""
    by_key: dict[tuple[str | None, str | None], list[OpenIntent]] = {}
    for intent in intents:
        by_key.setdefault(intent.key, []).append(intent)
    chosen = []
    for item in items:
        mine = by_key.get(item.key)
        if item.status == "queued" and mine:
            item.extra[_INTENTS] = mine
            chosen.append(item)
    return chosen


async def adopt_orphans(
    calls: JobLookup,
    items: Sequence[BatchItem],
    ledger: str | os.PathLike[str],
    *,
    grace: float,
) -> None:
    """Each item (queued, with open intents: :func:`attach_intents`) either adopts the job
    found for one of its intents (status running, origin ``"adopted"``) or is marked
    origin ``"resubmitted"`` and left queued.

    A request may still be on its way to becoming a job when this runs right after a
    crash, so an intent younger than ``grace`` seconds that is not found yet is looked for
    again until it is that old.
    """
    refs: dict[str, str | None] = {}
    written: dict[str, float] = {}
    for item in items:
        for intent in item.extra.get(_INTENTS, ()):
            refs[intent.reply_ref] = intent.account
            written[intent.reply_ref] = intent.written_at
    found = await _search(calls, refs, written, ledger, grace) if refs else {}
    for item in items:
        intents: list[OpenIntent] = item.extra.pop(_INTENTS, [])
        job = preferred(found[i.reply_ref] for i in intents if i.reply_ref in found)
        if job is None:
            item.origin = "resubmitted"
            continue
        item.status, item.origin, item.job_id = "running", "adopted", job.job_id
        log.info("adopted job %s of %s (its 201 was never recorded)", job.job_id, item.key)


async def _search(
    calls: JobLookup,
    refs: Mapping[str, str | None],
    written: Mapping[str, float],
    ledger: str | os.PathLike[str],
    grace: float,
) -> dict[str, Job]:
    found: dict[str, Job] = {}
    read: set[str] = set()
    pending = dict(refs)

    def skip(ids: Sequence[str]) -> Collection[str]:
        # The ledger's own jobs are not orphans, and a record read once need not be again.
        return read | known_job_ids(ledger, ids)

    while pending:
        try:
            search = await find_by_reply_ref(calls, pending, skip=skip)
        except AuthenticationError:
            raise
        except FlowError as exc:
            log.warning(
                "could not look for %d job(s) whose 201 was never recorded (%s): their "
                "videos are submitted again",
                len(pending),
                exc,
            )
            break
        read |= search.read
        found.update(search.found)
        for ref in search.found:
            pending.pop(ref, None)
        left = max((written[ref] for ref in pending), default=0.0) + grace - time.time()
        if not pending or left <= 0:
            break
        await asyncio.sleep(min(left, max(grace / 8, 0.01)))
    return found
