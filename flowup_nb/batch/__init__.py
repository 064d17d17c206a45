"""Many upscales at once: bounded concurrency, polite to the API's limits, resumable.

``client.upscale_many(ids, ...)`` and ``client.resume()`` (both clients) delegate here.
The batch sees the client only through ``api.calls.UpscaleCalls`` and waits with the
client's own wait engine (``api.waiting``), whose poll plan learns from every finished
job. The pieces: ``items`` (inputs, deduplicated), ``scheduler`` (pure admission
control), ``reactions`` (pure: what an error means for the batch), ``driver`` (the async
I/O loop), ``history`` (what the ledger says was done or left running), ``orphans``
(submissions whose 201 was lost, found again by their replyRef), ``interrupted`` (sync
upscales a KeyboardInterrupt or a cancellation ended, found again by their video) and
``table`` (the DataFrame answer).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowup_nb.api.calls import UpscaleCalls, awaitable
from flowup_nb.api.errors import InputError
from flowup_nb.api.waiting import DeliveryWaiter
from flowup_nb.batch.driver import BatchRun
from flowup_nb.batch.history import (
    RESUME_WINDOW,
    apply_history,
    intent_items,
    unfinished_items,
)
from flowup_nb.batch.interrupted import adopt_interrupted, interrupted_items
from flowup_nb.batch.items import BatchItem, make_items
from flowup_nb.batch.options import BatchOptions
from flowup_nb.batch.orphans import adopt_orphans, attach_intents, creation_grace
from flowup_nb.batch.table import COLUMNS, to_frame
from flowup_nb.ledger.job_history import open_intents

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "RESUME_WINDOW",
    "resume",
    "resume_async",
    "upscale_many",
    "upscale_many_async",
]

# Threads beyond the concurrency, for polls and lookups while every slot waits on a job.
_SPARE_WORKERS = 4


async def upscale_many_async(
    client: object,
    ids: Iterable[str | tuple[str, str]],
    resolution: str = "1080p",
    *,
    concurrency: int = 4,
    per_account: int | Mapping[str, int] | None = None,
    mode: str = "async",
    webhook: DeliveryWaiter | bool | None = None,  # a fu.WebhookReceiver (checked)
    retries: int = 2,
    transient_retries: int = 0,
    max_pause: float = 3600.0,
    no_eligible: str = "wait",
    timeout: float = 900.0,
    skip_done: bool = True,
    progress: bool = True,
    captcha_retry: int | None = None,
    captcha_order: str | Sequence[str] | None = None,
    captcha_token: str | None = None,
) -> pd.DataFrame:
    """Upscale every video of ``ids``; one DataFrame row per distinct (id, resolution).

    ``client``: a FlowClient or AsyncFlowClient. See
    :meth:`flowup_nb.FlowClient.upscale_many` for the parameters.
    """
    options = BatchOptions(
        concurrency=concurrency,
        per_account=per_account,
        mode=mode,
        webhook=webhook,
        retries=retries,
        transient_retries=transient_retries,
        max_pause=max_pause,
        no_eligible=no_eligible,
        timeout=timeout,
        skip_done=skip_done,
        progress=progress,
        captcha=BatchOptions.captcha_fields(captcha_retry, captcha_order, captcha_token),
    )
    items = make_items(ids, resolution)
    calls = awaitable(client, workers=concurrency + _SPARE_WORKERS)
    path = _ledger_path(calls.ledger)
    if skip_done and path is not None:
        apply_history(items, path)
        intents = open_intents(path, since=time.time() - RESUME_WINDOW)
        grace = creation_grace(calls.poll_plan)
        orphans = attach_intents(items, intents)
        await _releasing_on_error(client, calls, adopt_orphans(calls, orphans, path, grace=grace))
        pairs = interrupted_items(path, RESUME_WINDOW, items, add=False)
        await _releasing_on_error(client, calls, adopt_interrupted(calls, pairs, path, grace=grace))
    return await _run(client, calls, items, options, resume_only=False, description="upscale")


async def resume_async(
    client: object,
    *,
    within: float = RESUME_WINDOW,
    timeout: float = 900.0,
    progress: bool = True,
) -> pd.DataFrame:
    """Wait for every upscale job the ledger shows submitted in the last ``within``
    seconds and never finished (a crash, a kernel restart), and for the jobs of
    submissions whose 201 the ledger never got, found again by their replyRef (origin
    "adopted"). Only a video whose job cannot be found is submitted again (origin
    "resubmitted"): see ``batch/orphans.py``."""
    calls = awaitable(client, workers=BatchOptions.concurrency + _SPARE_WORKERS)
    path = _ledger_path(calls.ledger)
    if path is None:
        _release(client, calls)
        raise InputError(
            "resume() reads the ledger, and this client records to none: create it with "
            "ledger=fu.Ledger() (fu.connect() attaches the default ledger)"
        )
    if isinstance(within, bool) or not isinstance(within, int | float) or within <= 0:
        _release(client, calls)
        raise InputError(f"within must be a number of seconds > 0, got {within!r}")
    options = BatchOptions(timeout=timeout, progress=progress, retries=0)
    items = unfinished_items(path, within)
    orphans, intents = intent_items(path, within, besides=items)
    grace = creation_grace(calls.poll_plan)
    adopting = attach_intents(orphans, intents)
    await _releasing_on_error(client, calls, adopt_orphans(calls, adopting, path, grace=grace))
    pairs = interrupted_items(path, within, items + orphans, add=True)
    await _releasing_on_error(client, calls, adopt_interrupted(calls, pairs, path, grace=grace))
    known = {id(item) for item in items + orphans}
    interrupted = [item for item, _ in pairs if id(item) not in known]
    return await _run(
        client,
        calls,
        items + orphans + interrupted,
        options,
        resume_only=True,
        description="resume",
    )


def upscale_many(client: object, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """:func:`upscale_many_async` from blocking code (also inside a running kernel loop)."""
    from flowup_nb.runloop import run_sync

    return run_sync(upscale_many_async(client, *args, **kwargs))


def resume(client: object, **kwargs: Any) -> pd.DataFrame:
    """:func:`resume_async` from blocking code (also inside a running kernel loop)."""
    from flowup_nb.runloop import run_sync

    return run_sync(resume_async(client, **kwargs))


async def _run(
    client: object,
    calls: UpscaleCalls,
    items: list[BatchItem],
    options: BatchOptions,
    *,
    resume_only: bool,
    description: str,
) -> pd.DataFrame:
    try:
        run = BatchRun(
            calls,
            items,
            options,
            record=getattr(calls.ledger, "record", None),
            resume_only=resume_only,
            description=description,
        )
        await run.run()
    finally:
        _release(client, calls)
    return to_frame(items)


async def _releasing_on_error(client: object, calls: UpscaleCalls, step: Awaitable[None]) -> None:
    # Before _run takes over the adapter, a failed step must release it itself.
    try:
        await step
    except BaseException:
        _release(client, calls)
        raise


def _release(client: object, calls: UpscaleCalls) -> None:
    if calls is not client:  # an adapter made here; one the caller passed is theirs
        calls.close()


def _ledger_path(ledger: object) -> os.PathLike[str] | str | None:
    path = getattr(ledger, "path", None)
    return path if isinstance(path, str | os.PathLike) else None
