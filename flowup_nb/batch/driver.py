"""The async driver of a batch: thin I/O around the scheduler, the reactions and the
poll plan. One task per item in flight; the main loop admits items as slots free up,
pauses end, or retries come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence

from flowup_nb.api.errors import (
    AuthenticationError,
    FlowError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
)
from flowup_nb.api.models import Job, UpscaleResult
from flowup_nb.api.policy import PollSchedule
from flowup_nb.batch.accounts import (
    UNKNOWN_TIER_CONCURRENCY,
    account_limits,
    refusal,
    survey,
)
from flowup_nb.batch.calls import BatchCalls
from flowup_nb.batch.items import BatchItem
from flowup_nb.batch.options import BatchOptions
from flowup_nb.batch.polling import DurationBook, job_duration
from flowup_nb.batch.progress import Progress
from flowup_nb.batch.reactions import react
from flowup_nb.batch.scheduler import Scheduler
from flowup_nb.webhooks import WebhookReceiver

__all__ = ["BatchRun"]

log = logging.getLogger("flowup_nb.batch")

# The docs advise 5-10 s before retrying a transient failure; on a faster clock (the
# simulator's, seen through the client's poll schedule) proportionally less.
_RETRY_BACKOFF = 5.0


class BatchRun:
    """Runs ``items`` to the end: each one done, or failed with a typed error."""

    def __init__(
        self,
        calls: BatchCalls,
        items: Sequence[BatchItem],
        options: BatchOptions,
        *,
        record: object = None,
        resume_only: bool = False,
        description: str = "upscale",
    ) -> None:
        self.calls = calls
        self.items = list(items)
        self.options = options
        self.record = record if callable(record) else None
        self.resume_only = resume_only
        self.description = description
        schedule = calls.poll_schedule
        self.book = DurationBook(schedule)
        self.backoff = _RETRY_BACKOFF * schedule.first / PollSchedule().first
        self.receiver: WebhookReceiver | None = None
        self._own_receiver = False
        self._issued: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Submissions in flight: an interrupted batch still waits for their answers, so
        # every job the server created is in the ledger for resume().
        self._submitting: set[asyncio.Future[Job]] = set()
        self._changed = asyncio.Event()
        self._crash: BaseException | None = None
        self.scheduler: Scheduler | None = None

    # -- the main loop ------------------------------------------------------------------

    async def run(self) -> list[BatchItem]:
        options = self.options
        queued = [item for item in self.items if item.status == "queued"]
        infos = {}
        if queued and self._needs_survey(queued):
            infos = await survey(self.calls, (item.account for item in queued))
        now = time.monotonic()
        for item in queued:
            error = refusal(item, infos.get(item.account or ""))
            if error is not None:
                item.status, item.error, item.finished_at = "failed", error, now
        default_limit = (
            options.per_account if isinstance(options.per_account, int) else None
        ) or UNKNOWN_TIER_CONCURRENCY
        limits = account_limits(infos, options.per_account)
        if isinstance(options.per_account, Mapping):  # also accounts not looked up
            limits.update(options.per_account)
        scheduler = self.scheduler = Scheduler(
            self.items,
            concurrency=options.concurrency,
            limits=limits,
            default_limit=default_limit,
            retries=options.retries,
        )
        progress = Progress(
            options.progress and bool(self.items), len(self.items), self.description
        )
        try:
            if options.webhook is True and not self.resume_only:
                self.receiver, self._own_receiver = WebhookReceiver(), True
            elif isinstance(options.webhook, WebhookReceiver) and not self.resume_only:
                self.receiver = options.webhook
            for item in self.items:
                if item.status == "running":  # adopted: a job that already runs
                    item.started_at = item.started_at or now
                    self._spawn(item)
            while True:
                now = time.monotonic()
                for item in scheduler.admit(now):
                    self._spawn(item)
                progress.show(scheduler.counts())
                if self._crash is not None:
                    raise self._crash
                if scheduler.finished:
                    break
                wake = scheduler.next_wake(now)
                if wake is None and not self._tasks:
                    raise RuntimeError("batch stalled: nothing runs and nothing is due (a bug)")
                timeout = None if wake is None else max(wake - now, 0.001)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)
                self._changed.clear()
        except BaseException:
            running = [i.job_id for i in self.items if i.status == "running" and i.job_id]
            if running:
                log.warning(
                    "batch interrupted with %d job(s) still running on the server; they are "
                    "in the ledger: client.resume() waits for them",
                    len(running),
                )
            raise
        finally:
            await self._cancel_tasks()
            if self._submitting:
                await asyncio.wait(set(self._submitting))
            progress.close()
            if self.receiver is not None:
                for reply_ref in self._issued:
                    self.receiver.forget(reply_ref)
                if self._own_receiver:
                    self.receiver.close()
        return self.items

    def _needs_survey(self, queued: Sequence[BatchItem]) -> bool:
        if self.resume_only:
            return False
        per_account = self.options.per_account
        if any(item.resolution == "4K" for item in queued) or per_account is None:
            return True
        if isinstance(per_account, int):
            return False
        return any(item.account not in per_account for item in queued)

    def _spawn(self, item: BatchItem) -> None:
        task = asyncio.get_running_loop().create_task(self._run_item(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one item -------------------------------------------------------------------------

    async def _run_item(self, item: BatchItem) -> None:
        scheduler = self.scheduler
        assert scheduler is not None
        try:
            result = await self._attempt(item)
        except FlowError as error:
            now = time.monotonic()
            if self.resume_only:
                scheduler.fail(item, error, now)
            else:
                reaction = react(
                    error,
                    backoff=self.backoff,
                    max_pause=self.options.max_pause,
                    no_eligible=self.options.no_eligible,
                )
                scheduler.react(item, error, reaction, now)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: stop the batch and show it
            self._crash = exc
        else:
            item.result = result
            item.result_id = result.media_generation_id
            item.video_url = result.video_url
            item.cached = result.cached
            scheduler.succeed(item, time.monotonic())
        finally:
            self._changed.set()

    async def _attempt(self, item: BatchItem) -> UpscaleResult:
        if item.started_at is None:
            item.started_at = time.monotonic()
        if item.job_id is None and self.options.mode == "sync":
            item.submissions += 1
            return await self.calls.upscale(item.source_id, item.resolution, **self.options.captcha)
        job = await self._submit(item) if item.job_id is None else None
        try:
            return await self._await_job(item, job)
        except NotFoundError:
            if item.origin != "resumed" or self.resume_only:
                raise
        # A job found in the ledger that the server no longer knows: submit it afresh.
        item.origin, item.job_id = "new", None
        return await self._await_job(item, await self._submit(item))

    async def _submit(self, item: BatchItem) -> Job:
        options = dict(self.options.captcha)
        if self.receiver is not None:
            reply = self.receiver.reply_for(
                item.source_id, record=self.record, session_id=self.calls.session_id
            )
            item.reply_ref = reply["reply_ref"]
            self._issued.append(item.reply_ref)
            options.update(reply)
        item.submissions += 1
        submitting = asyncio.ensure_future(
            self.calls.submit(item.source_id, item.resolution, **options)
        )
        self._submitting.add(submitting)
        submitting.add_done_callback(self._settled)
        job = await asyncio.shield(submitting)
        item.job_id = job.job_id
        item.extra["submitted_at"] = time.monotonic()
        item.extra["job_polls"] = 0
        if self.receiver is not None and item.reply_ref is not None:
            self.receiver.bind(item.reply_ref, job.job_id)
        return job

    def _settled(self, submitting: asyncio.Future[Job]) -> None:
        self._submitting.discard(submitting)
        if not submitting.cancelled():
            submitting.exception()  # retrieved: an interrupted batch has nobody awaiting it

    async def _await_job(self, item: BatchItem, job: Job | None) -> UpscaleResult:
        """Wait for the job by webhook or by polls on the learnt plan; its result."""
        timeout = self.options.timeout
        deadline = time.monotonic() + timeout
        item.extra.setdefault("submitted_at", time.monotonic())
        item.extra.setdefault("job_polls", 0)
        job_id = item.job_id
        assert job_id is not None
        receiver = self.receiver if item.reply_ref is not None else None
        try:
            while job is None or job.pending:
                now = time.monotonic()
                if now >= deadline:
                    raise JobTimeoutError(job_id, timeout, job)
                if receiver is not None and not receiver.closed and job is not None:
                    heard = max(
                        receiver.last_heard(job_id) or 0.0,
                        item.extra.get("polled_at", 0.0),
                        item.extra["submitted_at"],
                    )
                    quiet_until = heard + self.book.silence_allowed(item.resolution, receiver.grace)
                    if now < quiet_until:
                        news = await receiver.wait_async(
                            job_id, job.status, min(quiet_until, deadline) - now
                        )
                        if news is not None:
                            job = news
                        continue
                elif job is not None:  # polling (also when the receiver was closed)
                    elapsed = now - item.extra["submitted_at"]
                    delay = self.book.next_poll(item.resolution, elapsed, item.extra["job_polls"])
                    await asyncio.sleep(min(delay, max(deadline - now, 0.0)))
                job = await self._poll(item, job)
        finally:
            if receiver is not None:
                item.webhooks += receiver.deliveries(job_id)
        self.book.observe(item.resolution, job_duration(job.created, job.updated))
        if job.status == "failed":
            raise JobFailedError(job)
        if isinstance(job.result, UpscaleResult):
            return job.result
        raise ResponseFormatError(
            f"job {job_id} is {job.status!r} without an upscaled video in its record",
            snippet=str(job.raw)[:200],
        )

    async def _poll(self, item: BatchItem, known: Job | None) -> Job | None:
        """One poll; on a passing failure, what was known (the plan polls again later)."""
        assert item.job_id is not None
        item.polls += 1
        item.extra["job_polls"] += 1
        first = known is None
        try:
            job = await self.calls.get_job(item.job_id)
        except (NotFoundError, AuthenticationError):
            raise
        except RateLimitError as exc:
            await asyncio.sleep(exc.retry_after if exc.retry_after is not None else self.backoff)
            return known
        except FlowError as exc:
            log.debug("poll of job %s failed (%s); polling again later", item.job_id, exc)
            if first:
                await asyncio.sleep(self.book.fallback.delay(item.extra["job_polls"]))
            return known
        finally:
            item.extra["polled_at"] = time.monotonic()
        if first and job.created is not None:
            # A job found in the ledger: time it from its creation on the server.
            age = max(0.0, time.time() - job.created.timestamp())
            item.extra["submitted_at"] = time.monotonic() - age
        return job
