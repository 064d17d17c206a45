"""One wait engine for every caller: the clients' ``wait()``, the batch and the form.

:func:`wait_steps` is a pure generator, in the manner of httpx's ``auth_flow``: it yields
what to do next (:class:`Poll` the job, :class:`Sleep`, :class:`Listen` for a webhook
delivery, :class:`Update` the caller) and is sent back what a poll or a delivery
brought. :func:`drive` and :func:`drive_async` are the only loops that run it, so a
blocking and an awaiting wait cannot drift apart.

When to poll is a :class:`~flowup_nb.api.poll_plan.PollPlan` (re-exported here): it
learns how long jobs take from the ones this engine saw finish.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from flowup_nb.api import policy
from flowup_nb.api.errors import InputError, JobFailedError, JobTimeoutError, ResponseFormatError
from flowup_nb.api.models import GenerationResult, Job, UpscaleResult
from flowup_nb.api.poll_plan import PollPlan, job_duration

__all__ = [
    "DeliveryWaiter",
    "Listen",
    "OnUpdate",
    "Poll",
    "PollPlan",
    "PreparedWait",
    "Sleep",
    "Update",
    "WaitResult",
    "WaitStep",
    "drive",
    "drive_async",
    "job_duration",
    "prepare_wait",
    "wait_steps",
]

WaitResult = UpscaleResult | GenerationResult
OnUpdate = Callable[[Job], Any] | Callable[[Job], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Poll:
    """Send ``GET /jobs/{jobId}`` now and send the Job back."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Sleep this long, then go on."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Listen:
    """Wait up to ``seconds`` for a delivery of the job in a status other than ``status``;
    send back the Job heard, or None."""

    seconds: float
    status: str | None


@dataclass(frozen=True, slots=True)
class Update:
    """Call the caller's ``on_update(job)``, then go on."""

    job: Job


WaitStep = Poll | Sleep | Listen | Update
WaitSteps = Generator[WaitStep, Job | None, WaitResult]


class DeliveryWaiter(Protocol):
    """What a wait needs of a webhook receiver (``fu.WebhookReceiver`` is one)."""

    @property
    def grace(self) -> float: ...

    def wait(self, job_id: str, status: str | None, timeout: float) -> Job | None: ...

    async def wait_async(self, job_id: str, status: str | None, timeout: float) -> Job | None: ...


# -- the engine ---------------------------------------------------------------------------


def wait_steps(
    job_id: str,
    *,
    timeout: float,
    plan: PollPlan,
    initial: Job | None = None,
    resolution: str | None = None,
    listening: bool = False,
    grace: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> WaitSteps:
    """The steps of waiting for one job, to be run by :func:`drive` or :func:`drive_async`.

    ``initial``: the job as last seen (a fresh submission's 201 answer); None polls at
    once. A job is timed from its record's ``created`` (the server's clock, read against
    ``wall``, the local one; a time ahead of ours counts as now), so a wait begun long
    after the submission polls where that job's end is due, not a fresh job's.
    ``listening``: deliveries come by webhook; a job unheard for
    ``plan.silence_allowed(resolution, grace)`` is polled once, and a listener that
    stops answering (a closed receiver) turns the wait to polling.

    Yields an :class:`Update` at first sight and at each change of status. Returns the
    result; raises :class:`JobFailedError`, :class:`JobTimeoutError` (the job is left
    running) or :class:`ResponseFormatError` (a status that is neither pending nor done).
    """
    start = clock()
    deadline = start + timeout
    submitted = _started(initial, start, wall)
    heard = start
    job = initial
    shown: str | None = None
    polls = sleeps = 0
    while True:
        if job is None:
            job = yield Poll()
            if job is None:
                raise TypeError("a Poll step must be sent back the Job it fetched")
            polls += 1
            heard = clock()
            if polls == 1 and initial is None:
                submitted = _started(job, heard, wall)
        if resolution is None and isinstance(job.request.get("resolution"), str):
            resolution = job.request["resolution"]
        if job.status != shown:
            shown = job.status
            yield Update(job)
        if not policy.is_pending(job.status):
            return _outcome(job, plan, resolution)
        now = clock()
        if now >= deadline:
            raise JobTimeoutError(job_id, timeout, job)
        if listening:
            until = min(heard + plan.silence_allowed(resolution, grace), deadline)
            if now < until:
                news = yield Listen(until - now, job.status)
                if news is not None:
                    job, heard = news, clock()
                elif clock() < until - 1e-3:
                    listening = False  # the listener has gone: poll from here on
                continue
        else:
            delay = plan.next_poll(resolution, now - submitted, sleeps)
            sleeps += 1
            yield Sleep(max(0.0, min(delay, deadline - now)))
        job = None


def _started(job: Job | None, now: float, wall: Callable[[], float]) -> float:
    """When the job was created, on the ``now`` clock (``now`` itself when unknown)."""
    if job is None or job.created is None:
        return now
    return now - max(0.0, wall() - job.created.timestamp())


def _outcome(job: Job, plan: PollPlan, resolution: str | None) -> WaitResult:
    if job.status == "failed":
        raise JobFailedError(job)
    if job.status == "completed" and job.result is not None:
        # A cached repeat ends in a second or two: it says nothing of how long work takes.
        if not getattr(job.result, "cached", False):
            plan.observe(resolution, job_duration(job.created, job.updated))
        return job.result
    raise ResponseFormatError(
        f"job {job.job_id} is in status {job.status!r}, which is neither pending "
        "(created, started) nor completed with a result",
        snippet=str(job.raw)[:200],
    )


@dataclass(frozen=True, slots=True)
class PreparedWait:
    """A validated wait: the job's id, its steps, and the time left to its deadline."""

    job_id: str
    steps: WaitSteps
    deadline: float

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


def prepare_wait(
    job_or_id: object,
    *,
    timeout: object,
    plan: PollPlan,
    on_update: object = None,
    webhook: DeliveryWaiter | None = None,
) -> PreparedWait:
    """Check a ``wait()``'s arguments (InputError before any request) and plan it."""
    job_id = policy.validate_job_id(job_or_id)
    seconds = policy.validate_wait_timeout(timeout)
    if on_update is not None and not callable(on_update):
        raise InputError("on_update must be a callable taking a Job (sync or async)")
    if webhook is not None and not callable(getattr(webhook, "wait_async", None)):
        raise InputError("webhook must be a fu.WebhookReceiver (the one the job was sent to)")
    initial = job_or_id if isinstance(job_or_id, Job) else None
    steps = wait_steps(
        job_id,
        timeout=seconds,
        plan=plan,
        initial=initial,
        listening=webhook is not None,
        grace=webhook.grace if webhook is not None else 30.0,
    )
    return PreparedWait(job_id, steps, time.monotonic() + seconds)


# -- the two loops ------------------------------------------------------------------------


def drive(
    steps: WaitSteps,
    *,
    get_job: Callable[[], Job],
    on_update: OnUpdate | None = None,
    listen: Callable[[str | None, float], Job | None] | None = None,
) -> WaitResult:
    """Run ``steps`` in blocking code. An async ``on_update`` runs to its end on one
    private loop for the whole wait (in a worker thread when this thread runs a loop)."""
    settle = _Settler()
    reply: Job | None = None
    try:
        while True:
            step = steps.send(reply)
            reply = None
            if isinstance(step, Poll):
                reply = get_job()
            elif isinstance(step, Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, Listen) and listen is not None:
                reply = listen(step.status, step.seconds)
            elif isinstance(step, Listen):
                time.sleep(step.seconds)
            elif on_update is not None:
                settle(on_update(step.job))
    except StopIteration as done:
        result: WaitResult = done.value
        return result
    finally:
        steps.close()
        settle.close()


async def drive_async(
    steps: WaitSteps,
    *,
    get_job: Callable[[], Awaitable[Job]],
    on_update: OnUpdate | None = None,
    listen: Callable[[str | None, float], Awaitable[Job | None]] | None = None,
) -> WaitResult:
    """Run ``steps`` on the running loop; an async ``on_update`` is awaited."""
    reply: Job | None = None
    try:
        while True:
            step = steps.send(reply)
            reply = None
            if isinstance(step, Poll):
                reply = await get_job()
            elif isinstance(step, Sleep):
                await anyio.sleep(step.seconds)
            elif isinstance(step, Listen) and listen is not None:
                reply = await listen(step.status, step.seconds)
            elif isinstance(step, Listen):
                await anyio.sleep(step.seconds)
            elif on_update is not None:
                outcome = on_update(step.job)
                if inspect.isawaitable(outcome):
                    await outcome
    except StopIteration as done:
        result: WaitResult = done.value
        return result
    finally:
        steps.close()


class _Settler:
    """Runs the awaitables an ``on_update`` returns, from blocking code, all on one loop
    (as an async client awaits them all on its own): state the callback keeps on its
    loop (a lock, a queue) lives as long as the wait."""

    def __init__(self) -> None:
        self._runner: asyncio.Runner | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def __call__(self, outcome: object) -> None:
        if not inspect.isawaitable(outcome):
            return

        async def settle() -> None:
            await outcome

        if self._runner is None:
            self._runner = asyncio.Runner()
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                # This thread runs a loop (a Jupyter kernel) that we are blocking: the
                # callbacks run on a private loop in a worker thread instead.
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        if self._pool is None:
            self._runner.run(settle())
        else:
            self._pool.submit(self._runner.run, settle()).result()

    def close(self) -> None:
        if self._runner is None:
            return
        if self._pool is None:
            self._runner.close()
        else:
            self._pool.submit(self._runner.close).result()
            self._pool.shutdown()
