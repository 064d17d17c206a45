"""The state of one ``wait()``: its deadline, poll count and the last status seen.

Both clients drive the same state machine; they differ only in how they sleep and
whether they await ``on_update``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flowup_nb.api import policy
from flowup_nb.api.errors import JobFailedError, JobTimeoutError, ResponseFormatError
from flowup_nb.api.models import GenerationResult, Job, UpscaleResult

__all__ = ["WaitState"]


class WaitState:
    """The state of one ``wait()``: the deadline, the poll count, the last status seen."""

    def __init__(
        self,
        job_id: str,
        timeout: float,
        schedule: policy.PollSchedule,
        initial: Job | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.schedule = schedule
        self.job = initial
        self._clock = clock
        self._deadline = clock() + timeout
        self._polls = 0
        self._last_status: str | None = None

    def time_left(self) -> float:
        return self._deadline - self._clock()

    def observe(self, job: Job) -> bool:
        """Record a job seen; True when ``on_update`` is due (first sight or a new status)."""
        self.job = job
        changed = job.status != self._last_status
        self._last_status = job.status
        return changed

    def result_of(self, job: Job) -> UpscaleResult | GenerationResult | None:
        """The result when done, None while pending; raises for failed or unknown states."""
        if policy.is_pending(job.status):
            return None
        if job.status == "failed":
            raise JobFailedError(job)
        if job.status == "completed" and job.result is not None:
            return job.result
        raise ResponseFormatError(
            f"job {job.job_id} is in status {job.status!r}, which is neither pending "
            "(created, started) nor completed with a result",
            snippet=str(job.raw)[:200],
        )

    def next_delay(self) -> float:
        """Seconds to sleep before the next poll; JobTimeoutError once the deadline passed."""
        left = self.time_left()
        if left <= 0:
            raise JobTimeoutError(self.job_id, self.timeout, self.job)
        delay = policy.sleep_before_next_poll(self._polls, self.schedule, left)
        self._polls += 1
        return delay
