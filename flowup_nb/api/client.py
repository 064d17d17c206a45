"""FlowClient and AsyncFlowClient: thin, parallel I/O loops over :mod:`._base`.

Each public method validates and builds its call in the shared core, then runs the
same loop: send, let the core read the answer (it emits the Exchange and decides),
return, raise, or sleep and send again. The two classes differ only in ``await``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import anyio
import httpx

from flowup_nb.api._base import SYNC_READ_TIMEOUT, Call, ClientCore, T
from flowup_nb.api.download import Downloadable, download_async, download_sync
from flowup_nb.api.errors import FlowError, InputError, JobFailedError
from flowup_nb.api.exchange import ExchangeObserver, LedgerLike
from flowup_nb.api.models import Account, GenerationResult, Job, JobStats, UpscaleResult
from flowup_nb.api.policy import PollSchedule
from flowup_nb.api.sent_jobs import find_sent, find_sent_sync
from flowup_nb.api.waiting import DeliveryWaiter, OnUpdate, PollPlan, drive, drive_async

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["AsyncFlowClient", "FlowClient"]

# How long a sync upscale waits on the running job its lost answer had started (as long
# as wait() by default): its result or its typed error ends the call, never a resend.
FOUND_JOB_WAIT = 900.0


class _ClientBase:
    """What is identical in both clients: the core, observers, repr, properties."""

    _core: ClientCore
    simulator: Any = None  # the embedded simulator's handle when connect() started one

    def _setup(
        self,
        token: str | None,
        *,
        base_url: str | None,
        ledger: LedgerLike | None,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
        max_retry_wait: float,
        poll_interval: PollSchedule | tuple[float, float] | None,
        upscale_timeout: float,
        tags: Sequence[str],
        clock: Callable[[], float] | None,
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
            clock=clock,
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
    def tags(self) -> tuple[str, ...]:
        """The tags of this client's ledger rows (give them to ``receiver.reply_for()``)."""
        return self._core.tags

    @property
    def poll_schedule(self) -> PollSchedule:
        """How a job is polled before this client has seen any job finish."""
        return self._core.poll

    @property
    def poll_plan(self) -> PollPlan:
        """When this client's waits poll: learnt from the jobs it saw finish."""
        return self._core.plan

    @property
    def max_retries(self) -> int:
        """How many times a failed exchange is sent again (an error's ``attempts`` is at
        most ``1 + max_retries``)."""
        return self._core.retry.max_retries

    @property
    def ledger(self) -> Any:
        """The ledger this client records to (None when it records to none)."""
        return self._ledger

    def _ensure_open(self) -> None:
        """A closed client refuses every call before any request (its connections are
        gone; a download would otherwise open a pool that nothing closes)."""
        if self._closed:
            raise InputError(
                f"this {type(self).__name__} is closed: create a new one (or use it in a "
                "`with` block and call it inside)"
            )

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
        ledger: LedgerLike | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 5.0,
        max_retry_wait: float = 120.0,
        http_client: httpx.Client | None = None,
        poll_interval: PollSchedule | tuple[float, float] | None = None,
        upscale_timeout: float = SYNC_READ_TIMEOUT,
        tags: Sequence[str] = (),
        clock: Callable[[], float] | None = None,
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
            clock=clock,
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
        """Start an upscale in async mode; returns the job (see :meth:`wait`).

        A 4K submit without ``reply_ref`` gets a fresh one (``flowup-<hex>``), echoed in
        the job's record: if the 201 is lost, the client finds that job by it (load
        statistics, then the record) and returns it instead of submitting again, which
        would run the paid upscale twice; ``resume()`` finds it the same way after an
        interruption (docs/reliability.md, "Interruptions").
        """
        call = self._core.submit_call(
            media_generation_id,
            resolution,
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
        webhook: DeliveryWaiter | None = None,
    ) -> UpscaleResult | GenerationResult:
        """Poll a job until it completes (its result), fails, or ``timeout`` passes.

        Polls come where this client's finished jobs say the end is due (``poll_plan``).
        ``on_update(job)`` (sync or async) is called at first sight and at each new status.
        A poll that still fails after the client's own retries ends the wait with that
        error; the job runs on, and waiting again picks it up. ``webhook``: the receiver
        the job was submitted to (``**receiver.reply_for(id)``); its deliveries wake the
        wait, and polls only happen after ``receiver.grace`` seconds without news.
        """
        wait = self._core.start_wait(job_or_id, timeout, on_update, webhook)
        call = self._core.job_call(wait.job_id)
        return drive(
            wait.steps,
            get_job=functools.partial(self._send, call, time_left=wait.time_left),
            on_update=on_update,
            listen=None if webhook is None else functools.partial(webhook.wait, wait.job_id),
        )

    def upscale_many(
        self,
        ids: Iterable[str | tuple[str, str]],
        resolution: str = "1080p",
        *,
        concurrency: int = 4,
        per_account: int | Mapping[str, int] | None = None,
        mode: str = "async",
        webhook: DeliveryWaiter | bool | None = None,
        retries: int = 2,
        transient_retries: int = 0,
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
        a rejected captcha or a paused account's video is submitted again up to
        ``retries`` times. A transient error (503, 5xx, a lost connection, a 429 this
        client waited out) was already retried by this client (``max_retries``): the
        batch sends that video again only ``transient_retries`` times (default 0), each
        up to ``1 + max_retries`` sends, and every send of an upscale starts a paid
        captcha solve on the real service. A poll that fails after the client's retries
        ends that video with the error; its job keeps running (:meth:`resume`).
        With a ledger, every job is recorded as it is submitted: ``skip_done`` reuses
        videos already upscaled, jobs left running are waited for, and
        :meth:`resume` finds them after a crash. Columns: see ``flowup_nb.batch.COLUMNS``.
        """
        from flowup_nb.batch import upscale_many

        self._ensure_open()
        return upscale_many(
            self,
            ids,
            resolution,
            concurrency=concurrency,
            per_account=per_account,
            mode=mode,
            webhook=webhook,
            retries=retries,
            transient_retries=transient_retries,
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
        seconds) and never finished, e.g. after a crash or a kernel restart; one row per
        job, as :meth:`upscale_many` gives. A submission whose 201 never reached the
        ledger is looked for by its replyRef and its job waited on (origin "adopted");
        only when no job can be found (the statistics keep 15 minutes) is the video
        submitted again (origin "resubmitted")."""
        from flowup_nb.batch import resume

        self._ensure_open()
        return resume(self, within=within, timeout=timeout, progress=progress)

    def download(self, result: Downloadable, path: str | os.PathLike[str]) -> Path:
        """Save the result's video to ``path`` (streamed from its URL, or its rawBytes).

        A ``path`` ending in a separator names a folder, which must exist; the file in it
        is named after the video and its resolution."""
        self._ensure_open()
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

    def load_stats(self, options: str = "summary") -> JobStats:
        """``GET /jobs?options=``: the service's load statistics (the last 15 minutes).

        ``options``: ``"summary"`` (counters per account: executing, completed, failed,
        rate-limited, average response time, score), ``"executing"`` (also the jobs running
        now) or ``"history"`` (also the 10 most recent finished jobs). Emails in the answer
        may be masked; job ids are given as listed (``get_job`` reads each one's record).
        """
        return self._send(self._core.load_stats_call(options))

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

    def _find_sent(self, call: Call[Any]) -> Job | UpscaleResult | GenerationResult | None:
        """The job a paid upscale's lost answer started, found and (sync mode) waited on;
        None when there is none to find, and the call is sent again."""
        try:
            [found] = find_sent_sync(self, [self._core.sent_job(call)], skip=self._core.known_jobs)
        except FlowError as error:
            self._core.search_failed(call, error)
            return None
        if found is None:
            return None
        self._core.found_sent_job(call, found)
        if call.mode == "async":
            return found
        try:
            # As long as a wait() would: the job runs, a resend would only run a twin.
            return self.wait(found, timeout=FOUND_JOB_WAIT)
        except JobFailedError:
            return None  # that run failed: a new one may succeed

    def _send(self, call: Call[T], *, time_left: Callable[[], float] | None = None) -> T:
        self._ensure_open()
        attempt = 0
        may_have_run = False
        while True:
            started = self._core.now()
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
            except BaseException as exc:  # Ctrl-C, a bug: the request may have run
                self._core.interrupted(call, exc, attempt=attempt, started_at=started)
                raise
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
                return cast(T, step.value)  # what call.parse returned
            if not step.retry:
                raise step.error
            may_have_run = step.may_have_run
            try:
                if self._core.look_before_resend(call, step):
                    found = self._find_sent(call)
                    if found is not None:
                        return cast(T, found)
                time.sleep(step.delay)
            except BaseException as exc:
                if may_have_run:
                    self._core.interrupted(
                        call, exc, attempt=attempt + 1, started_at=started, in_flight=False
                    )
                raise
            attempt += 1


class AsyncFlowClient(_ClientBase):
    """The Google Flow upscale API for ``await``. Use ``async with`` or :meth:`aclose`."""

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        ledger: LedgerLike | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 5.0,
        max_retry_wait: float = 120.0,
        http_client: httpx.AsyncClient | None = None,
        poll_interval: PollSchedule | tuple[float, float] | None = None,
        upscale_timeout: float = SYNC_READ_TIMEOUT,
        tags: Sequence[str] = (),
        clock: Callable[[], float] | None = None,
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
            clock=clock,
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
        """Start an upscale in async mode; returns the job (see :meth:`wait`).

        A 4K submit without ``reply_ref`` gets a fresh one (``flowup-<hex>``), echoed in
        the job's record: if the 201 is lost, the client finds that job by it (load
        statistics, then the record) and returns it instead of submitting again, which
        would run the paid upscale twice; ``resume()`` finds it the same way after an
        interruption (docs/reliability.md, "Interruptions").
        """
        call = self._core.submit_call(
            media_generation_id,
            resolution,
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
        webhook: DeliveryWaiter | None = None,
    ) -> UpscaleResult | GenerationResult:
        """Poll a job until it completes (its result), fails, or ``timeout`` passes.

        Polls come where this client's finished jobs say the end is due (``poll_plan``).
        ``on_update(job)`` (sync or async) is called at first sight and at each new status.
        A poll that still fails after the client's own retries ends the wait with that
        error; the job runs on, and waiting again picks it up. ``webhook``: the receiver
        the job was submitted to (``**receiver.reply_for(id)``); its deliveries wake the
        wait, and polls only happen after ``receiver.grace`` seconds without news.
        """
        wait = self._core.start_wait(job_or_id, timeout, on_update, webhook)
        call = self._core.job_call(wait.job_id)
        listen = None if webhook is None else functools.partial(webhook.wait_async, wait.job_id)
        return await drive_async(
            wait.steps,
            get_job=functools.partial(self._send, call, time_left=wait.time_left),
            on_update=on_update,
            listen=listen,
        )

    async def upscale_many(
        self,
        ids: Iterable[str | tuple[str, str]],
        resolution: str = "1080p",
        *,
        concurrency: int = 4,
        per_account: int | Mapping[str, int] | None = None,
        mode: str = "async",
        webhook: DeliveryWaiter | bool | None = None,
        retries: int = 2,
        transient_retries: int = 0,
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

        self._ensure_open()
        return await upscale_many_async(
            self,
            ids,
            resolution,
            concurrency=concurrency,
            per_account=per_account,
            mode=mode,
            webhook=webhook,
            retries=retries,
            transient_retries=transient_retries,
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

        self._ensure_open()
        return await resume_async(self, within=within, timeout=timeout, progress=progress)

    async def download(self, result: Downloadable, path: str | os.PathLike[str]) -> Path:
        """Save the result's video to ``path`` (streamed from its URL, or its rawBytes).

        A ``path`` ending in a separator names a folder, which must exist; the file in it
        is named after the video and its resolution."""
        self._ensure_open()
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

    async def load_stats(self, options: str = "summary") -> JobStats:
        """See :meth:`FlowClient.load_stats`."""
        return await self._send(self._core.load_stats_call(options))

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

    async def _find_sent(self, call: Call[Any]) -> Job | UpscaleResult | GenerationResult | None:
        """See :meth:`FlowClient._find_sent`."""
        try:
            [found] = await find_sent(self, [self._core.sent_job(call)], skip=self._core.known_jobs)
        except FlowError as error:
            self._core.search_failed(call, error)
            return None
        if found is None:
            return None
        self._core.found_sent_job(call, found)
        if call.mode == "async":
            return found
        try:
            return await self.wait(found, timeout=FOUND_JOB_WAIT)
        except JobFailedError:
            return None  # that run failed: a new one may succeed

    async def _send(self, call: Call[T], *, time_left: Callable[[], float] | None = None) -> T:
        self._ensure_open()
        attempt = 0
        may_have_run = False
        while True:
            started = self._core.now()
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
            except BaseException as exc:  # Ctrl-C, a bug: the request may have run
                self._core.interrupted(call, exc, attempt=attempt, started_at=started)
                raise
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
                return cast(T, step.value)  # what call.parse returned
            if not step.retry:
                raise step.error
            may_have_run = step.may_have_run
            try:
                if self._core.look_before_resend(call, step):
                    found = await self._find_sent(call)
                    if found is not None:
                        return cast(T, found)
                await anyio.sleep(step.delay)
            except BaseException as exc:
                if may_have_run:
                    self._core.interrupted(
                        call, exc, attempt=attempt + 1, started_at=started, in_flight=False
                    )
                raise
            attempt += 1
