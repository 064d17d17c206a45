"""Before the first submission: what must not be sent, and how much may run at once.

One look-up per account of the videos to submit (``accounts.survey``): nothing is sent
to an account whose health is not OK (its videos end at once with an
``AccountReconnectError``, built here without a request), 4K is refused on an account
that cannot have it, and the account's limit follows its tier when the caller set none.
The answer is the batch's :class:`~flowup_nb.batch.scheduler.Scheduler`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from flowup_nb.api.accounts import UNKNOWN_TIER_CONCURRENCY
from flowup_nb.batch.accounts import AccountLookup, Found, account_limits, refusal, survey
from flowup_nb.batch.items import BatchItem
from flowup_nb.batch.options import BatchOptions
from flowup_nb.batch.scheduler import Scheduler

__all__ = ["plan_batch"]


async def plan_batch(
    calls: AccountLookup,
    items: Sequence[BatchItem],
    options: BatchOptions,
    *,
    resume_only: bool,
) -> Scheduler:
    """Refuse the items that cannot be sent (marked failed) and set each account's limit."""
    queued = [item for item in items if item.status == "queued"]
    found: dict[str, Found] = {}
    if queued:  # a resume's queued items are resubmissions: checked alike
        found = await survey(calls, (item.account for item in queued))
    now = time.monotonic()
    for item in queued:
        error = refusal(item, found.get(item.account or ""))
        if error is not None:
            item.status, item.error, item.finished_at = "failed", error, now
    per_account = options.per_account
    default_limit = (
        per_account if isinstance(per_account, int) else None
    ) or UNKNOWN_TIER_CONCURRENCY
    limits = account_limits(found, per_account)
    if isinstance(per_account, Mapping):  # also accounts not looked up
        limits.update(per_account)
    return Scheduler(
        items,
        concurrency=options.concurrency,
        limits=limits,
        default_limit=default_limit,
        retries=options.retries,
        transient_retries=options.transient_retries,
    )
