"""FlowClient and AsyncFlowClient: thin, parallel I/O loops over :mod:`._base`.

Each public method validates and builds its call in the shared core, then runs the
same loop: send, let the core read the answer (it emits the Exchange and decides),
return, raise, or sleep and send again. The two classes differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import httpx

from flowup_nb.api._base import SYNC_READ_TIMEOUT, Call, ClientCore
from flowup_nb.api.download import Downloadable, download_async, download_sync
from flowup_nb.api.errors import InputError
from flowup_nb.api.exchange import ExchangeObserver
from flowup_nb.api.models import Account, GenerationResult, Job, UpscaleResult
from flowup_nb.api.policy import PollSchedule

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from flowup_nb.webhooks import WebhookReceiver

__all__ = ["AsyncFlowClient", "FlowClient"]

OnUpdate = Callable[[Job], Any] | Callable[[Job], Awaitable[Any]]


class _ClientBase:
    """What is identical in both clients: the core, observers, repr, properties."""

    _core: ClientCore
    simulator: Any = None  # the embedded simulator's handle when connect() started one

    def _setup(
        self,
        token: str | None,
        *,
        base_url: str | None,
        ledger: object,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
        max_retry_wait: float,
        poll_interval: PollSchedule | tuple[float, float] | None,
        upscale_timeout: float,
        tags: Sequence[str],
    ) -> None:
        self._core = ClientCore(
            token,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_wait=max_retry_wait,
            poll_interval=poll_interval,
            upscale_timeout=upscale_timeout,
            tags=tags,
        )
        self._core.attach_ledger(ledger)
        self._ledger = ledger  # batches read it back: what is done, what was left running
        self._closers: list[Callable[[], Any]] = []
        self._closed = False

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def session_id(self) -> str:
        """Identifies this client's exchanges in the ledger."""
        return self._core.session_id

    @property
    def poll_schedule(self) -> PollSchedule:
        return self._core.poll

    @property
    def ledger(self) -> Any:
        """The ledger this client records to (None when it records to none)."""
        return self._ledger

    def subscribe(self, observer: ExchangeObserver) -> Callable[[], None]:
        """Call ``observer(exchange)`` after every HTTP exchange; returns an unsubscribe."""
        return self._core.subscribe(observer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token=<hidden>)"


class FlowClient(_ClientBase):
    """The Google Flow upscale API, blocking. Use it in ``with`` or call :meth:`close`."""

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        ledger: object = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 5.0,
        max_retry_wait: float = 120.0,
        http_client: httpx.Client | None = None,
        poll_interval: PollSchedule | tuple[float, float] | None = None,
        upscale_timeout: float = SYNC_READ_TIMEOUT,
        tags: Sequence[str] = (),
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InputError(
                "FlowClient needs an httpx.Client as http_client (use AsyncFlowClient for "
                "an httpx.AsyncClient)"
            )
        self._setup(
            token,
            base_url=base_url,
            ledger=ledger,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_wait=max_retry_wait,
            poll_interval=poll_interval,
            upscale_timeout=upscale_timeout,
            tags=tags,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self._media_http: httpx.Client | None = None

    def upscale(
        self,
        media_generation_id: str,
        resolution: str = "1080p",
        *,
        captcha_retry: int | None = None,
        captcha_order: str | Sequence[str] | None = None,
        captcha_token: str | None = None,
    ) -> UpscaleResult:
        """Upscale a generated video and wait for it (sync mode). Resending is free."""
        call = self._core.upscale_call(
            media_generation_id,
            resolution,
            asynchronous=False,
            captcha_retry=captcha_retry,
            captcha_order=captcha_order,
            captcha_token=captcha_token,
        )
        return self._send(call)

    def submit_upscale(
        self,
        media_generation_id: str,
        resolution: str = "1080p",
        *,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        captcha_retry: int | None = None,
        captcha_order: str | Sequence[str] | None = None,
        captcha_token: str | None = None,
    ) -> Job:
        """Start an upscale in async mode; returns the job (see :meth:`wait`)."""
        call = self._core.upscale_call(
            media_generation_id,
            resolution,
            asynchronous=True,
            reply_url=reply_url,
            reply_ref=reply_ref,
            captcha_retry=captcha_retry,
            captcha_order=captcha_order,
            captcha_token=captcha_token,
        )
        return self._send(call)

    def get_job(self, job_id: str | Job) -> Job:
        """The job's current record (``GET /jobs/{jobId}``)."""
        return self._send(self._core.job_call(job_id))

    def wait(
        self,
        job_or_id: str | Job,
        *,
        timeout: float = 900.0,
        on_update: OnUpdate | None = None,
        webhook: WebhookReceiver | None = None,
    ) -> UpscaleResult | GenerationResult:
        """Poll a job until it completes (its result), fails, or ``timeout`` passes.

        ``webhook``: the receiver the job was submitted to (``**receiver.reply_for(id)``);
        its deliveries wake the wait, and polls only happen after ``receiver.grace``
        seconds without news.
        """
        state = self._core.start_wait(job_or_id, timeout, on_update)
        job = state.job
        while True:
            if job is None:
                job = self._send(self._core.job_call(state.job_id), time_left=state.time_left)
            if state.observe(job) and on_update is not None:
                _run_callback(on_update, job)
            result = state.result_of(job)
            if result is not None:
                return result
            delay = state.next_delay()
            if webhook is None:
                time.sleep(delay)
                job = None
            else:
                job = webhook.wait(state.job_id, job.status, _quiet(webhook, delay, state))

    def upscale_many(
        self,
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
        """Upscale many videos; a DataFrame with one row per distinct (id, resolution).

        ``ids``: mediaGenerationIds, or ``(id, resolution)`` pairs overriding
        ``resolution``; duplicates are upscaled once, and a malformed id stops the call
        before any request. At most ``concurrency`` jobs run at once, and per account
        ``per_account`` (an int, a dict by email, or None: by the account's tier). A
        throttled or over-quota account pauses until its ``Retry-After`` while the others
        go on; a pause longer than ``max_pause`` seconds ends that account's videos with
        the error instead. ``no_eligible``: ``"wait"`` or ``"stop"`` on
        ``no_eligible_account``. 4K on a non-Ultra account is refused without a request.
        ``mode``: ``"async"`` (submit, then wait by polls or ``webhook``, a
        ``fu.WebhookReceiver`` or True for a temporary one) or ``"sync"``. A failed job,
        a rejected captcha or a transient error is tried again up to ``retries`` times.
        With a ledger, every job is recorded as it is submitted: ``skip_done`` reuses
        videos already upscaled, jobs left running are waited for, and
        :meth:`resume` finds them after a crash. Columns: see ``flowup_nb.batch.COLUMNS``.
        """
        from flowup_nb.batch import upscale_many

        return upscale_many(
            self,
            ids,
            resolution,
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
            captcha_retry=captcha_retry,
            captcha_order=captcha_order,
            captcha_token=captcha_token,
        )

    def resume(
        self, *, within: float = 86400.0, timeout: float = 900.0, progress: bool = True
    ) -> pd.DataFrame:
        """Wait for the upscale jobs this ledger shows submitted (in the last ``within``
        seconds) and never finished, e.g. after a crash or a kernel restart. Nothing is
        resubmitted; one row per job, as :meth:`upscale_many` gives."""
        from flowup_nb.batch import resume

        return resume(self, within=within, timeout=timeout, progress=progress)

    def download(self, result: Downloadable, path: str | os.PathLike[str]) -> Path:
        """Save the result's video to ``path`` (streamed from its URL, or its rawBytes)."""
        if self._media_http is None:
            # No auth header on this client: the token never reaches the media host.
            self._media_http = httpx.Client(
                timeout=httpx.Timeout(self._core.timeout), follow_redirects=True
            )
        return download_sync(self._core, self._media_http, result, path)

    def generate_video(self, prompt: str, **options: Any) -> GenerationResult:
        """``POST /videos``. Never resent once it may have run (it would charge again)."""
        return self._send(self._core.generation_call(prompt, options))

    def get_account(self, email: str) -> Account:
        """``GET /accounts/{email}``: the account and its credit balance."""
        return self._send(self._core.account_call(email))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            self._http.close()
        if self._media_http is not None:
            self._media_http.close()
        for closer in self._closers:
            closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: Call, *, time_left: Callable[[], float] | None = None) -> Any:
        attempt = 0
        may_have_run = False
        while True:
            started = time.time()
            response: httpx.Response | None = None
            failure: Exception | None = None
            try:
                response = self._http.request(
                    call.method,
                    self._core.url(call.path),
                    json=call.body,
                    headers=self._core.headers,
                    timeout=self._core.request_timeout(call),
                )
            except httpx.RequestError as exc:
                failure = exc
            step = self._core.conclude(
                call,
                attempt=attempt,
                started_at=started,
                response=response,
                transport_error=failure,
                time_left=time_left() if time_left else None,
                earlier_may_have_run=may_have_run,
            )
            if step.error is None:
                return step.value
            if not step.retry:
                raise step.error
            may_have_run = step.may_have_run
            time.sleep(step.delay)
            attempt += 1


class AsyncFlowClient(_ClientBase):
    """The Google Flow upscale API for ``await``. Use ``async with`` or :meth:`aclose`."""

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        ledger: object = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 5.0,
        max_retry_wait: float = 120.0,
        http_client: httpx.AsyncClient | None = None,
        poll_interval: PollSchedule | tuple[float, float] | None = None,
        upscale_timeout: float = SYNC_READ_TIMEOUT,
        tags: Sequence[str] = (),
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InputError(
                "AsyncFlowClient needs an httpx.AsyncClient as http_client (use FlowClient "
                "for an httpx.Client)"
            )
        self._setup(
            token,
            base_url=base_url,
            ledger=ledger,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_wait=max_retry_wait,
            poll_interval=poll_interval,
            upscale_timeout=upscale_timeout,
            tags=tags,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self._media_http: httpx.AsyncClient | None = None

    async def upscale(
        self,
        media_generation_id: str,
        resolution: str = "1080p",
        *,
        captcha_retry: int | None = None,
        captcha_order: str | Sequence[str] | None = None,
        captcha_token: str | None = None,
    ) -> UpscaleResult:
        """Upscale a generated video and wait for it (sync mode). Resending is free."""
        call = self._core.upscale_call(
            media_generation_id,
            resolution,
            asynchronous=False,
            captcha_retry=captcha_retry,
            captcha_order=captcha_order,
            captcha_token=captcha_token,
        )
        return await self._send(call)

    async def submit_upscale(
        self,
        media_generation_id: str,
        resolution: str = "1080p",
        *,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        captcha_retry: int | None = None,
        captcha_order: str | Sequence[str] | None = None,
        captcha_token: str | None = None,
    ) -> Job:
        """Start an upscale in async mode; returns the job (see :meth:`wait`)."""
        call = self._core.upscale_call(
            media_generation_id,
            resolution,
            asynchronous=True,
            reply_url=reply_url,
            reply_ref=reply_ref,
            captcha_retry=captcha_retry,
            captcha_order=captcha_order,
            captcha_token=captcha_token,
        )
        return await self._send(call)

    async def get_job(self, job_id: str | Job) -> Job:
        """The job's current record (``GET /jobs/{jobId}``)."""
        return await self._send(self._core.job_call(job_id))

    async def wait(
        self,
        job_or_id: str | Job,
        *,
        timeout: float = 900.0,
        on_update: OnUpdate | None = None,
        webhook: WebhookReceiver | None = None,
    ) -> UpscaleResult | GenerationResult:
        """Poll a job until it completes (its result), fails, or ``timeout`` passes.

        ``webhook``: the receiver the job was submitted to (``**receiver.reply_for(id)``);
        its deliveries wake the wait, and polls only happen after ``receiver.grace``
        seconds without news.
        """
        state = self._core.start_wait(job_or_id, timeout, on_update)
        job = state.job
        while True:
            if job is None:
                job = await self._send(self._core.job_call(state.job_id), time_left=state.time_left)
            if state.observe(job) and on_update is not None:
                outcome = on_update(job)
                if inspect.isawaitable(outcome):
                    await outcome
            result = state.result_of(job)
            if result is not None:
                return result
            delay = state.next_delay()
            if webhook is None:
                await anyio.sleep(delay)
                job = None
            else:
                quiet = _quiet(webhook, delay, state)
                job = await webhook.wait_async(state.job_id, job.status, quiet)

    async def upscale_many(
        self,
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
        """See :meth:`FlowClient.upscale_many`."""
        from flowup_nb.batch import upscale_many_async

        return await upscale_many_async(
            self,
            ids,
            resolution,
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
            captcha_retry=captcha_retry,
            captcha_order=captcha_order,
            captcha_token=captcha_token,
        )

    async def resume(
        self, *, within: float = 86400.0, timeout: float = 900.0, progress: bool = True
    ) -> pd.DataFrame:
        """See :meth:`FlowClient.resume`."""
        from flowup_nb.batch import resume_async

        return await resume_async(self, within=within, timeout=timeout, progress=progress)

    async def download(self, result: Downloadable, path: str | os.PathLike[str]) -> Path:
        """Save the result's video to ``path`` (streamed from its URL, or its rawBytes)."""
        if self._media_http is None:
            # No auth header on this client: the token never reaches the media host.
            self._media_http = httpx.AsyncClient(
                timeout=httpx.Timeout(self._core.timeout), follow_redirects=True
            )
        return await download_async(self._core, self._media_http, result, path)

    async def generate_video(self, prompt: str, **options: Any) -> GenerationResult:
        """``POST /videos``. Never resent once it may have run (it would charge again)."""
        return await self._send(self._core.generation_call(prompt, options))

    async def get_account(self, email: str) -> Account:
        """``GET /accounts/{email}``: the account and its credit balance."""
        return await self._send(self._core.account_call(email))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._http.aclose()
        if self._media_http is not None:
            await self._media_http.aclose()
        for closer in self._closers:
            closer()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call, *, time_left: Callable[[], float] | None = None) -> Any:
        attempt = 0
        may_have_run = False
        while True:
            started = time.time()
            response: httpx.Response | None = None
            failure: Exception | None = None
            try:
                response = await self._http.request(
                    call.method,
                    self._core.url(call.path),
                    json=call.body,
                    headers=self._core.headers,
                    timeout=self._core.request_timeout(call),
                )
            except httpx.RequestError as exc:
                failure = exc
            step = self._core.conclude(
                call,
                attempt=attempt,
                started_at=started,
                response=response,
                transport_error=failure,
                time_left=time_left() if time_left else None,
                earlier_may_have_run=may_have_run,
            )
            if step.error is None:
                return step.value
            if not step.retry:
                raise step.error
            may_have_run = step.may_have_run
            await anyio.sleep(step.delay)
            attempt += 1


def _quiet(webhook: WebhookReceiver, delay: float, state: Any) -> float:
    """How long to wait for a delivery before polling: webhooks make polls a fallback."""
    return max(0.0, min(max(delay, webhook.grace), state.time_left()))


def _run_callback(callback: OnUpdate, job: Job) -> None:
    """Call a sync or async ``on_update`` from blocking code."""
    outcome = callback(job)
    if not inspect.isawaitable(outcome):
        return

    async def settle() -> Any:
        return await outcome

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(settle())
        return
    # A loop already runs in this thread (a Jupyter kernel) and we are blocking it:
    # settle the coroutine on a private loop in a worker thread instead.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, settle()).result()
