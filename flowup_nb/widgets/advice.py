"""What the form says about an error: what happened, what to do, and when a retry makes sense.

Pure: an exception (and the time) in, an :class:`ErrorView` out. The advice comes from
the client's exceptions (which carry the docs' own advice); this module adds the one
thing a person at a form needs most: *when* pressing Upscale again is worth it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from flowup_nb.api.errors import (
    REASON_ADVICE,
    AccountReconnectError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CaptchaProviderError,
    CaptchaRejectedError,
    DownloadError,
    InputError,
    JobExpiredError,
    JobFailedError,
    JobTimeoutError,
    MediaExpiredError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PollingTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    ServiceUnavailableError,
)

__all__ = ["ErrorView", "describe_error", "first_line"]

# The docs: "A transient Google-side outage. Wait 5-10 seconds and retry."
_OUTAGE_WAIT = timedelta(seconds=10)
# An unexplained 5xx: give the service a little longer than a transient outage.
_SERVER_ERROR_WAIT = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class ErrorView:
    """An error as the form shows it."""

    kind: str  # the exception's class name, e.g. "RateLimitError"
    title: str  # short: "Rate limited (HTTP 429)"
    message: str  # what the server (or the client) said
    advice: str  # what to do next, from the docs
    retry: str  # when retrying makes sense, in words
    retry_at: datetime | None = None  # the earliest sensible retry, when there is one
    status_code: int | None = None
    job_id: str | None = None
    details: str | None = None  # a traceback, for errors that are bugs rather than answers


def describe_error(error: BaseException, now: datetime) -> ErrorView:
    """The view of ``error`` at ``now`` (a tz-aware datetime)."""
    if isinstance(error, APIStatusError):
        return _status_view(error, now)
    if isinstance(error, InputError):
        return ErrorView(
            kind=type(error).__name__,
            title="Check the input",
            message=str(error),
            advice="Nothing was sent: fix the field and press Upscale again.",
            retry="after fixing the input",
        )
    if isinstance(error, JobFailedError):
        if error.captcha_quality:
            advice = CaptchaRejectedError.advice
        elif error.reason in REASON_ADVICE:
            advice = REASON_ADVICE[error.reason]
        else:
            advice = (
                "The server gave up on this video. A failed job is not charged: try again, "
                "and if it keeps failing, regenerate the source video."
            )
        return ErrorView(
            kind=type(error).__name__,
            title="The upscale job failed",
            message=error.message,
            advice=advice,
            retry="now (a failed job costs nothing)",
            retry_at=now,
            status_code=error.code,
            job_id=error.job_id,
        )
    if isinstance(error, JobTimeoutError):
        return ErrorView(
            kind=type(error).__name__,
            title="Still running",
            message=str(error),
            advice="The job is not lost: press Resume, or call client.wait(job_id).",
            retry="now (resume waiting)",
            retry_at=now,
            job_id=error.job_id,
        )
    if isinstance(error, MediaExpiredError):
        return ErrorView(
            kind=type(error).__name__,
            title="The video link has expired",
            message=error.message,
            advice="Signed video URLs live a few hours. Fetch it again: a repeat upscale is free.",
            retry="now (free: the server caches upscales)",
            retry_at=now,
            status_code=error.status_code,
        )
    if isinstance(error, DownloadError):
        return ErrorView(
            kind=type(error).__name__,
            title="The video could not be fetched",
            message=error.message,
            advice="Fetch it again: a repeat upscale is free and returns a fresh copy.",
            retry="now (free)",
            retry_at=now,
            status_code=error.status_code,
        )
    if isinstance(error, APIConnectionError):
        timeout = isinstance(error, APITimeoutError)
        return ErrorView(
            kind=type(error).__name__,
            title="No answer in time" if timeout else "Could not reach the API",
            message=str(error),
            advice=(
                "Check the network (or that the simulator still runs); the client retries "
                "these up to max_retries times. An upscale is safe to send again: the "
                "server caches it."
            ),
            retry="now (upscales are idempotent)",
            retry_at=now,
        )
    if isinstance(error, ResponseFormatError):
        return ErrorView(
            kind=type(error).__name__,
            title="An answer the client could not read",
            message=str(error),
            advice="Probably a transfer cut short: sending the upscale again is free.",
            retry="now",
            retry_at=now,
            status_code=error.status_code,
        )
    return ErrorView(
        kind=type(error).__name__,
        title=f"Unexpected error: {type(error).__name__}",
        message=str(error) or type(error).__name__,
        advice="This looks like a bug in flowup-nb: the details below help to report it.",
        retry="unknown",
        details="".join(traceback.format_exception(error)).strip(),
    )


def first_line(error: BaseException) -> str:
    """The error's first line (its class name when it says nothing), for a one-line note."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def _status_view(error: APIStatusError, now: datetime) -> ErrorView:
    retry, retry_at = _when_to_retry(error, now)
    return ErrorView(
        kind=type(error).__name__,
        title=f"{_TITLES.get(type(error), 'The API refused')} (HTTP {error.status_code})",
        message=error.message,
        advice=error.advice,
        retry=retry,
        retry_at=retry_at,
        status_code=error.status_code,
        job_id=error.job_id,
    )


_TITLES: dict[type[APIStatusError], str] = {
    BadRequestError: "Bad request",
    AuthenticationError: "Token refused",
    PaymentRequiredError: "Payment required",
    PermissionDeniedError: "Not allowed",
    CaptchaRejectedError: "Captcha rejected by Google",
    NotFoundError: "Not found",
    PollingTimeoutError: "The server stopped waiting",
    RateLimitError: "Rate limited",
    ServerError: "Server error",
    ServiceUnavailableError: "Service unavailable",
    CaptchaProviderError: "Captcha provider failed",
    AccountReconnectError: "The account must be reconnected",
    JobExpiredError: "The job's record has expired",
}


def _when_to_retry(error: APIStatusError, now: datetime) -> tuple[str, datetime | None]:
    wait = timedelta(seconds=error.retry_after) if error.retry_after is not None else None
    if isinstance(error, RateLimitError):
        if wait is None:
            return "later (the server gave no cooldown)", None
        at = now + wait
        return f"after {at:%H:%M:%S} UTC (in {_duration(wait)})", at
    if isinstance(error, PollingTimeoutError):
        return "now: asking again is free (the server caches upscales)", now
    if isinstance(error, CaptchaProviderError):
        return "not until the captcha provider's key or balance is fixed", None
    if isinstance(error, AccountReconnectError):
        return "not until the account's owner reconnects it", None
    if isinstance(error, JobExpiredError):
        return "now: asking the same upscale again is free (the server caches upscales)", now
    if isinstance(error, CaptchaRejectedError):
        return "now, with a higher captcha retry count or another provider order", now
    if isinstance(error, ServiceUnavailableError):
        at = now + (wait or _OUTAGE_WAIT)
        return f"after {at:%H:%M:%S} UTC (a transient outage: 5-10 s)", at
    if isinstance(error, ServerError):
        at = now + (wait or _SERVER_ERROR_WAIT)
        return f"after {at:%H:%M:%S} UTC", at
    if isinstance(error, AuthenticationError):
        return "not until the token is fixed", None
    if isinstance(error, PaymentRequiredError):
        return "not until the account has a subscription or credits", None
    if isinstance(error, PermissionDeniedError):
        return "not with this account and resolution", None
    if isinstance(error, NotFoundError | BadRequestError):
        return "not unchanged: fix the request first", None
    if wait is not None:
        at = now + wait
        return f"after {at:%H:%M:%S} UTC", at
    return "later", None


def _duration(wait: timedelta) -> str:
    seconds = wait.total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
