"""One flat, immutable record of one HTTP exchange with the API.

The client emits an :class:`Exchange` for every request it makes (first tries,
retries, polls, downloads and failures alike) to its observers. The ledger is the
main observer; it depends on the client only through this module, which is why the
record is flat, holds plain values, and never holds the API token.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CaptchaAttemptRecord", "Exchange", "ExchangeObserver", "new_call_id"]


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
    ``"failed"`` (a job record in status failed) or ``"error"`` (an exception was
    raised or the exchange will be retried).
    """

    call_id: str
    session_id: str
    # upscale | submit_upscale | get_job | generate_video | get_account | download | webhook
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


ExchangeObserver = Callable[[Exchange], None]
