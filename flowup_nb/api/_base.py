"""What both clients share: building requests, reading answers, emitting exchanges.

The sync and async clients differ only in how they send bytes and sleep. Everything
else goes through here (validation and retry decisions from ``policy``, the waiting
state machine from ``_waiting``, Exchange fields from ``_records``), so one test of a
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
from typing import Any

import httpx

from flowup_nb import __version__
from flowup_nb.api import policy
from flowup_nb.api._records import fields_of_error, fields_of_value
from flowup_nb.api._waiting import WaitState
from flowup_nb.api.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FlowError,
    InputError,
    ResponseFormatError,
    classify,
)
from flowup_nb.api.exchange import Exchange, ExchangeObserver, new_call_id
from flowup_nb.api.models import (
    Job,
    UpscaleResult,
    decode_json,
    parse_account,
    parse_generation_result,
    parse_job,
    parse_submitted,
    parse_upscale_result,
)

logger = logging.getLogger("flowup_nb.api")

# The server gives up on a sync upscale after 10 minutes (408); read a little longer.
SYNC_READ_TIMEOUT = 660.0
_UPSCALE_MAY_HAVE_RUN_NOTE = (
    "An earlier attempt of this upscale reached the server and its answer was lost, so the "
    "upscale may have run (and a 4K one been charged): asking again is free, the server "
    "answers a repeat from its cache."
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


@dataclass(frozen=True, slots=True)
class Call:
    """One logical API call: what to send, and how to read a 2xx answer."""

    operation: str
    method: str
    path: str
    endpoint: str
    parse: Callable[[Any, int], Any]
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
        )
        policy.validate_wait_timeout(upscale_timeout)
        self.timeout = float(timeout)
        self.upscale_timeout = float(upscale_timeout)
        self.retry = policy.RetryPolicy(max_retries, float(retry_backoff), float(max_retry_wait))
        self.poll = policy.PollSchedule.coerce(poll_interval)
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise InputError("tags must be a list of strings, e.g. tags=['experiment-3']")
        self.tags = tuple(tags)
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

    def attach_ledger(self, ledger: object) -> None:
        if ledger is None:
            return
        record = getattr(ledger, "record", None)
        if callable(record):
            self.subscribe(record)
        elif callable(ledger):
            self.subscribe(ledger)  # type: ignore[arg-type]
        else:
            raise InputError("ledger must have a record(exchange) method (e.g. fu.Ledger())")

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

    def request_timeout(self, call: Call) -> httpx.Timeout:
        if call.long_running:
            return httpx.Timeout(self.timeout, read=max(self.timeout, self.upscale_timeout))
        return httpx.Timeout(self.timeout)

    def upscale_call(
        self,
        media_generation_id: str,
        resolution: str,
        *,
        asynchronous: bool,
        reply_url: str | None = None,
        reply_ref: str | None = None,
        captcha_retry: int | None = None,
        captcha_order: str | list[str] | None = None,
        captcha_token: str | None = None,
    ) -> Call:
        source = policy.validate_media_generation_id(media_generation_id)
        resolution = policy.validate_resolution(resolution)
        body: dict[str, Any] = {"mediaGenerationId": source, "resolution": resolution}
        body.update(policy.validate_captcha(captcha_retry, captcha_order, captcha_token))
        context = {
            "source_id": source,
            "account": policy.decode_account(source),
            "resolution": resolution,
        }
        if asynchronous:
            body["async"] = True
            body.update(policy.validate_reply(reply_url, reply_ref))
            context["reply_ref"] = reply_ref

            def parse_job_answer(data: Any, status: int) -> Job:
                return parse_submitted(data, status_code=status, requested_resolution=resolution)

            return Call(
                "submit_upscale",
                "POST",
                "/videos/upscale",
                "/videos/upscale",
                parse_job_answer,
                idempotent=True,
                body=body,
                mode="async",
                context=context,
            )

        def parse_result(data: Any, status: int) -> UpscaleResult:
            return parse_upscale_result(data, status_code=status, requested_resolution=resolution)

        return Call(
            "upscale",
            "POST",
            "/videos/upscale",
            "/videos/upscale",
            parse_result,
            idempotent=True,  # the server caches upscales: sending again is free
            body=body,
            long_running=True,
            mode="sync",
            context=context,
        )

    def job_call(self, job_or_id: object) -> Call:
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

    def generation_call(self, prompt: str, options: Mapping[str, Any]) -> Call:
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

    def account_call(self, email: str) -> Call:
        if not isinstance(email, str) or "@" not in email or any(c in email for c in "/?# "):
            raise InputError(f"email must be an account's email address, got {email!r}")
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
        call: Call,
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
        """
        finished_at = time.time()
        value: Any = None
        error: FlowError | None = None
        status = response.status_code if response is not None else None
        if response is None:
            error = self._connection_error(call, transport_error)
        elif 200 <= response.status_code < 300:
            try:
                value = call.parse(decode_json(response.content, status_code=status), status)
            except ResponseFormatError as exc:
                error = exc
        else:
            error = self._status_error(response)

        if error is None:
            self._remember_job(value, call)
            self.emit(self._exchange(call, attempt, started_at, finished_at, status, value=value))
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
        may_have_run = earlier_may_have_run or _fate_unknown(error)
        if not decision.retry and call.operation == "generate_video" and _fate_unknown(error):
            _add_note(error, _FATE_UNKNOWN_NOTE)
        elif not decision.retry and earlier_may_have_run and call.operation in _UPSCALES:
            _add_note(error, _UPSCALE_MAY_HAVE_RUN_NOTE)
        self.emit(
            self._exchange(
                call,
                attempt,
                started_at,
                finished_at,
                status,
                error=error,
                will_retry=decision.retry,
            )
        )
        self._log(call, attempt, started_at, finished_at, status, error, decision)
        return Step(
            error=error, retry=decision.retry, delay=decision.delay, may_have_run=may_have_run
        )

    def _status_error(self, response: httpx.Response) -> APIStatusError:
        try:
            body: Any = decode_json(response.content, status_code=response.status_code)
        except ResponseFormatError:
            body = response.content[:2000].decode("utf-8", errors="replace")
        return classify(response.status_code, response.headers, self.redact(body))

    def _connection_error(self, call: Call, exc: Exception | None) -> APIConnectionError:
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

    def _remember_job(self, value: Any, call: Call) -> None:
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
        call: Call,
        attempt: int,
        started_at: float,
        finished_at: float,
        status: int | None,
        *,
        value: Any = None,
        error: FlowError | None = None,
        will_retry: bool = False,
    ) -> Exchange:
        fields: dict[str, Any] = {
            key: value for key, value in call.context.items() if value is not None
        }
        fields.update(fields_of_value(value))
        if "account" not in fields and fields.get("result_id"):
            fields["account"] = policy.decode_account(fields["result_id"])
        if error is not None:
            fields.update(fields_of_error(error))
            fields["outcome"] = "error"
        return Exchange(
            call_id=new_call_id(),
            session_id=self.session_id,
            operation=call.operation,
            method=call.method,
            endpoint=call.endpoint,
            started_at=started_at,
            finished_at=finished_at,
            attempt=attempt,
            mode=call.mode,
            http_status=status,
            will_retry=will_retry,
            tags=self.tags,
            **{"outcome": "ok", **fields},
        )

    def download_exchange(self, **fields: Any) -> Exchange:
        return Exchange(
            call_id=new_call_id(),
            session_id=self.session_id,
            operation="download",
            method="GET",
            endpoint="{videoUrl}",
            tags=self.tags,
            **fields,
        )

    def _log(
        self,
        call: Call,
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

    def start_wait(self, job_or_id: object, timeout: object, on_update: object) -> WaitState:
        job_id = policy.validate_job_id(job_or_id)
        seconds = policy.validate_wait_timeout(timeout)
        if on_update is not None and not callable(on_update):
            raise InputError("on_update must be a callable taking a Job (sync or async)")
        initial = job_or_id if isinstance(job_or_id, Job) else None
        return WaitState(job_id, seconds, self.poll, initial)


# -- helpers --------------------------------------------------------------------------


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
