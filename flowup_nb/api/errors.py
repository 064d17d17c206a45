"""The exception tree, and :func:`classify`: an HTTP error response -> the right exception.

Every error a caller can meet is a :class:`FlowError`. Status errors carry what the
server said (``.message``, ``.body``) and what the docs advise doing next (in
``str(err)``). Nothing here ever sees the API token: the client redacts bodies before
they reach these classes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flowup_nb.api.prices import FOUR_K_PRICE
from flowup_nb.api.times import retry_after_seconds

if TYPE_CHECKING:  # pragma: no cover
    # The records are plain dataclasses that import nothing of ours: no cycle.
    from flowup_nb.api.models import Job

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccountReconnectError",
    "AuthenticationError",
    "BadRequestError",
    "CaptchaProviderError",
    "CaptchaRejectedError",
    "DownloadError",
    "FlowError",
    "InputError",
    "JobExpiredError",
    "JobFailedError",
    "JobTimeoutError",
    "MediaExpiredError",
    "MissingTokenError",
    "NoEligibleAccountError",
    "NotAVideoError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PollingTimeoutError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "ServiceUnavailableError",
    "classify",
]

CAPTCHA_QUALITY_PREFIX = "captcha_quality:"
CAPTCHA_SERVICE_PREFIX = "Captcha service failed:"
NO_ELIGIBLE_ACCOUNT = "no_eligible_account"

# The documented 429 reasons, and what the docs say to do about each.
REASON_ADVICE: dict[str, str] = {
    "PUBLIC_ERROR_USER_REQUESTS_THROTTLED": (
        "The account hit its per-user concurrency limit (the token was fine): run fewer "
        "parallel requests and retry later (cooldown about 30 minutes)."
    ),
    "PUBLIC_ERROR_USER_QUOTA_REACHED": (
        "The account's overall Flow quota is reached: add accounts, or omit `email` so the "
        "load balancer can route around it (cooldown about 30 minutes)."
    ),
    "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED": (
        "This model's daily quota is reached on this account: switch model, or wait until "
        "the next UTC midnight."
    ),
    "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC": (
        "Low reCAPTCHA score (a captcha-provider issue; the server already retried): add "
        "captcha providers and set captcha_order to cycle across them, or raise "
        "captcha_retry (cooldown about 60 s)."
    ),
}
_REASON_PATTERN = re.compile(r"\bPUBLIC_ERROR_[A-Z_]+\b")


class FlowError(Exception):
    """Base of every error raised by flowup-nb's client.

    Every error pickles and copies (``pickle``, ``copy``, ``deepcopy``) with all its
    attributes and its text: a batch frame holding errors survives ``to_pickle()``, and
    multiprocessing or joblib can hand one to another process.
    """

    # HTTP sends of the call that ended in this error, the client's own retries included
    # (a batch reads it so that retries do not multiply across layers).
    attempts: int = 1

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds with ``cls(*self.args)``, but our constructors take other
        # arguments than the finished message (a Job, keyword-only fields): rebuild without
        # calling __init__, then restore every attribute.
        return (_rebuilt, (type(self), self.args), self.__dict__.copy())


def _rebuilt(cls: type[FlowError], args: tuple[Any, ...]) -> FlowError:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class InputError(FlowError, ValueError):
    """Bad input, refused before any request is sent; the message names the fix."""


class MissingTokenError(InputError):
    """No API token was given and USEAPI_TOKEN is not set."""


class APIConnectionError(FlowError):
    """No HTTP answer arrived (connection refused, dropped, reset, ...).

    ``request_sent`` is False only when the request provably never left (the
    connection could not be opened); otherwise the server may have acted on it.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The answer did not arrive within the timeout."""


class ResponseFormatError(FlowError):
    """A response body we cannot understand. Carries the status and a snippet of it."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        snippet: str = "",
        not_json: bool = False,
    ) -> None:
        where = f"HTTP {status_code}" if status_code is not None else "response"
        shown = f"body starts: {snippet!r}" if snippet else "empty body"
        super().__init__(f"{message} ({where}, {shown})")
        self.message = message
        self.status_code = status_code
        self.snippet = snippet
        # A body that is not JSON at all looks like a corrupted transfer, which is worth
        # one more try for idempotent calls; valid JSON of the wrong shape is not.
        self.not_json = not_json


class JobFailedError(FlowError):
    """The job ended in status ``failed``; ``.job`` is the final record."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.job_id = job.job_id
        self.message = job.error or "the job failed without an error message"
        self.code = job.code
        self.captcha_quality = _is_captcha_quality(job.error)
        self.reason = _find_reason(job.raw, job.error)
        parts = [f"job {job.job_id} failed: {self.message}"]
        if job.error_details and job.error_details != job.error:
            parts.append(f"details: {job.error_details}")
        if self.captcha_quality:
            parts.append(_CAPTCHA_REJECTED_ADVICE)
        elif self.reason in REASON_ADVICE:
            parts.append(REASON_ADVICE[self.reason])
        super().__init__(". ".join(parts))


class JobTimeoutError(FlowError):
    """``wait()`` reached its deadline; the job is not lost and can be waited on again."""

    def __init__(self, job_id: str, timeout: float, job: Job | None = None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.job = job
        status = f" (still {job.status!r})" if job is not None else ""
        super().__init__(
            f"job {job_id} did not finish within {timeout:g} s{status}. It is not lost: "
            f"call client.wait({job_id!r}) again to keep waiting, or client.get_job() to look."
        )


class DownloadError(FlowError):
    """The media host refused or broke a download. ``url`` is shown without its signature."""

    def __init__(self, message: str, *, url: str = "", status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status_code = status_code


class MediaExpiredError(DownloadError):
    """The signed video URL expired (or was refused): upscale again (free) for a new one."""


class NotAVideoError(DownloadError):
    """The media host answered with something that is not an MP4 video."""


class APIStatusError(FlowError):
    """The API answered with an error status. See ``str(err)`` for what to do next."""

    advice: str = "See https://useapi.net/docs for this status."

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        reason: str | None = None,
        retry_after: float | None = None,
        captcha_quality: bool = False,
        job_id: str | None = None,
        advice: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.body = body
        self.reason = reason
        self.retry_after = retry_after
        self.captcha_quality = captcha_quality
        self.job_id = job_id
        if advice is not None:
            self.advice = advice
        text = f"HTTP {status_code}: {message}"
        if detail and detail != message:
            text += f" ({detail})"
        if job_id:
            text += f" (job {job_id})"
        if self.advice:
            text += (" " if text.endswith((".", "!", "?")) else ". ") + self.advice
        super().__init__(text)


class BadRequestError(APIStatusError):
    advice = "Fix the request: sending it again unchanged will fail the same way."


class AuthenticationError(APIStatusError):
    advice = (
        "The API token was refused: check USEAPI_TOKEN (see 'Setup useapi.net' in the docs), "
        "or call fu.connect() without a token to use the embedded simulator."
    )


class PaymentRequiredError(APIStatusError):
    advice = (
        "Upscaling needs a paid Google AI subscription or remaining credits (4K needs Ultra "
        f"and costs {FOUR_K_PRICE} credits): add credits or use another account. Retrying "
        "will not help."
    )


class PermissionDeniedError(APIStatusError):
    advice = (
        "The request was refused: check that the account's subscription allows it (4K needs "
        "Google AI Ultra; other paid tiers can only use 1080p)."
    )


_CAPTCHA_REJECTED_ADVICE = (
    "Google rejected the reCAPTCHA token: raise captcha_retry to 5 or more, and configure "
    "more providers (POST /accounts/captcha-providers) so captcha_order can cycle across "
    "them. If it persists, contact your captcha provider's support."
)


class CaptchaRejectedError(PermissionDeniedError):
    advice = _CAPTCHA_REJECTED_ADVICE


class NotFoundError(APIStatusError):
    advice = (
        "Check that the id comes from a video (or job) of an account configured on useapi.net, "
        "and that it is passed exactly as the API returned it."
    )


class JobExpiredError(NotFoundError):
    """410 on a job lookup: the service no longer keeps the job's record."""

    advice = (
        "The job's record has expired: the service keeps job records for a limited time, "
        "so its outcome can no longer be looked up. Asking the same upscale again is free "
        "(the server caches upscales) and returns the result with a fresh video URL."
    )


class PollingTimeoutError(APIStatusError):
    advice = (
        "The server stopped waiting after 10 minutes, but the job may still finish. Asking "
        "again is free: the server caches upscales. For long (4K) jobs prefer "
        "submit_upscale() + wait()."
    )


class RateLimitError(APIStatusError):
    advice = "Too many requests: slow down and retry later."


class NoEligibleAccountError(RateLimitError):
    advice = "Every account is quarantined for this model: add accounts, or wait."


class ServerError(APIStatusError):
    advice = "The server failed: retry later."


class ServiceUnavailableError(ServerError):
    advice = "A transient Google-side outage: wait 5-10 seconds and retry."


class AccountReconnectError(ServerError):
    """596: the account's Google session could not be refreshed. Never retried."""

    # A ServerError by status (5xx), but no retry can fix it: policy.decide_retry
    # refuses it before its parent's rule applies.
    advice = (
        "The account's Google session could not be refreshed: its owner must reconnect it "
        "(POST /accounts with fresh Google cookies, see 'Setup Google Flow' on useapi.net). "
        "Retrying will not help; omit `email` or use another account meanwhile."
    )


class CaptchaProviderError(ServerError):
    # Deliberately not a ServiceUnavailableError: the fault is the caller's captcha
    # provider, and retrying burns attempts until the provider is fixed.
    advice = (
        "Your captcha provider failed, not Google: check its API key and balance, and do not "
        "retry until the provider is back."
    )


def classify(
    status_code: int,
    headers: Mapping[str, str] | None,
    body: Any,
    *,
    now: datetime | None = None,
) -> APIStatusError:
    """Turn an error response into the matching :class:`APIStatusError`.

    ``body`` is the decoded JSON, or the raw text when it was not JSON. Never raises.
    """
    now = now or datetime.now(UTC)
    error_field = body.get("error") if isinstance(body, dict) else None
    message = _error_message(body, error_field)
    reason = _find_reason(body, message)
    captcha_quality = _is_captcha_quality(message)
    job_id = _job_id_of(body)
    header_value = _header(headers, "retry-after")
    body_value = body.get("retryAfter") if isinstance(body, dict) else None
    retry_after = retry_after_seconds(
        header_value, body_value if isinstance(body_value, str) else None, now=now
    )
    if status_code == 429 and reason is None and message == NO_ELIGIBLE_ACCOUNT:
        reason = NO_ELIGIBLE_ACCOUNT

    # e.g. no_eligible_account puts a code in `error` and the explanation in `message`
    detail = body.get("message") if isinstance(body, dict) else None
    cls = _class_for(status_code, message, captcha_quality)
    advice = _advice_for(cls, status_code, message, reason, retry_after, captcha_quality, now)
    return cls(
        message,
        status_code=status_code,
        body=body,
        reason=reason,
        retry_after=retry_after,
        captcha_quality=captcha_quality,
        job_id=job_id,
        advice=advice,
        detail=detail if isinstance(detail, str) else None,
    )


def _class_for(status_code: int, message: str, captcha_quality: bool) -> type[APIStatusError]:
    if status_code == 400:
        return BadRequestError
    if status_code == 401:
        return AuthenticationError
    if status_code == 402:
        return PaymentRequiredError
    if status_code == 403:
        # The only documented 403 is the captcha rejection; an undocumented one (e.g. a
        # tier that may not use 4K) keeps the parent class so its advice is not misleading.
        looks_captcha = captcha_quality or "captcha" in message.lower()
        return CaptchaRejectedError if looks_captcha else PermissionDeniedError
    if status_code == 404:
        return NotFoundError
    if status_code == 408:
        return PollingTimeoutError
    if status_code == 410:
        # Only job lookups are documented to answer 410 (an expired record).
        return JobExpiredError
    if status_code == 429:
        return NoEligibleAccountError if message == NO_ELIGIBLE_ACCOUNT else RateLimitError
    if status_code == 503:
        if message.startswith(CAPTCHA_SERVICE_PREFIX):
            return CaptchaProviderError
        return ServiceUnavailableError
    if status_code == 596:
        return AccountReconnectError
    if 500 <= status_code <= 599:
        return ServerError
    return APIStatusError


def _advice_for(
    cls: type[APIStatusError],
    status_code: int,
    message: str,
    reason: str | None,
    retry_after: float | None,
    captcha_quality: bool,
    now: datetime,
) -> str:
    parts: list[str] = []
    lowered = message.lower()
    if cls is BadRequestError:
        if "email mismatch" in lowered:
            parts.append(
                "The id belongs to another account than the one the request targets: use ids "
                "of one account per request."
            )
        elif "job id" in lowered:
            parts.append("Pass the job id exactly as the API returned it (not percent-encoded).")
        elif "captcha" in lowered and "exclusive" in lowered:
            parts.append("Pass only one of captcha_token, captcha_retry and captcha_order.")
    if captcha_quality and cls is not CaptchaRejectedError:
        parts.append(_CAPTCHA_REJECTED_ADVICE)
    if reason in REASON_ADVICE and not (captcha_quality and reason.endswith("TOO_MUCH_TRAFFIC")):
        parts.append(REASON_ADVICE[reason])
    parts.append(cls.advice)
    if retry_after is not None and (cls is RateLimitError or issubclass(cls, RateLimitError)):
        try:
            until = now + timedelta(seconds=retry_after)
        except OverflowError:  # an absurd Retry-After must still give a RateLimitError
            parts.append(f"The server asks to wait {retry_after:.0f} s.")
        else:
            parts.append(f"Wait until {until:%Y-%m-%d %H:%M:%S} UTC (about {retry_after:.0f} s).")
    elif retry_after is not None and status_code >= 500:
        parts.append(f"The server asks to wait {retry_after:.0f} s.")
    # The class advice for RateLimitError is generic; drop it when a reason said more.
    if len(parts) > 1 and cls.advice == RateLimitError.advice and reason in REASON_ADVICE:
        parts.remove(cls.advice)
    return " ".join(dict.fromkeys(parts))


def _error_message(body: Any, error_field: Any) -> str:
    if isinstance(error_field, str) and error_field.strip():
        return error_field.strip()
    if isinstance(error_field, dict):
        # The transient 503 nests Google's error: {"error": {"code", "message", "status"}}.
        inner = error_field.get("message")
        if isinstance(inner, str) and inner.strip():
            return inner.strip()
    if isinstance(body, dict):
        for key in ("message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        response = body.get("response")
        if isinstance(response, dict):
            nested = response.get("error")
            if isinstance(nested, dict) and isinstance(nested.get("message"), str):
                return nested["message"].strip() or "(no error message)"
    if isinstance(body, str) and body.strip():
        return _shorten(body.strip())
    return "(no error message)"


def _find_reason(body: Any, message: str | None) -> str | None:
    """The 429 ``reason``: a top-level field, Google's ``details[].reason``, or in the text."""
    if isinstance(body, dict):
        top = body.get("reason")
        if isinstance(top, str) and top:
            return top
        for holder in (body.get("error"), _dig(body, "response", "error")):
            if isinstance(holder, dict):
                reason = holder.get("reason")
                if isinstance(reason, str) and reason:
                    return reason
                details = holder.get("details")
                if isinstance(details, list):
                    for item in details:
                        found = item.get("reason") if isinstance(item, dict) else None
                        if isinstance(found, str):
                            return found
    if message:
        found = _REASON_PATTERN.search(message)
        if found:
            return found.group(0)
    return None


def _is_captcha_quality(message: str | None) -> bool:
    return message is not None and message.lstrip().lower().startswith(CAPTCHA_QUALITY_PREFIX)


def _job_id_of(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("jobId", "jobid"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
