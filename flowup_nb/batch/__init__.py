"""Many upscales at once: bounded concurrency, polite to the API's limits, resumable.

``client.upscale_many(ids, ...)`` and ``client.resume()`` (both clients) delegate here.
The pieces: ``items`` (inputs, deduplicated), ``scheduler`` (pure admission control),
``reactions`` (pure: what an error means for the batch), ``polling`` (pure: when to
poll, learnt from finished jobs), ``driver`` (the async I/O loop), ``history`` (what the
ledger says was done or left running) and ``table`` (the DataFrame answer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowup_nb.api.errors import InputError
from flowup_nb.batch.calls import calls_for
from flowup_nb.batch.driver import BatchRun
from flowup_nb.batch.history import RESUME_WINDOW, apply_history, unfinished_items
from flowup_nb.batch.items import BatchItem, make_items
from flowup_nb.batch.options import BatchOptions
from flowup_nb.batch.table import COLUMNS, to_frame

if TYPE_CHECKING:
    import pandas as pd

    from flowup_nb.api.client import AsyncFlowClient, FlowClient
    from flowup_nb.webhooks import WebhookReceiver

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
    client: FlowClient | AsyncFlowClient,
    ids: Iterable[str | tuple[str, str]],
    resolution: str = "1080p",
    *,
    concurrency: int = 4,
    per_account: int | Mapping[str, int] | None = None,
    mode: str = "async",
    webhook: WebhookReceiver | bool | None = None,
    retries: int = 2,
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

    See :meth:`flowup_nb.FlowClient.upscale_many` for the parameters.
    """
    options = BatchOptions(
        concurrency=concurrency,
        per_account=per_account,
        mode=mode,
        webhook=webhook,
        retries=retries,
        max_pause=max_pause,
        no_eligible=no_eligible,
        timeout=timeout,
        skip_done=skip_done,
        progress=progress,
        captcha=BatchOptions.captcha_fields(captcha_retry, captcha_order, captcha_token),
    )
    items = make_items(ids, resolution)
    ledger = getattr(client, "ledger", None)
    path = _ledger_path(ledger)
    if skip_done and path is not None:
        apply_history(items, path)
    return await _run(client, items, options, ledger, resume_only=False, description="upscale")


async def resume_async(
    client: FlowClient | AsyncFlowClient,
    *,
    within: float = RESUME_WINDOW,
    timeout: float = 900.0,
    progress: bool = True,
) -> pd.DataFrame:
    """Wait for every upscale job the ledger shows submitted in the last ``within``
    seconds and never finished (a crash, a kernel restart); nothing is resubmitted."""
    ledger = getattr(client, "ledger", None)
    path = _ledger_path(ledger)
    if path is None:
        raise InputError(
            "resume() reads the ledger, and this client records to none: create it with "
            "ledger=fu.Ledger() (fu.connect() attaches the default ledger)"
        )
    if isinstance(within, bool) or not isinstance(within, int | float) or within <= 0:
        raise InputError(f"within must be a number of seconds > 0, got {within!r}")
    options = BatchOptions(timeout=timeout, progress=progress, retries=0)
    items = unfinished_items(path, within)
    return await _run(client, items, options, ledger, resume_only=True, description="resume")


def upscale_many(client: FlowClient | AsyncFlowClient, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """:func:`upscale_many_async` from blocking code (also inside a running kernel loop)."""
    from flowup_nb.runloop import run_sync

    return run_sync(upscale_many_async(client, *args, **kwargs))


def resume(client: FlowClient | AsyncFlowClient, **kwargs: Any) -> pd.DataFrame:
    """:func:`resume_async` from blocking code (also inside a running kernel loop)."""
    from flowup_nb.runloop import run_sync

    return run_sync(resume_async(client, **kwargs))


async def _run(
    client: FlowClient | AsyncFlowClient,
    items: list[BatchItem],
    options: BatchOptions,
    ledger: object,
    *,
    resume_only: bool,
    description: str,
) -> pd.DataFrame:
    calls = calls_for(client, options.concurrency + _SPARE_WORKERS)
    try:
        run = BatchRun(
            calls,
            items,
            options,
            record=getattr(ledger, "record", None),
            resume_only=resume_only,
            description=description,
        )
        await run.run()
    finally:
        calls.close()
    return to_frame(items)


def _ledger_path(ledger: object) -> os.PathLike[str] | str | None:
    path = getattr(ledger, "path", None)
    return path if isinstance(path, str | os.PathLike) else None
