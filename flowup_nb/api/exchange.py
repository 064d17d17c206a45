"""One flat, immutable record of one HTTP exchange, and the one place records are made.

The client emits an :class:`Exchange` for every request it makes (first tries, retries,
polls, downloads and failures alike), and the webhook receiver one for every delivery it
accepts, to their observers (typically a ledger). Every record comes from one of the
constructors here (:func:`call_exchange`, :func:`download_exchange`,
:func:`webhook_exchange`), which fill the same fields the same way: the session id, the
tags, the error type, reason and message, the job and result facts. The record is flat,
holds plain values, and never holds the API token. The ledger reads records by attribute
name and does not import this module.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, TypeAlias, TypedDict, Unpack

from flowup_nb.api import policy
from flowup_nb.api.errors import (
    APIConnectionError,
    APIStatusError,
    DownloadError,
    FlowError,
    InputError,
    JobFailedError,
    MediaExpiredError,
    NotAVideoError,
    ResponseFormatError,
)
from flowup_nb.api.models import Account, Captcha, GenerationResult, Job, UpscaleResult
from flowup_nb.api.parsing import parse_captcha

__all__ = [
    "CallSpan",
    "CaptchaAttemptRecord",
    "Exchange",
    "ExchangeObserver",
    "ExchangeSink",
    "LedgerLike",
    "call_exchange",
    "download_exchange",
    "fields_of_error",
    "fields_of_value",
    "intent_exchange",
    "interrupted_exchange",
    "new_call_id",
    "observer_of",
    "webhook_exchange",
]


def new_call_id() -> str:
    """A globally unique id for one exchange (the ledger's primary key)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class CaptchaAttemptRecord:
    """One captcha solve attempt as the server reported it."""

    service: str
    task_id: str | None
    duration_ms: int | None
    success: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """What happened in one HTTP exchange, as plain values.

    Times are UTC epoch seconds (``time.time()``). ``http_status`` is None when no
    response arrived (connection error, timeout). ``outcome`` is one of
    ``"ok"`` (a usable answer), ``"pending"`` (a job still running),
    ``"failed"`` (a job record in status failed), ``"error"`` (an exception was
    raised or the exchange will be retried), or ``"interrupted"`` / ``"cancelled"``
    (a KeyboardInterrupt or other exception, or an asyncio cancellation, ended the call
    before its answer was read: the server may have run the request). A row of operation
    ``"intent"`` (outcome ``"intent"``) is no exchange: a batch writes it just before it
    sends a submission (:func:`intent_exchange`).
    """

    call_id: str
    session_id: str
    # upscale | submit_upscale | get_job | generate_video | get_account | load_stats |
    # download | webhook (and intent: see intent_exchange)
    operation: str
    method: str
    endpoint: str  # path template, e.g. "/videos/upscale", "/jobs/{jobId}"
    started_at: float
    finished_at: float
    outcome: str
    attempt: int = 0  # 0 for the first try, n for the n-th retry
    mode: str | None = None  # "sync" | "async" for upscales and generations
    http_status: int | None = None
    error_type: str | None = None  # exception class name, e.g. "RateLimitError"
    error_reason: str | None = None  # 429 reason, or a short cause
    error_message: str | None = None
    retry_after_s: float | None = None
    captcha_quality: bool = False
    will_retry: bool = False  # the client will send this request again
    job_id: str | None = None
    job_status: str | None = None
    account: str | None = None  # email decoded from the source id, when known
    source_id: str | None = None  # the mediaGenerationId sent
    resolution: str | None = None
    model: str | None = None
    cached: bool | None = None
    remaining_credits: int | None = None
    result_id: str | None = None  # mediaGenerationId of the result
    video_url: str | None = None
    bytes_received: int | None = None  # downloads
    captcha_service: str | None = None
    captcha_ms: int | None = None
    captcha_attempts: tuple[CaptchaAttemptRecord, ...] = ()
    reply_ref: str | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def wall_ms(self) -> float:
        return (self.finished_at - self.started_at) * 1000.0


# -- who receives them ---------------------------------------------------------------


class ExchangeObserver(Protocol):
    """A callable that receives every Exchange (``client.subscribe(observer)``)."""

    def __call__(self, exchange: Exchange, /) -> None: ...


class ExchangeSink(Protocol):
    """Something with a ``record(exchange)`` method, such as ``fu.Ledger``."""

    def record(self, exchange: Exchange, /) -> None: ...


LedgerLike: TypeAlias = ExchangeSink | ExchangeObserver
"""What every ``ledger=`` parameter takes: a sink (its ``record`` is used) or a callable."""


def observer_of(ledger: object) -> ExchangeObserver:
    """The callable that records to ``ledger``: its ``record`` method, or itself."""
    record = getattr(ledger, "record", None)
    if callable(record):
        return record  # type: ignore[no-any-return]
    if callable(ledger):
        return ledger
    raise InputError("ledger must have a record(exchange) method (e.g. fu.Ledger())")


# -- the constructors ----------------------------------------------------------------


class CallSpan(TypedDict):
    """Which API call an exchange was, when, and which attempt: what every call row
    (answered or interrupted) says of itself, passed by keyword."""

    operation: str
    method: str
    endpoint: str
    started_at: float
    finished_at: float
    attempt: int
    mode: str | None


def call_exchange(
    *,
    session_id: str,
    tags: Sequence[str],
    http_status: int | None,
    context: Mapping[str, Any],
    value: Any = None,
    error: FlowError | None = None,
    will_retry: bool = False,
    **call: Unpack[CallSpan],
) -> Exchange:
    """One API call's exchange: what was asked (``context``), then what came back."""
    fields = _known(context)
    fields.update(fields_of_value(value))
    if "account" not in fields and fields.get("result_id"):
        fields["account"] = policy.decode_account(fields["result_id"])
    return _make(
        session_id,
        tags,
        http_status=http_status,
        will_retry=will_retry,
        error=error,
        fields=fields,
        **call,
    )


def download_exchange(
    *,
    session_id: str,
    tags: Sequence[str],
    started_at: float,
    finished_at: float,
    attempt: int,
    http_status: int | None,
    video_url: str,
    bytes_received: int | None,
    context: Mapping[str, Any],
    error: FlowError | None = None,
    will_retry: bool = False,
) -> Exchange:
    """One request to the media host; ``context`` names the result being saved."""
    fields = _known(context)
    fields.update(video_url=video_url, bytes_received=bytes_received)
    return _make(
        session_id,
        tags,
        operation="download",
        method="GET",
        endpoint="{videoUrl}",
        started_at=started_at,
        finished_at=finished_at,
        attempt=attempt,
        http_status=http_status,
        will_retry=will_retry,
        error=error,
        fields=fields,
    )


def webhook_exchange(
    job: Job, *, session_id: str, tags: Sequence[str], received_at: float, finished_at: float
) -> Exchange:
    """One accepted webhook delivery of ``job``'s record (answered 200)."""
    return _make(
        session_id,
        tags,
        operation="webhook",
        method="POST",
        endpoint="{replyUrl}",
        started_at=received_at,
        finished_at=finished_at,
        mode="async",
        http_status=200,
        fields=fields_of_value(job),
    )


INTENT = "intent"  # operation and outcome of an intent row


def intent_exchange(
    *,
    session_id: str,
    tags: Sequence[str],
    source_id: str,
    resolution: str,
    reply_ref: str,
    at: float | None = None,
) -> Exchange:
    """The row a batch writes *before* it submits an async upscale: what it is about to
    send, with the submission's fresh ``reply_ref``.

    If the process dies before the 201 is recorded, this row is all that is left of the
    submission; the job the server may have created carries the same ``replyRef`` in its
    record's ``request``, and that is how ``resume()`` finds it (docs/reliability.md).
    """
    now = time.time() if at is None else at
    return Exchange(
        call_id=new_call_id(),
        session_id=session_id,
        tags=tuple(tags),
        operation=INTENT,
        method="POST",
        endpoint="/videos/upscale",
        started_at=now,
        finished_at=now,
        outcome=INTENT,
        mode="async",
        account=policy.decode_account(source_id),
        source_id=source_id,
        resolution=resolution,
        reply_ref=reply_ref,
    )


# Outcomes of calls ended by the caller, not by the server: their fate is unknown.
INTERRUPTED = "interrupted"
CANCELLED = "cancelled"
# error_reason of such rows: the request had left (its answer was never read), or the
# call ended between two attempts after an earlier one may have run (nothing was resent).
IN_FLIGHT = "answer not read"
NOT_RESENT = "not resent"


def interrupted_exchange(
    *,
    session_id: str,
    tags: Sequence[str],
    context: Mapping[str, Any],
    interruption: BaseException,
    in_flight: bool,
    note: str,
    http_status: int | None = None,
    **call: Unpack[CallSpan],
) -> Exchange:
    """A call that ``interruption`` ended before its answer was read (``in_flight``), or
    between two attempts: outcome ``"cancelled"`` for an asyncio cancellation, else
    ``"interrupted"``. ``context`` says what was sent; ``note`` how to settle its fate."""
    cancelled = isinstance(interruption, asyncio.CancelledError)
    fields = _known(context)
    fields.update(
        outcome=CANCELLED if cancelled else INTERRUPTED,
        error_type=type(interruption).__name__,
        error_reason=IN_FLIGHT if in_flight else NOT_RESENT,
        error_message=note,
    )
    return _make(session_id, tags, http_status=http_status, fields=fields, **call)


def _make(
    session_id: str,
    tags: Sequence[str],
    *,
    error: FlowError | None = None,
    fields: dict[str, Any],
    **exchange: Any,
) -> Exchange:
    if error is not None:
        fields.update(fields_of_error(error), outcome="error")
        if isinstance(error, APIConnectionError) and exchange.get("http_status") is not None:
            fields["error_reason"] = "body broke off"  # an answer came, not all of it
    return Exchange(
        call_id=new_call_id(),
        session_id=session_id,
        tags=tuple(tags),
        **exchange,
        **{"outcome": "ok", **fields},
    )


def _known(context: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in context.items() if value is not None}


# -- fields from what an exchange produced ---------------------------------------------


def fields_of_value(value: Any) -> dict[str, Any]:
    """Exchange fields from a result, a job record or an account (none from others)."""
    if isinstance(value, UpscaleResult | GenerationResult):
        return _known(_result_fields(value))
    if isinstance(value, Job):
        return _known(_job_fields(value))
    if isinstance(value, Account):
        return {"account": value.email, "remaining_credits": value.credits}
    return {}


def fields_of_error(error: FlowError) -> dict[str, Any]:
    """Exchange fields from an error: its type, message and a short reason."""
    fields: dict[str, Any] = {
        "error_type": type(error).__name__,
        "error_message": getattr(error, "message", None) or str(error),
        "error_reason": _reason(error),
    }
    if isinstance(error, APIStatusError):
        fields.update(retry_after_s=error.retry_after, captcha_quality=error.captcha_quality)
        if error.job_id:
            fields["job_id"] = error.job_id
        # A captcha rejection (403) reports the attempts it bought: they are paid too.
        if isinstance(error.body, Mapping):
            fields.update(_captcha_fields(parse_captcha(error.body.get("captcha"))))
    return fields


def _reason(error: FlowError) -> str | None:
    if isinstance(error, APIStatusError):
        return error.reason
    if isinstance(error, APIConnectionError):
        return "request not sent" if not error.request_sent else "no answer"
    if isinstance(error, ResponseFormatError):
        return "not JSON" if error.not_json else "unexpected shape"
    if isinstance(error, MediaExpiredError):
        return "link expired or refused"
    if isinstance(error, NotAVideoError):
        return "not a video"
    if isinstance(error, DownloadError):
        return _status_phrase(error.status_code) or "refused"
    return None


def _status_phrase(status: int | None) -> str | None:
    try:
        return HTTPStatus(status).phrase.lower() if status is not None else None
    except ValueError:
        return None


def _job_fields(job: Job) -> dict[str, Any]:
    fields: dict[str, Any] = {"job_id": job.job_id, "job_status": job.status}
    source = job.request.get("mediaGenerationId")
    if isinstance(source, str):
        fields["source_id"] = source
        fields["account"] = policy.decode_account(source)
    resolution = job.request.get("resolution")
    if isinstance(resolution, str):
        fields["resolution"] = resolution
    reply_ref = job.request.get("replyRef")
    if isinstance(reply_ref, str):
        fields["reply_ref"] = reply_ref
    fields.update(_captcha_fields(job.captcha))
    if job.result is not None:
        fields.update(_result_fields(job.result))
    if job.status == "failed":
        fields.update(
            outcome="failed",
            error_type=JobFailedError.__name__,
            error_message=job.error,
            captcha_quality=job.error is not None
            and job.error.lower().startswith("captcha_quality:"),
        )
    else:
        fields["outcome"] = "pending" if job.pending else "ok"
    return fields


def _result_fields(result: UpscaleResult | GenerationResult) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "job_id": result.job_id,
        "remaining_credits": result.remaining_credits,
        "result_id": result.media_generation_id,
        "video_url": result.video_url,
        **_captcha_fields(result.captcha),
    }
    if isinstance(result, UpscaleResult):
        fields.update(cached=result.cached, model=result.model, resolution=result.resolution)
    elif result.media:
        fields["model"] = result.media[0].model
    return fields


def _captcha_fields(captcha: Captcha | None) -> dict[str, Any]:
    if captcha is None:
        return {}
    return {
        "captcha_service": captcha.service,
        "captcha_ms": captcha.duration_ms,
        "captcha_attempts": tuple(
            CaptchaAttemptRecord(
                service=attempt.service or "",
                task_id=attempt.task_id,
                duration_ms=attempt.duration_ms,
                success=attempt.success,
                error=attempt.error,
            )
            for attempt in captcha.attempts
        ),
    }
