"""The async driver of a batch: thin I/O around the scheduler, the reactions and the
client's wait engine. One task per item in flight; the main loop admits items as slots
free up, pauses end, or retries come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Sequence

from flowup_nb.api.calls import UpscaleCalls
from flowup_nb.api.errors import FlowError, JobFailedError, NotFoundError, ResponseFormatError
from flowup_nb.api.exchange import intent_exchange, interrupted_exchange
from flowup_nb.api.models import Job, UpscaleResult
from flowup_nb.api.policy import PollSchedule
from flowup_nb.api.waiting import drive_async, wait_steps
from flowup_nb.batch.items import BatchItem
from flowup_nb.batch.options import BatchOptions
from flowup_nb.batch.planning import plan_batch
from flowup_nb.batch.progress import Progress
from flowup_nb.batch.reactions import react
from flowup_nb.batch.scheduler import Scheduler
from flowup_nb.webhooks import WebhookReceiver

__all__ = ["BatchRun"]

log = logging.getLogger("flowup_nb.batch")

# The docs advise 5-10 s before retrying a transient failure; on a faster clock (the
# simulator's, seen through the client's poll schedule) proportionally less.
_RETRY_BACKOFF = 5.0
# Items whose job came from an earlier run: if the server no longer knows it, submit anew.
_FOUND_AGAIN = ("resumed", "adopted")


class WaitEnded(Exception):
    """A wait that ended without the job's outcome (a poll failed after the client's own
    retries, or the deadline passed): the job may still run, so it is not resubmitted."""

    def __init__(self, error: FlowError) -> None:
        super().__init__(str(error))
        self.error = error


class BatchRun:
    """Runs ``items`` to the end: each one done, or failed with a typed error."""

    def __init__(
        self,
        calls: UpscaleCalls,
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
        self.plan = calls.poll_plan
        self.backoff = _RETRY_BACKOFF * self.plan.fallback.first / PollSchedule().first
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
        scheduler = self.scheduler = await plan_batch(
            self.calls, self.items, self.options, resume_only=self.resume_only
        )
        progress = Progress(
            self.options.progress and bool(self.items), len(self.items), self.description
        )
        try:
            webhook = self.options.webhook
            if webhook is True and not self.resume_only:
                self.receiver, self._own_receiver = WebhookReceiver(), True
            elif isinstance(webhook, WebhookReceiver) and not self.resume_only:
                self.receiver = webhook
            for item in self.items:
                if item.status == "running":  # adopted: a job that already runs
                    item.started_at = item.started_at or time.monotonic()
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
            await self._wind_down(progress)
        return self.items

    def _spawn(self, item: BatchItem) -> None:
        task = asyncio.get_running_loop().create_task(self._run_item(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wind_down(self, progress: Progress) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._submitting:
            await asyncio.wait(set(self._submitting))
        progress.close()
        if self.receiver is not None:
            for reply_ref in self._issued:
                self.receiver.forget(reply_ref)
            if self._own_receiver:
                self.receiver.close()

    # -- one item -------------------------------------------------------------------------

    async def _run_item(self, item: BatchItem) -> None:
        scheduler = self.scheduler
        assert scheduler is not None
        try:
            result = await self._attempt(item)
        except WaitEnded as ended:
            scheduler.fail(item, ended.error, time.monotonic())
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
            return await self._upscale(item)
        job = await self._submit(item) if item.job_id is None else None
        try:
            return await self._await_job(item, job)
        except WaitEnded as ended:
            gone = isinstance(ended.error, NotFoundError) and item.origin in _FOUND_AGAIN
            if self.resume_only or not gone:
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
        else:
            # Webhooks or not, every submission carries its own replyRef: the job's record
            # echoes it, so a job whose 201 is lost can be found again (batch/orphans.py).
            item.reply_ref = f"flowup-{secrets.token_hex(12)}"
            options["reply_ref"] = item.reply_ref
        self._write_intent(item, item.reply_ref)
        item.submissions += 1
        submitting = asyncio.ensure_future(
            self.calls.submit_upscale(item.source_id, item.resolution, **options)
        )
        self._submitting.add(submitting)
        submitting.add_done_callback(self._settled)
        job = await asyncio.shield(submitting)
        item.job_id = job.job_id
        if self.receiver is not None and item.reply_ref is not None:
            self.receiver.bind(item.reply_ref, job.job_id)
        return job

    async def _upscale(self, item: BatchItem) -> UpscaleResult:
        """A sync-mode upscale. If the batch is interrupted meanwhile, an async client's
        request is cancelled and records itself (outcome ``cancelled``); a blocking
        client's runs on in its worker thread, so the batch records it as interrupted at
        once (its answer, if one comes, is recorded as well)."""
        sent_at = time.time()
        try:
            return await self.calls.upscale(item.source_id, item.resolution, **self.options.captcha)
        except asyncio.CancelledError as cancel:
            if not getattr(self.calls, "cancels_requests", True):
                self._record_interrupted(item, cancel, sent_at)
            raise

    def _record_interrupted(self, item: BatchItem, cancel: BaseException, sent_at: float) -> None:
        if self.record is None:
            return
        row = interrupted_exchange(
            session_id=self.calls.session_id,
            tags=self.calls.tags,
            operation="upscale",
            method="POST",
            endpoint="/videos/upscale",
            started_at=sent_at,
            finished_at=time.time(),
            attempt=0,
            mode="sync",
            context={
                "source_id": item.source_id,
                "resolution": item.resolution,
                "account": item.account,
            },
            interruption=cancel,
            in_flight=True,
            note=(
                "The batch was interrupted while this sync upscale ran in a worker thread: "
                "the request runs on, and its answer, if it arrives, is recorded as well. "
                "client.resume() finds the job and waits for it; asking the same upscale "
                "again is free (cached) once it has completed."
            ),
        )
        try:
            self.record(row)
        except Exception as exc:  # the interruption goes on whatever the ledger does
            log.warning("could not record the interrupted upscale of %s: %s", item.key, exc)

    def _write_intent(self, item: BatchItem, reply_ref: str) -> None:
        """The intent row, before the request leaves: what is about to be sent."""
        if self.record is None:
            return
        intent = intent_exchange(
            session_id=self.calls.session_id,
            tags=self.calls.tags,
            source_id=item.source_id,
            resolution=item.resolution,
            reply_ref=reply_ref,
        )
        try:
            self.record(intent)
        except Exception as exc:  # the submission must not fail because a ledger did
            log.warning("could not record the intent of %s: %s", item.key, exc)

    def _settled(self, submitting: asyncio.Future[Job]) -> None:
        self._submitting.discard(submitting)
        if not submitting.cancelled():
            submitting.exception()  # retrieved: an interrupted batch has nobody awaiting it

    async def _await_job(self, item: BatchItem, job: Job | None) -> UpscaleResult:
        """Wait for the job by webhook or by polls on the client's learnt plan."""
        job_id = item.job_id
        assert job_id is not None
        receiver = self.receiver if item.reply_ref is not None else None

        async def poll() -> Job:
            item.polls += 1
            return await self.calls.get_job(job_id)

        steps = wait_steps(
            job_id,
            timeout=self.options.timeout,
            plan=self.plan,
            initial=job,
            resolution=item.resolution,
            listening=receiver is not None and not receiver.closed,
            grace=receiver.grace if receiver is not None else 30.0,
        )
        listen = None if receiver is None else functools.partial(receiver.wait_async, job_id)
        try:
            result = await drive_async(steps, get_job=poll, listen=listen)
        except JobFailedError:
            raise  # the job ended: a new submission may succeed
        except FlowError as error:
            raise WaitEnded(error) from error
        finally:
            if receiver is not None:
                item.webhooks += receiver.deliveries(job_id)
        if not isinstance(result, UpscaleResult):
            raise WaitEnded(
                ResponseFormatError(
                    f"job {job_id} completed without an upscaled video in its record"
                )
            )
        return result
