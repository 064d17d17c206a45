"""The few client calls a batch or a form makes, as coroutines, whichever client it has.

:class:`UpscaleCalls` is the protocol they depend on (never on the client classes), and
:func:`awaitable` gives one for any client: an ``AsyncFlowClient`` is awaited directly;
a blocking ``FlowClient`` runs each call in a worker thread of a small pool (its
``httpx.Client`` is thread-safe), so one async caller serves both, and every exchange
still goes through the client's own validation, retries and ledger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from flowup_nb.api.errors import InputError
from flowup_nb.api.models import Account, Job, JobStats, UpscaleResult
from flowup_nb.api.waiting import (
    DeliveryWaiter,
    OnUpdate,
    PollPlan,
    WaitResult,
    drive_async,
    prepare_wait,
)

__all__ = ["UpscaleCalls", "awaitable"]

T = TypeVar("T")
_METHODS = (
    "submit_upscale",
    "upscale",
    "get_job",
    "get_account",
    "load_stats",
    "download",
    "wait",
)


@runtime_checkable
class UpscaleCalls(Protocol):
    """What the batch and the form use of a client; every call is awaitable."""

    @property
    def session_id(self) -> str: ...

    @property
    def poll_plan(self) -> PollPlan: ...

    @property
    def ledger(self) -> object | None: ...

    @property
    def max_retries(self) -> int:
        """The client's retry budget: an error's ``attempts`` is at most ``1 + max_retries``."""
        ...

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags of the client's ledger rows (rows written beside its own carry them too)."""
        ...

    async def submit_upscale(self, source_id: str, resolution: str, **options: Any) -> Job: ...

    async def upscale(self, source_id: str, resolution: str, **options: Any) -> UpscaleResult: ...

    async def get_job(self, job_id: str) -> Job: ...

    async def get_account(self, email: str) -> Account: ...

    async def load_stats(self, options: str = "summary") -> JobStats: ...

    async def download(self, result: Any, path: str | os.PathLike[str]) -> Path: ...

    async def wait(
        self,
        job: Job | str,
        *,
        timeout: float,
        on_update: OnUpdate | None = None,
        webhook: DeliveryWaiter | None = None,
    ) -> WaitResult: ...

    def close(self) -> None:
        """Free what the adapter holds (a worker pool); the client itself stays open."""
        ...


class _Shared:
    """What both adapters share: the client's properties, and the calls passed through
    as they are (each adapter says how a call is awaited: ``_call``)."""

    # Whether cancelling the awaiting task cancels the request (set by each adapter).
    cancels_requests: bool

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def session_id(self) -> str:
        return str(self.client.session_id)

    @property
    def poll_plan(self) -> PollPlan:
        plan: PollPlan = self.client.poll_plan
        return plan

    @property
    def ledger(self) -> object | None:
        return getattr(self.client, "ledger", None)

    @property
    def max_retries(self) -> int:
        return int(self.client.max_retries)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(getattr(self.client, "tags", ()))

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` of the client, awaited however the client runs it."""
        raise NotImplementedError

    async def submit_upscale(self, source_id: str, resolution: str, **options: Any) -> Job:
        job: Job = await self._call(self.client.submit_upscale, source_id, resolution, **options)
        return job

    async def upscale(self, source_id: str, resolution: str, **options: Any) -> UpscaleResult:
        result: UpscaleResult = await self._call(
            self.client.upscale, source_id, resolution, **options
        )
        return result

    async def get_job(self, job_id: str) -> Job:
        job: Job = await self._call(self.client.get_job, job_id)
        return job

    async def get_account(self, email: str) -> Account:
        account: Account = await self._call(self.client.get_account, email)
        return account

    async def load_stats(self, options: str = "summary") -> JobStats:
        stats: JobStats = await self._call(self.client.load_stats, options)
        return stats

    async def download(self, result: Any, path: str | os.PathLike[str]) -> Path:
        saved: Path = await self._call(self.client.download, result, path)
        return saved

    async def wait(
        self,
        job: Job | str,
        *,
        timeout: float,
        on_update: OnUpdate | None = None,
        webhook: DeliveryWaiter | None = None,
    ) -> WaitResult:
        if self.cancels_requests:
            result: WaitResult = await self.client.wait(
                job, timeout=timeout, on_update=on_update, webhook=webhook
            )
            return result
        # Driven here rather than by the client's own wait() in a thread: cancelling the
        # awaiting task then stops the polls at once instead of leaving a thread polling.
        wait = prepare_wait(
            job, timeout=timeout, plan=self.poll_plan, on_update=on_update, webhook=webhook
        )
        listen = None if webhook is None else functools.partial(webhook.wait_async, wait.job_id)
        return await drive_async(
            wait.steps,
            get_job=functools.partial(self.get_job, wait.job_id),
            on_update=on_update,
            listen=listen,
        )


class _Awaited(_Shared):
    """An async client: its coroutines are awaited as they are."""

    # Cancelling the awaiting task cancels the request, which records itself.
    cancels_requests = True

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return await method(*args, **kwargs)

    def close(self) -> None:
        return None


class _Threaded(_Shared):
    """A blocking client: each call runs in a worker thread, the caller's loop stays free."""

    # Cancelling the awaiting task leaves the request running in its thread.
    cancels_requests = False

    def __init__(self, client: Any, workers: int) -> None:
        super().__init__(client)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="flowup-calls"
        )

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(method, *args, **kwargs))

    def close(self) -> None:
        # Calls already running finish (their answers still reach the ledger).
        self._pool.shutdown(wait=False, cancel_futures=True)


def awaitable(client: object, *, workers: int = 4) -> UpscaleCalls:
    """``client`` (a FlowClient or an AsyncFlowClient) as :class:`UpscaleCalls`.

    ``workers``: threads for a blocking client's calls (calls beyond it queue).
    """
    if isinstance(client, _Awaited | _Threaded):
        return client
    missing = [name for name in _METHODS if not callable(getattr(client, name, None))]
    if missing or not hasattr(client, "poll_plan"):
        raise InputError(
            f"this needs a fu.FlowClient or fu.AsyncFlowClient, not {type(client).__name__}"
        )
    if inspect.iscoroutinefunction(client.upscale):  # type: ignore[attr-defined]
        return _Awaited(client)
    return _Threaded(client, workers)
