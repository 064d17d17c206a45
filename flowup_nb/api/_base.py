"""What both clients share: building requests, reading answers, emitting exchanges.

The sync and async clients differ only in how they send bytes and sleep. Everything
else goes through here (validation and retry decisions from ``policy``, the waiting
wait engine from ``waiting``, Exchange records from ``exchange``), so one test of a
behaviour covers both.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx

from flowup_nb._version import __version__
from flowup_nb.api import policy
from flowup_nb.api.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FlowError,
    InputError,
    ResponseFormatError,
    classify,
)
from flowup_nb.api.exchange import (
    Exchange,
    ExchangeObserver,
    LedgerLike,
    call_exchange,
    download_exchange,
    interrupted_exchange,
    observer_of,
)
from flowup_nb.api.models import Account, GenerationResult, Job, JobStats, UpscaleResult
from flowup_nb.api.parsing import (
    decode_json,
    parse_account,
    parse_generation_result,
    parse_job,
    parse_job_stats,
    parse_submitted,
    parse_upscale_result,
)
from flowup_nb.api.prices import upscale_price
from flowup_nb.api.sent_jobs import SentJob
from flowup_nb.api.waiting import DeliveryWaiter, PollPlan, PreparedWait, prepare_wait

logger = logging.getLogger("flowup_nb.api")

# The server gives up on a sync upscale after 10 minutes (408); read a little longer.
SYNC_READ_TIMEOUT = 660.0
_UPSCALE_MAY_HAVE_RUN_NOTE = (
    "An earlier attempt of this upscale reached the server and its answer was lost, so the "
    "upscale may have run (and a 4K one been charged): asking again is free, the server "
    "answers a repeat from its cache."
)
_INTERRUPTED_UPSCALE_NOTE = (
    "The upscale may have run on the server (a 4K one is charged): client.resume() finds "
    "the job and waits for it, and asking the same upscale again is free (cached) once it "
    "has completed."
)
_INTERRUPTED_GENERATION_NOTE = (
    "The videos may have been generated and charged: check the account before calling "
    "generate_video again."
)
_FATE_UNKNOWN_NOTE = (
    "The generation request was sent but its outcome is unknown: the video may have been "
    "generated and charged. Check the account (its recent jobs, or the Flow project) before "
    "calling generate_video again; it is not resent automatically."
)


class Secret:
    """The API token: it never shows in a repr, a str or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('<hidden>')"

    __str__ = __repr__


T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One logical API call: what to send, and how to read a 2xx answer (a ``T``)."""

    operation: str
    method: str
    path: str
    endpoint: str
    parse: Callable[[Any, int], T]
    idempotent: bool
    body: dict[str, Any] | None = None
    long_running: bool = False  # a sync upscale/generation: the server may hold it 10 min
    mode: str | None = None
    context: dict[str, Any] = field(default_factory=dict)  # Exchange fields known up front


@dataclass(frozen=True, slots=True)
class Step:
    """What the loop does after one exchange: return a value, raise, or sleep and resend."""

    value: Any = None
    error: FlowError | None = None
    retry: bool = False
    delay: float = 0.0
    # This or an earlier attempt reached the server and its answer was lost: the work may
    # have run (and, for a 4K upscale, been charged) even if the call ends in an error.
    may_have_run: bool = False
    # This attempt's own answer was lost after the request left: it may have created a job.
    answer_lost: bool = False


class ClientCore:
    """Configuration, observers and every decision, shared by FlowClient and AsyncFlowClient."""

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
        max_retry_wait: float,
        poll_interval: object,
        upscale_timeout: float,
        tags: Sequence[str],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.token = Secret(policy.validate_token(token or os.environ.get("USEAPI_TOKEN")))
        self.base_url = policy.validate_base_url(
            base_url or os.environ.get("FLOWUP_BASE_URL") or policy.DEFAULT_BASE_URL
        )
        policy.validate_client_settings(
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            max_retry_wait=max_retry_wait,
            upscale_timeout=upscale_timeout,
        )
        self.timeout = float(timeout)
        self.upscale_timeout = float(upscale_timeout)
        self.retry = policy.RetryPolicy(max_retries, float(retry_backoff), float(max_retry_wait))
        self.poll = policy.PollSchedule.coerce(poll_interval)
        # Every wait of this client (wait(), batches, the form) learns from this one plan.
        self.plan = PollPlan(self.poll)
        self.tags = policy.validate_tags(tags)
        if clock is not None and not callable(clock):
            raise InputError("clock must be a function returning epoch seconds, e.g. time.time")
        # The wall clock of every Exchange's started_at/finished_at: on the simulator it is
        # the simulator's, so its advance() moves the ledger's time too (docs/simulator.md).
        self.now: Callable[[], float] = clock or time.time
        self.session_id = uuid.uuid4().hex
        self.observers: list[ExchangeObserver] = []
        self._rng = random.Random()
        # job id -> (source id, resolution), so rows for failed polls still name the video.
        self._job_sources: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self.headers = httpx.Headers(
            {
                "Authorization": f"Bearer {self.token.reveal()}",
                "Accept": "application/json",
                "User-Agent": f"flowup-nb/{__version__}",
            }
        )

    # -- observers ------------------------------------------------------------------

    def subscribe(self, observer: ExchangeObserver) -> Callable[[], None]:
        if not callable(observer):
            raise InputError("an observer must be callable with one Exchange argument")
        self.observers.append(observer)

        def unsubscribe() -> None:
            if observer in self.observers:
                self.observers.remove(observer)

        return unsubscribe

    def attach_ledger(self, ledger: LedgerLike | None) -> None:
        if ledger is not None:
            self.subscribe(observer_of(ledger))

    def emit(self, exchange: Exchange) -> None:
        for observer in list(self.observers):
            try:
                observer(exchange)
            except Exception as exc:
                # The user's call must not fail because a ledger did; say so and go on.
                logger.warning(
                    "exchange observer %r failed on %s %s: %s: %s",
                    getattr(observer, "__qualname__", type(observer).__name__),
                    exchange.method,
                    exchange.endpoint,
                    type(exc).__name__,
                    exc,
                )

    # -- building calls (all validation happens here, before any request) ---------------

    def url(self, path: str) -> str:
        return self.base_url + path

    def request_timeout(self, call: Call[Any]) -> httpx.Timeout:
        if call.long_running:
            return httpx.Timeout(self.timeout, read=max(self.timeout, self.upscale_timeout))
        return httpx.Timeout(self.timeout)

    def upscale_call(
        self,
        media_generation_id: str,
        resolution: str,
        *,
        captcha_retry: int | None = None,
        captcha_order: str | Sequence[str] | None = None,
        captcha_token: str | None = None,
    ) -> Call[UpscaleResult]:
        """A sync-mode upscale: the answer is the upscaled video."""
        body, context = self._upscale_request(
            media_generation_id, resolution, captcha_retry, captcha_order, captcha_token
        )
        return _upscale_post("upscale", parse_upscale_result, body, context, mode="sync")

    def submit_call(
        self,
        media_generation_id: str,
        resolution: str,
        *,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        captcha_retry: int | None = None,
        captcha_order: str | Sequence[str] | None = None,
        captcha_token: str | None = None,
    ) -> Call[Job]:
        """An async-mode upscale: the answer is the job, in status ``created``."""
        body, context = self._upscale_request(
            media_generation_id, resolution, captcha_retry, captcha_order, captcha_token
        )
        body["async"] = True
        body.update(policy.validate_reply(reply_url, reply_ref))
        if "replyRef" not in body and upscale_price(body["resolution"]) > 0:
            # A paid upscale whose 201 is lost must stay findable (its record echoes the
            # replyRef): the client looks for it before resending, resume() after a crash.
            body["replyRef"] = new_reply_ref()
        context["reply_ref"] = body.get("replyRef")
        return _upscale_post("submit_upscale", parse_submitted, body, context, mode="async")

    def _upscale_request(
        self,
        media_generation_id: str,
        resolution: str,
        captcha_retry: int | None,
        captcha_order: str | Sequence[str] | None,
        captcha_token: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The body and the Exchange context of an upscale, validated before any request."""
        source = policy.validate_media_generation_id(media_generation_id)
        resolution = policy.validate_resolution(resolution)
        body: dict[str, Any] = {"mediaGenerationId": source, "resolution": resolution}
        body.update(policy.validate_captcha(captcha_retry, captcha_order, captcha_token))
        context: dict[str, Any] = {
            "source_id": source,
            "account": policy.decode_account(source),
            "resolution": resolution,
        }
        return body, context

    def job_call(self, job_or_id: object) -> Call[Job]:
        job_id = policy.validate_job_id(job_or_id)
        source, resolution = self._job_sources.get(job_id, (None, None))
        return Call(
            "get_job",
            "GET",
            f"/jobs/{job_id}",  # raw: the API refuses a percent-encoded id
            "/jobs/{jobId}",
            lambda data, status: parse_job(data, status_code=status),
            idempotent=True,
            context={
                "job_id": job_id,
                "source_id": source,
                "account": policy.decode_account(source),
                "resolution": resolution,
            },
        )

    def load_stats_call(self, options: object) -> Call[JobStats]:
        option = policy.validate_stats_options(options)
        return Call(
            "load_stats",
            "GET",
            f"/jobs?options={option}",
            "/jobs",
            lambda data, status: parse_job_stats(data, status_code=status, option=option),
            idempotent=True,
        )

    def generation_call(self, prompt: str, options: Mapping[str, Any]) -> Call[GenerationResult]:
        body: dict[str, Any] = {"prompt": policy.validate_prompt(prompt)}
        options = dict(options)
        body.update(
            policy.validate_captcha(
                options.pop("captcha_retry", None),
                options.pop("captcha_order", None),
                options.pop("captcha_token", None),
            )
        )
        for name, value in options.items():
            if name in ("async", "async_", "asynchronous"):
                raise InputError(
                    "generate_video waits for the videos; async generation is not supported"
                )
            if value is not None:
                body[_camel(name)] = value
        email = body.get("email")
        return Call(
            "generate_video",
            "POST",
            "/videos",
            "/videos",
            lambda data, status: parse_generation_result(data, status_code=status),
            idempotent=False,  # every POST /videos generates (and charges) again
            body=body,
            long_running=True,
            mode="sync",
            context={"account": email if isinstance(email, str) else None},
        )

    def account_call(self, email: str) -> Call[Account]:
        email = policy.validate_email(email)
        return Call(
            "get_account",
            "GET",
            f"/accounts/{email}",
            "/accounts/{email}",
            lambda data, status: parse_account(data, status_code=status, email=email),
            idempotent=True,
            context={"account": email},
        )

    # -- reading answers -------------------------------------------------------------

    def conclude(
        self,
        call: Call[Any],
        *,
        attempt: int,
        started_at: float,
        response: httpx.Response | None,
        transport_error: Exception | None = None,
        time_left: float | None = None,
        earlier_may_have_run: bool = False,
    ) -> Step:
        """Read one exchange's answer, emit its Exchange, decide what happens next.

        ``earlier_may_have_run``: the previous Step's ``may_have_run``, carried by the loop.
        Whatever interrupts the reading (a KeyboardInterrupt, a cancellation, a bug in a
        parser) still leaves the exchange's row, then propagates unchanged.
        """
        recorded: list[Exchange] = []
        try:
            return self._conclude(
                call,
                attempt=attempt,
                started_at=started_at,
                response=response,
                transport_error=transport_error,
                time_left=time_left,
                earlier_may_have_run=earlier_may_have_run,
                recorded=recorded,
            )
        except BaseException as exc:
            if not recorded:
                status = response.status_code if response is not None else None
                self.interrupted(call, exc, attempt=attempt, started_at=started_at, status=status)
            raise

    def _conclude(
        self,
        call: Call[Any],
        *,
        attempt: int,
        started_at: float,
        response: httpx.Response | None,
        transport_error: Exception | None,
        time_left: float | None,
        earlier_may_have_run: bool,
        recorded: list[Exchange],
    ) -> Step:
        finished_at = self.now()
        value: Any = None
        error: FlowError | None = None
        status = response.status_code if response is not None else None
        if response is None:
            error = self._connection_error(call, transport_error)
        elif 200 <= response.status_code < 300:
            try:
                code = response.status_code
                value = call.parse(decode_json(response.content, status_code=code), code)
            except ResponseFormatError as exc:
                error = exc
        else:
            error = self._status_error(response)

        if error is None:
            self._remember_job(value, call)
            exchange = self._exchange(call, attempt, started_at, finished_at, status, value=value)
            self.emit(exchange)
            recorded.append(exchange)
            self._log(call, attempt, started_at, finished_at, status, None)
            return Step(value=value)

        decision = policy.decide_retry(
            error,
            retries_done=attempt,
            policy=self.retry,
            idempotent=call.idempotent,
            jitter=self._rng.random(),
            time_left=time_left,
        )
        answer_lost = _fate_unknown(error)
        may_have_run = earlier_may_have_run or answer_lost
        if not decision.retry and call.operation == "generate_video" and answer_lost:
            _add_note(error, _FATE_UNKNOWN_NOTE)
        elif not decision.retry and earlier_may_have_run and call.operation in _UPSCALES:
            _add_note(error, _UPSCALE_MAY_HAVE_RUN_NOTE)
        exchange = self._exchange(
            call, attempt, started_at, finished_at, status, error=error, will_retry=decision.retry
        )
        self.emit(exchange)
        recorded.append(exchange)
        self._log(call, attempt, started_at, finished_at, status, error, decision)
        if not decision.retry:
            error.attempts = attempt + 1
        return Step(
            error=error,
            retry=decision.retry,
            delay=decision.delay,
            may_have_run=may_have_run,
            answer_lost=answer_lost,
        )

    def look_before_resend(self, call: Call[Any], step: Step) -> bool:
        """Whether to look for the job a paid upscale's lost answer may have started before
        sending it again: a resend while that job runs would run (on a service that bills
        every execution, charge) the same upscale twice."""
        return (
            step.retry
            and step.answer_lost
            and call.operation in _UPSCALES
            and upscale_price(call.context.get("resolution")) > 0
        )

    def sent_job(self, call: Call[Any]) -> SentJob:
        """What to look for before resending ``call`` (see :meth:`look_before_resend`): a
        submit's job by its replyRef; for a sync upscale, a job of its video still running
        (once that has finished, a resend is a free cached answer)."""
        body = call.body or {}
        reply_ref = body.get("replyRef") if call.mode == "async" else None
        return SentJob(
            source_id=body["mediaGenerationId"],
            resolution=body["resolution"],
            reply_ref=reply_ref if isinstance(reply_ref, str) else None,
            account=call.context.get("account"),
            running_only=call.mode != "async",
        )

    def known_jobs(self, job_ids: Sequence[str]) -> set[str]:
        """Those of ``job_ids`` this client got a 201 for: not a lost answer's job."""
        return {job_id for job_id in job_ids if job_id in self._job_sources}

    def found_sent_job(self, call: Call[Any], job: Job) -> None:
        """The job a lost answer had started was found: poll rows name its video."""
        self._job_sources[job.job_id] = (
            call.context.get("source_id"),
            call.context.get("resolution"),
        )
        logger.info(
            "%s %s: its answer was lost; found job %s it started, waiting on that one "
            "instead of sending it again",
            call.operation,
            call.context.get("resolution"),
            job.job_id,
        )

    def search_failed(self, call: Call[Any], error: FlowError) -> None:
        logger.warning(
            "%s: could not look for the job a lost answer may have started (%s: %s); "
            "sending it again",
            call.operation,
            type(error).__name__,
            error,
        )

    def interrupted(
        self,
        call: Call[Any],
        interruption: BaseException,
        *,
        attempt: int,
        started_at: float,
        status: int | None = None,
        in_flight: bool = True,
    ) -> None:
        """Record a call that ``interruption`` ends: its request in flight (``in_flight``),
        or between attempts after an earlier one may have run. The caller re-raises."""
        if call.operation in _UPSCALES:
            note = _INTERRUPTED_UPSCALE_NOTE
        elif call.operation == "generate_video":
            note = _INTERRUPTED_GENERATION_NOTE
        else:
            note = ""
        when = (
            "after its request was sent, before the answer was read"
            if in_flight
            else "before resending it, after an earlier attempt reached the server"
        )
        self.emit(
            interrupted_exchange(
                session_id=self.session_id,
                tags=self.tags,
                operation=call.operation,
                method=call.method,
                endpoint=call.endpoint,
                started_at=started_at,
                finished_at=self.now(),
                attempt=attempt,
                mode=call.mode,
                context=call.context,
                interruption=interruption,
                in_flight=in_flight,
                note=f"{type(interruption).__name__} ended the call {when}. {note}".strip(),
                http_status=status,
            )
        )

    def interrupted_download(
        self,
        interruption: BaseException,
        *,
        started_at: float,
        attempt: int,
        http_status: int | None,
        video_url: str,
        bytes_received: int,
        context: Mapping[str, Any],
        kept: str | None,
    ) -> None:
        """Record a download that ``interruption`` ends mid-transfer; ``kept`` names the
        ``.part`` file left on disk (None: removed)."""
        where = f"; the bytes so far stay in {kept}" if kept else ""
        self.emit(
            interrupted_exchange(
                session_id=self.session_id,
                tags=self.tags,
                operation="download",
                method="GET",
                endpoint="{videoUrl}",
                started_at=started_at,
                finished_at=self.now(),
                attempt=attempt,
                mode=None,
                context={**context, "video_url": video_url, "bytes_received": bytes_received},
                interruption=interruption,
                in_flight=True,
                note=(
                    f"{type(interruption).__name__} ended the download after "
                    f"{bytes_received} bytes of this attempt{where}. Download again to get "
                    "the whole video."
                ),
                http_status=http_status,
            )
        )

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        try:
            body: Any = decode_json(response.content, status_code=response.status_code)
        except ResponseFormatError:
            body = response.content[:2000].decode("utf-8", errors="replace")
        return classify(response.status_code, response.headers, self.redact(body))

    def _connection_error(self, call: Call[Any], exc: Exception | None) -> APIConnectionError:
        # Only a failure to open the connection proves the request never left.
        not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        what = "timed out" if cls is APITimeoutError else "failed"
        detail = self.redact(f"{type(exc).__name__}: {exc}") if exc is not None else "no answer"
        error = cls(
            f"{call.method} {self.base_url}{call.endpoint} {what} ({detail})",
            request_sent=not not_sent,
        )
        error.__cause__ = exc
        return error

    def redact(self, value: Any) -> Any:
        """``value`` with every occurrence of the token replaced (servers may echo it)."""
        token = self.token.reveal()
        if isinstance(value, str):
            return value.replace(token, "<token>") if token in value else value
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        return value

    def _remember_job(self, value: Any, call: Call[Any]) -> None:
        if isinstance(value, Job) and call.operation == "submit_upscale":
            self._job_sources[value.job_id] = (
                call.context.get("source_id"),
                call.context.get("resolution"),
            )
            while len(self._job_sources) > 10_000:
                self._job_sources.popitem(last=False)

    # -- exchanges -------------------------------------------------------------------

    def _exchange(
        self,
        call: Call[Any],
        attempt: int,
        started_at: float,
        finished_at: float,
        status: int | None,
        *,
        value: Any = None,
        error: FlowError | None = None,
        will_retry: bool = False,
    ) -> Exchange:
        return call_exchange(
            session_id=self.session_id,
            tags=self.tags,
            operation=call.operation,
            method=call.method,
            endpoint=call.endpoint,
            started_at=started_at,
            finished_at=finished_at,
            attempt=attempt,
            mode=call.mode,
            http_status=status,
            context=call.context,
            value=value,
            error=error,
            will_retry=will_retry,
        )

    def download_exchange(
        self,
        *,
        started_at: float,
        attempt: int,
        http_status: int | None,
        video_url: str,
        bytes_received: int | None,
        context: Mapping[str, Any],
        error: FlowError | None,
        will_retry: bool,
    ) -> Exchange:
        return download_exchange(
            session_id=self.session_id,
            tags=self.tags,
            started_at=started_at,
            finished_at=self.now(),
            attempt=attempt,
            http_status=http_status,
            video_url=video_url,
            bytes_received=bytes_received,
            context=context,
            error=error,
            will_retry=will_retry,
        )

    def _log(
        self,
        call: Call[Any],
        attempt: int,
        started_at: float,
        finished_at: float,
        status: int | None,
        error: FlowError | None,
        decision: policy.RetryDecision | None = None,
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        outcome = "ok" if error is None else f"{type(error).__name__}"
        then = ""
        if decision is not None:
            then = (
                f"; retry in {decision.delay:.2f} s"
                if decision.retry
                else f"; not retried ({decision.why})"
            )
        logger.debug(
            "%s %s attempt %d -> %s %s in %.0f ms%s",
            call.method,
            call.endpoint,
            attempt,
            status if status is not None else "no answer",
            outcome,
            (finished_at - started_at) * 1000.0,
            then,
        )

    # -- waiting ---------------------------------------------------------------------

    def start_wait(
        self,
        job_or_id: object,
        timeout: object,
        on_update: object,
        webhook: DeliveryWaiter | None,
    ) -> PreparedWait:
        """A validated wait on this client's poll plan (InputError before any request)."""
        return prepare_wait(
            job_or_id,
            timeout=timeout,
            plan=self.plan,
            on_update=on_update,
            webhook=webhook,
        )


# -- helpers --------------------------------------------------------------------------


def new_reply_ref() -> str:
    """A fresh replyRef: a job's own name, echoed in its record and its webhooks."""
    return f"flowup-{uuid.uuid4().hex}"


class _UpscaleParser(Protocol[T_co]):
    def __call__(self, body: Any, *, status_code: int, requested_resolution: str) -> T_co: ...


def _upscale_post(
    operation: str,
    parser: _UpscaleParser[T],
    body: dict[str, Any],
    context: dict[str, Any],
    *,
    mode: str,
) -> Call[T]:
    """``POST /videos/upscale``, its answer read by ``parser`` against the resolution asked.
    Idempotent: the server caches upscales, so sending one again is free. A sync one is
    long-running (the server may hold it 10 minutes)."""
    wanted: str = body["resolution"]

    def parse(data: Any, status: int) -> T:
        return parser(data, status_code=status, requested_resolution=wanted)

    return Call(
        operation,
        "POST",
        "/videos/upscale",
        "/videos/upscale",
        parse,
        idempotent=True,
        body=body,
        long_running=mode == "sync",
        mode=mode,
        context=context,
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_UPSCALES = frozenset({"upscale", "submit_upscale"})


def _add_note(error: FlowError, note: str) -> None:
    error.args = (f"{error.args[0] if error.args else error} {note}",)


def _fate_unknown(error: FlowError) -> bool:
    if isinstance(error, APIConnectionError):
        return error.request_sent
    if isinstance(error, APIStatusError):
        return error.status_code >= 500 and error.status_code != 503
    return isinstance(error, ResponseFormatError)
