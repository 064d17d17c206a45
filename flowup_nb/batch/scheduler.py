"""The batch's planner: which items may be submitted now. Pure: no I/O, no clock.

Every method takes ``now`` (monotonic seconds) from its caller, so tests can drive it
with made-up times. It enforces the global concurrency, each account's limit, pauses
(of one account, one model on one account, or everything) and stops, and keeps the
two resend budgets of every item: ``retries`` (after a rejected captcha, a failed job or
a pause) and ``transient_retries`` (after an error the client already retried).

A slot is held from submission until the job ends: the server counts running jobs
against the account's concurrency, not requests in flight.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flowup_nb.api.errors import FlowError
from flowup_nb.batch.items import BatchItem
from flowup_nb.batch.reactions import Reaction

__all__ = ["Counts", "Scheduler"]

ALL = "*"


@dataclass(frozen=True, slots=True)
class Counts:
    done: int
    failed: int
    running: int
    waiting: int

    @property
    def finished(self) -> int:
        return self.done + self.failed


class Scheduler:
    """Admission control for one batch.

    ``limits`` maps an account to how many of its jobs may run at once (``default_limit``
    for accounts not in it). A throttle lowers the account's limit to what was running
    when it hit; each job done on the account raises it again by one, up to the limit
    it started with.
    """

    def __init__(
        self,
        items: Iterable[BatchItem],
        *,
        concurrency: int,
        limits: Mapping[str | None, int] | None = None,
        default_limit: int | None = None,
        retries: int = 2,
        transient_retries: int = 0,
    ) -> None:
        self.items = list(items)
        self.concurrency = concurrency
        self._ceiling: dict[str | None, int] = dict(limits or {})
        self._default = default_limit if default_limit is not None else concurrency
        self._limit: dict[str | None, int] = {}
        self.retries = retries
        self.transient_retries = transient_retries
        self._queue: list[BatchItem] = sorted(
            (i for i in self.items if i.status == "queued"), key=lambda i: i.position
        )
        self._running: Counter[str | None] = Counter()
        self._in_flight = 0
        self._paused: dict[object, float] = {}  # scope key -> monotonic time it ends
        self._stopped: dict[object, FlowError] = {}  # scope key -> the error that stopped it
        for item in self.items:
            if item.status == "running":
                self._take(item)

    # -- limits -------------------------------------------------------------------------

    def ceiling(self, account: str | None) -> int:
        return max(1, self._ceiling.get(account, self._default))

    def limit(self, account: str | None) -> int:
        return self._limit.get(account, self.ceiling(account))

    # -- admission ----------------------------------------------------------------------

    def admit(self, now: float) -> list[BatchItem]:
        """Queued items that may be submitted now (marked running, their slots taken)."""
        admitted: list[BatchItem] = []
        kept: list[BatchItem] = []
        for item in self._queue:
            if (
                self._in_flight < self.concurrency
                and item.not_before <= now
                and self._pause_end(item, now) is None
                and self._running[item.account] < self.limit(item.account)
            ):
                item.status = "running"
                self._take(item)
                admitted.append(item)
            else:
                kept.append(item)
        self._queue = kept
        return admitted

    def next_wake(self, now: float) -> float | None:
        """The earliest future time at which a queued item could become admissible."""
        times = [end for end in self._paused.values() if end > now]
        times += [item.not_before for item in self._queue if item.not_before > now]
        return min(times) if times else None

    # -- outcomes -----------------------------------------------------------------------

    def succeed(self, item: BatchItem, now: float) -> None:
        self._release(item)
        item.status, item.finished_at, item.error = "done", now, None
        account = item.account
        if self.limit(account) < self.ceiling(account):
            self._limit[account] = self.limit(account) + 1

    def fail(self, item: BatchItem, error: FlowError, now: float) -> None:
        self._release(item)
        if item in self._queue:
            self._queue.remove(item)
        item.status, item.finished_at, item.error = "failed", now, error

    def react(
        self, item: BatchItem, error: FlowError, reaction: Reaction, now: float
    ) -> list[BatchItem]:
        """Apply ``reaction`` to ``item`` (running); returns the items that ended because of it."""
        self._release(item)
        if reaction.throttled:
            # The account refused one more job: what runs now is its real limit.
            self._limit[item.account] = max(1, self._running[item.account])
        action, scope = reaction.action, self._scope_key(item, reaction.scope)
        if action == "stop":
            self._stopped[scope] = error
            ended = [i for i in self._queue if self._in_scope(i, scope)]
            for other in ended:
                self.fail(other, error, now)
            self.fail(item, error, now)
            return [item, *ended]
        if action == "pause":
            self._paused[scope] = max(self._paused.get(scope, 0.0), now + reaction.delay)
            item.requeues += 1
        if action in ("pause", "retry") and self._spend(item, reaction.client_retried):
            delay = reaction.delay if action == "retry" else 0.0
            return self._requeue(item, error, now, not_before=now + delay)
        self.fail(item, error, now)
        return [item]

    def _spend(self, item: BatchItem, client_retried: bool) -> bool:
        """Use one resend of the item's budget for this cause; False when none is left."""
        if client_retried:
            if item.resends_used >= self.transient_retries:
                return False
            item.resends_used += 1
            return True
        if item.retries_used >= self.retries:
            return False
        item.retries_used += 1
        return True

    # -- state ----------------------------------------------------------------------------

    def counts(self) -> Counts:
        status = Counter(item.status for item in self.items)
        return Counts(status["done"], status["failed"], status["running"], status["queued"])

    @property
    def finished(self) -> bool:
        return not self._queue and self._in_flight == 0

    # -- helpers --------------------------------------------------------------------------

    def _take(self, item: BatchItem) -> None:
        self._running[item.account] += 1
        self._in_flight += 1
        item.extra["slot"] = True

    def _release(self, item: BatchItem) -> None:
        if item.extra.pop("slot", False):
            self._running[item.account] -= 1
            self._in_flight -= 1

    def _requeue(
        self, item: BatchItem, error: FlowError, now: float, *, not_before: float
    ) -> list[BatchItem]:
        stopped = self._stop_error(item)
        if stopped is not None:
            self.fail(item, stopped, now)
            return [item]
        item.status, item.job_id, item.error = "queued", None, error
        item.not_before = not_before
        bisect.insort(self._queue, item, key=lambda i: i.position)
        return []

    @staticmethod
    def _scope_key(item: BatchItem, scope: str) -> object:
        if scope == "all":
            return ALL
        if scope == "model":
            return (item.account, item.resolution)
        return item.account

    @staticmethod
    def _in_scope(item: BatchItem, scope: object) -> bool:
        return scope in (ALL, item.account, (item.account, item.resolution))

    def _keys(self, item: BatchItem) -> tuple[object, ...]:
        return (ALL, item.account, (item.account, item.resolution))

    def _pause_end(self, item: BatchItem, now: float) -> float | None:
        ends = [self._paused[k] for k in self._keys(item) if self._paused.get(k, 0.0) > now]
        return max(ends) if ends else None

    def _stop_error(self, item: BatchItem) -> FlowError | None:
        for key in self._keys(item):
            if key in self._stopped:
                return self._stopped[key]
        return None
