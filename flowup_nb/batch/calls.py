"""The few client calls a batch makes, as coroutines, whichever client it was given.

An ``AsyncFlowClient`` is awaited directly. A blocking ``FlowClient`` runs each call in
a worker thread of the batch's own pool (its ``httpx.Client`` is thread-safe), so one
async driver serves both, and every exchange still goes through the client's own
validation, retries and ledger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flowup_nb.api.client import AsyncFlowClient, FlowClient
from flowup_nb.api.errors import InputError
from flowup_nb.api.models import Account, Job, UpscaleResult
from flowup_nb.api.policy import PollSchedule

__all__ = ["BatchCalls", "calls_for"]

T = TypeVar("T")


class BatchCalls:
    """submit / upscale / get_job / get_account on one client, awaitable."""

    def __init__(self, client: FlowClient | AsyncFlowClient, workers: int) -> None:
        self.client = client
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        if isinstance(client, FlowClient):
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="flowup-batch"
            )

    @property
    def poll_schedule(self) -> PollSchedule:
        return self.client.poll_schedule

    @property
    def session_id(self) -> str:
        return self.client.session_id

    async def submit(self, source_id: str, resolution: str, **options: Any) -> Job:
        return await self._call(self.client.submit_upscale, source_id, resolution, **options)

    async def upscale(self, source_id: str, resolution: str, **options: Any) -> UpscaleResult:
        return await self._call(self.client.upscale, source_id, resolution, **options)

    async def get_job(self, job_id: str) -> Job:
        return await self._call(self.client.get_job, job_id)

    async def get_account(self, email: str) -> Account:
        return await self._call(self.client.get_account, email)

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._pool is None:
            return await method(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(method, *args, **kwargs))

    def close(self) -> None:
        if self._pool is not None:
            # Calls already running finish (their answers still reach the ledger).
            self._pool.shutdown(wait=False, cancel_futures=True)


def calls_for(client: object, workers: int) -> BatchCalls:
    if not isinstance(client, FlowClient | AsyncFlowClient):
        raise InputError(
            f"a batch needs a FlowClient or AsyncFlowClient, not {type(client).__name__}"
        )
    return BatchCalls(client, workers)
