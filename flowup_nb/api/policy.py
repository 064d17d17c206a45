"""Every decision the client makes, pure and I/O-free.

What input is valid, whether a failed exchange is sent again and after how long
(``Retry-After`` itself is read in ``times``), how often ``wait()`` polls, which account
an id belongs to. Both clients call these functions; neither makes a decision of its
own, so the sync and async clients cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flowup_nb.api.errors import (
    AccountReconnectError,
    APIConnectionError,
    APIStatusError,
    CaptchaProviderError,
    FlowError,
    InputError,
    MissingTokenError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)

__all__ = [
    "CAPTCHA_PROVIDERS",
    "DEFAULT_BASE_URL",
    "MAX_SECONDS",
    "PENDING_STATUSES",
    "RESOLUTIONS",
    "STATS_OPTIONS",
    "PollSchedule",
    "RetryDecision",
    "RetryPolicy",
    "decide_retry",
    "decode_account",
    "looks_like_job_id",
    "validate_base_url",
    "validate_captcha",
    "validate_client_settings",
    "validate_email",
    "validate_job_id",
    "validate_media_generation_id",
    "validate_prompt",
    "validate_reply",
    "validate_resolution",
    "validate_seconds",
    "validate_stats_options",
    "validate_tags",
    "validate_token",
]

DEFAULT_BASE_URL = "https://api.useapi.net/v1/google-flow"
RESOLUTIONS = ("1080p", "4K")
PENDING_STATUSES = frozenset({"created", "started"})
STATS_OPTIONS = ("summary", "executing", "history")  # GET /jobs?options=
CAPTCHA_PROVIDERS = (
    "CapSolver",
    "AntiCaptcha",
    "YesCaptcha",
    "CapMonster",
    "SolveCaptcha",
    "2Captcha",
    "EzCaptcha",
)
CAPTCHA_RETRY_RANGE = (1, 10)
CAPTCHA_ORDER_MAX = 10
CAPTCHA_TOKEN_MIN_LENGTH = 20
# The longest setting in seconds: sockets and thread waits overflow near 9.2e9 s, and no
# request or job takes decades.
MAX_SECONDS = 1e9
_YEAR = 365.25 * 86400

# user:<userId>-email:<hex email>-<kind>:<id>   (kind is video or image)
_MEDIA_ID = re.compile(
    r"^user:(?P<user>[^\s:-]+)-email:(?P<email>[0-9A-Fa-f]+)-(?P<kind>[a-z]+):(?P<id>\S+)$"
)
_MEDIA_ID_MAX_LENGTH = 1000
_JOB_ID_HINT = re.compile(r"^j\d{10,}[a-z]?-")
_RESOLUTION_HINTS = {
    "4k": "4K",
    "2160p": "4K",
    "2160": "4K",
    "uhd": "4K",
    "1080": "1080p",
    "1080p": "1080p",
    "fhd": "1080p",
    "hd": "1080p",
    "full hd": "1080p",
}


# -- validation ------------------------------------------------------------------------


def validate_token(token: object) -> str:
    """The API token, or :class:`MissingTokenError` naming how to get one."""
    if token is None or (isinstance(token, str) and not token.strip()):
        raise MissingTokenError(
            "No API token: pass token=..., or set the USEAPI_TOKEN environment variable "
            "(see 'Setup useapi.net'); fu.connect() without a token starts the embedded "
            "simulator instead."
        )
    if not isinstance(token, str):
        raise InputError(f"token must be a string, not {type(token).__name__}")
    if any(ch.isspace() for ch in token.strip()) or token != token.strip():
        raise InputError("the API token contains whitespace: copy it again without spaces")
    # It travels in an HTTP header, which carries printable ASCII only; anything else is a
    # paste accident (and a control character would be a header injection).
    if not token.isascii() or not token.isprintable():
        raise InputError(
            "the API token contains non-ASCII or control characters: copy it again from "
            "useapi.net (a token is printable ASCII)"
        )
    return token


def validate_base_url(base_url: object) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise InputError(f"base_url must be a non-empty URL string, got {_brief(base_url)}")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(
            f"base_url must start with http:// or https://, got {_brief(base_url)} "
            f"(the default is {DEFAULT_BASE_URL})"
        )
    if parts.query or parts.fragment:
        raise InputError(f"base_url must not carry a query or fragment: {_brief(base_url)}")
    return base_url.strip().rstrip("/")


def validate_client_settings(
    *,
    timeout: object,
    max_retries: object,
    retry_backoff: object,
    max_retry_wait: object,
    upscale_timeout: object = None,
) -> None:
    validate_seconds("timeout", timeout, positive=True)
    if upscale_timeout is not None:
        validate_seconds("upscale_timeout", upscale_timeout, positive=True)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InputError(f"max_retries must be an integer >= 0, got {_brief(max_retries)}")
    validate_seconds("retry_backoff", retry_backoff, positive=False)
    validate_seconds("max_retry_wait", max_retry_wait, positive=False)


def validate_media_generation_id(value: object) -> str:
    """A source video's ``mediaGenerationId``, checked for shape before any request."""
    if not isinstance(value, str):
        raise InputError(
            f"media_generation_id must be a string, not {type(value).__name__}: pass the "
            "mediaGenerationId of a generated video (e.g. result.media_generation_id)"
        )
    if not value.strip():
        raise InputError("media_generation_id is empty: pass the mediaGenerationId of a video")
    if value != value.strip():
        raise InputError(
            f"media_generation_id has leading/trailing whitespace: {_short(value)}; strip it"
        )
    if len(value) > _MEDIA_ID_MAX_LENGTH:
        raise InputError(
            f"{_short(value)} is not a mediaGenerationId: it is {len(value)} characters long "
            "(a real one is a few hundred at most); pass media[0].mediaGenerationId"
        )
    if not value.isascii() or not value.isprintable():
        raise InputError(
            f"{_short(value)} is not a mediaGenerationId: it contains non-ASCII or control "
            "characters; copy the id again exactly as POST /videos returned it"
        )
    if value.startswith(("http://", "https://")):
        raise InputError(
            "that is a URL, not a mediaGenerationId: pass the video's mediaGenerationId "
            "(user:...-email:...-video:...), e.g. media[0].mediaGenerationId from POST /videos"
        )
    if _JOB_ID_HINT.match(value):
        raise InputError(
            f"{_short(value)} looks like a job id, not a mediaGenerationId: use "
            "client.wait(job_id) or client.get_job(job_id) for jobs"
        )
    match = _MEDIA_ID.match(value)
    if match is None:
        raise InputError(
            f"{_short(value)} is not a mediaGenerationId: expected "
            "'user:<id>-email:<hex>-video:<id>' as returned by POST /videos in "
            "media[0].mediaGenerationId"
        )
    if match.group("kind") != "video":
        raise InputError(
            f"{_short(value)} is an {match.group('kind')} id: upscaling needs a video's "
            "mediaGenerationId ('...-video:...')"
        )
    return value


def validate_resolution(value: object) -> str:
    if isinstance(value, str) and value in RESOLUTIONS:
        return value
    if isinstance(value, str):
        text = value.strip()
        hint = text if text in RESOLUTIONS else _RESOLUTION_HINTS.get(text.lower())
        if hint is not None:
            raise InputError(
                f"resolution {value!r} is not accepted: use {hint!r} (exact spelling; the "
                f"API accepts only {RESOLUTIONS[0]!r} and {RESOLUTIONS[1]!r})"
            )
    raise InputError(
        f"resolution must be {RESOLUTIONS[0]!r} or {RESOLUTIONS[1]!r}, got {_brief(value)}"
    )


def validate_captcha(
    captcha_retry: object = None, captcha_order: object = None, captcha_token: object = None
) -> dict[str, Any]:
    """The request-body fields for the (mutually exclusive) captcha options."""
    given = [
        name
        for name, value in (
            ("captcha_retry", captcha_retry),
            ("captcha_order", captcha_order),
            ("captcha_token", captcha_token),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InputError(
            f"{' and '.join(given)} are mutually exclusive: pass only one of captcha_retry, "
            "captcha_order and captcha_token"
        )
    if captcha_retry is not None:
        low, high = CAPTCHA_RETRY_RANGE
        if isinstance(captcha_retry, bool) or not isinstance(captcha_retry, int):
            raise InputError(
                f"captcha_retry must be an integer {low}-{high}, got {_brief(captcha_retry)}"
            )
        if not low <= captcha_retry <= high:
            raise InputError(f"captcha_retry must be between {low} and {high}, got {captcha_retry}")
        return {"captchaRetry": captcha_retry}
    if captcha_order is not None:
        return {"captchaOrder": ",".join(_captcha_order(captcha_order))}
    if captcha_token is not None:
        if not isinstance(captcha_token, str):
            raise InputError("captcha_token must be a string (a solved reCAPTCHA v3 token)")
        token = captcha_token.strip()
        if len(token) < CAPTCHA_TOKEN_MIN_LENGTH or any(ch.isspace() for ch in token):
            raise InputError(
                f"captcha_token must be a solved reCAPTCHA token of at least "
                f"{CAPTCHA_TOKEN_MIN_LENGTH} characters without spaces"
            )
        return {"captchaToken": token}
    return {}


def _captcha_order(value: object) -> list[str]:
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        names = [part.strip() if isinstance(part, str) else part for part in value]
    else:
        raise InputError(
            "captcha_order must be a comma-separated string or a list of provider names"
        )
    canonical = {name.lower(): name for name in CAPTCHA_PROVIDERS}
    result: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise InputError(f"captcha_order has an empty or non-string entry: {_brief(value)}")
        known = canonical.get(name.lower())
        if known is None:
            raise InputError(
                f"unknown captcha provider {_brief(name)} in captcha_order: use names from "
                f"{', '.join(CAPTCHA_PROVIDERS)}"
            )
        result.append(known)
    if not result:
        raise InputError("captcha_order is empty: name at least one provider")
    if len(result) > CAPTCHA_ORDER_MAX:
        raise InputError(
            f"captcha_order has {len(result)} entries; the API accepts at most {CAPTCHA_ORDER_MAX}"
        )
    return result


def validate_job_id(value: object) -> str:
    """A job id, which is sent raw in the URL path (a percent-encoded one is refused)."""
    job_id = getattr(value, "job_id", value)
    if not isinstance(job_id, str) or not job_id.strip():
        raise InputError(
            f"job id must be a non-empty string (e.g. job.job_id), got {_brief(value)}"
        )
    shown = _short(job_id)
    if job_id != job_id.strip() or any(ch.isspace() for ch in job_id):
        raise InputError(f"job id {shown} contains whitespace: pass it as the API returned it")
    if not job_id.isprintable():
        raise InputError(
            f"job id {shown} contains control characters: pass it as the API returned it"
        )
    if any(ch in job_id for ch in "/?#"):
        raise InputError(f"job id {shown} contains '/', '?' or '#': it is not a job id")
    if re.search(r"%[0-9A-Fa-f]{2}", job_id):
        raise InputError(
            f"job id {shown} looks percent-encoded: pass it raw, exactly as the API returned "
            "it (the API refuses encoded ids)"
        )
    if job_id.startswith("user:") and "-email:" in job_id:
        raise InputError(
            "that is a mediaGenerationId, not a job id: use the job_id of submit_upscale()'s Job"
        )
    return job_id


def looks_like_job_id(value: object) -> bool:
    """``j<digits>...-``: the shape of the service's job ids (the publisher's scripts save
    them), as opposed to a mediaGenerationId."""
    return isinstance(value, str) and _JOB_ID_HINT.match(value.strip()) is not None


def validate_stats_options(value: object) -> str:
    """``options`` of ``GET /jobs``: one of :data:`STATS_OPTIONS`."""
    if isinstance(value, str) and value in STATS_OPTIONS:
        return value
    hint = value.strip().lower() if isinstance(value, str) else None
    close = f" (did you mean {hint!r}?)" if hint in STATS_OPTIONS else ""
    raise InputError(
        f"options must be one of {', '.join(repr(o) for o in STATS_OPTIONS)}, got "
        f"{_brief(value)}{close}: 'summary' gives the counters per account, 'executing' "
        "adds the jobs running now, 'history' the 10 most recent finished ones"
    )


def validate_email(email: object) -> str:
    """An account's email, which is sent raw in the URL path (``/accounts/{email}``)."""
    if not isinstance(email, str):
        raise InputError(f"email must be a string (an account's email), got {_brief(email)}")
    shown = _short(email)
    if email != email.strip() or any(ch.isspace() for ch in email):
        raise InputError(
            f"email {shown} contains whitespace (a pasted newline or space?): strip it, e.g. "
            "client.get_account(email.strip())"
        )
    if not email.isprintable() or any(ch in email for ch in "\u200b\u200c\u200d\ufeff"):
        raise InputError(f"email {shown} contains control or invisible characters: type it again")
    for ch in "/?#%":
        if ch in email:
            raise InputError(
                f"email {shown} contains {ch!r}: pass the account's email as is "
                "(not URL-encoded), e.g. 'jo@example.com'"
            )
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain:
        raise InputError(
            f"email must be an account's email address (e.g. 'jo@example.com'), got {shown}"
        )
    return email


def validate_tags(tags: object) -> tuple[str, ...]:
    """Labels for ledger rows: a list of strings (a lone string is refused)."""
    if isinstance(tags, Iterable) and not isinstance(tags, str | bytes):
        labels = tuple(tags)
        if all(isinstance(tag, str) for tag in labels):
            return labels
    raise InputError(f"tags must be a list of strings, e.g. ['exp-3'], got {_brief(tags)}")


def validate_reply(reply_url: object, reply_ref: object) -> dict[str, str]:
    fields: dict[str, str] = {}
    if reply_url is not None:
        if not isinstance(reply_url, str):
            raise InputError(f"reply_url must be a URL string, got {_brief(reply_url)}")
        parts = urlsplit(reply_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(
                f"reply_url must be an http(s) URL the server can POST to: {_brief(reply_url)}"
            )
        fields["replyUrl"] = reply_url
    if reply_ref is not None:
        if not isinstance(reply_ref, str):
            raise InputError(f"reply_ref must be a string, got {type(reply_ref).__name__}")
        fields["replyRef"] = reply_ref
    return fields


def validate_prompt(prompt: object) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt must be a non-empty string describing the video")
    return prompt


def validate_wait_timeout(timeout: object, name: str = "timeout") -> float:
    return validate_seconds(name, timeout, positive=True)


def validate_seconds(name: str, value: object, *, positive: bool) -> float:
    """A setting in seconds: a finite number (> 0 when ``positive``, else >= 0) of at most
    :data:`MAX_SECONDS`. An infinite one would be accepted by Python and then refused by
    the socket layer with an OverflowError, after the request was sent."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InputError(f"{name} must be a number of seconds, got {_brief(value)}")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise InputError(f"{name} must be {bound} seconds, got {_brief(value)}")
    if value > MAX_SECONDS:
        raise InputError(
            f"{name} must be a finite number of seconds, at most {MAX_SECONDS:.0e} (about "
            f"{MAX_SECONDS / _YEAR:.0f} years), got {_brief(value)}: pass e.g. 3600 for an "
            "hour; to wait longer for a job, call wait() again (it is not lost)"
        )
    return float(value)


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _brief(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit``: a 1 MB argument must not become a 1 MB message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- identifiers ---------------------------------------------------------------------


def decode_account(media_generation_id: object) -> str | None:
    """The account email hex-encoded in a ``mediaGenerationId``, or None."""
    if not isinstance(media_generation_id, str):
        return None
    match = _MEDIA_ID.match(media_generation_id)
    if match is None:
        return None
    try:
        email = bytes.fromhex(match.group("email")).decode("utf-8")
    except ValueError:
        return None
    return email if "@" in email and email.isprintable() else None


# -- retries -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times and how patiently failed exchanges are sent again."""

    max_retries: int = 2
    backoff: float = 5.0  # first backoff; the docs say to wait 5-10 s after a transient 503
    max_retry_wait: float = 120.0  # longest server-announced wait we sit through

    def backoff_delay(self, retry_number: int, jitter: float) -> float:
        """Exponential backoff from ``backoff``; ``jitter`` in [0, 1) spreads it to [1x, 2x)."""
        delay = self.backoff * (2.0**retry_number) * (1.0 + min(max(jitter, 0.0), 1.0))
        return min(delay, max(self.max_retry_wait, self.backoff))


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    why: str = ""


def decide_retry(
    error: FlowError,
    *,
    retries_done: int,
    policy: RetryPolicy,
    idempotent: bool,
    jitter: float,
    time_left: float | None = None,
) -> RetryDecision:
    """Whether to send a failed exchange again, and after how long.

    ``idempotent`` is True for upscales (the server caches them) and reads; a
    generation is not: it is resent only when it provably did not run. ``time_left``
    (seconds to a caller's deadline) forbids a retry that would start after it.
    """
    if retries_done >= policy.max_retries:
        return RetryDecision(False, why="no retries left")
    decision = _retry_for(error, policy.backoff_delay(retries_done, jitter), policy, idempotent)
    if decision.retry and time_left is not None and decision.delay >= time_left:
        return RetryDecision(False, why="the deadline comes first")
    return decision


def _retry_for(
    error: FlowError, backoff: float, policy: RetryPolicy, idempotent: bool
) -> RetryDecision:
    if isinstance(error, APIStatusError):
        if isinstance(error, CaptchaProviderError):
            return RetryDecision(False, why="the captcha provider failed: retrying burns attempts")
        if isinstance(error, AccountReconnectError):
            return RetryDecision(False, why="the account must be reconnected by its owner")
        # A 429 or a transient 503 means the server did not run the request, so even a
        # generation may be sent again.
        if isinstance(error, RateLimitError) or error.status_code == 503:
            if error.retry_after is None:
                return RetryDecision(True, backoff, "rate limited or unavailable")
            if error.retry_after > policy.max_retry_wait:
                return RetryDecision(False, why="the announced wait exceeds max_retry_wait")
            return RetryDecision(True, error.retry_after, "Retry-After")
        # Any other 5xx: the server may have acted, so only idempotent calls go again.
        if isinstance(error, ServerError) and idempotent:
            return RetryDecision(True, backoff, "server error")
        return RetryDecision(False, why=f"status {error.status_code} is not retried")
    if isinstance(error, APIConnectionError):
        if error.request_sent and not idempotent:
            return RetryDecision(False, why="sent but unanswered: its fate is unknown")
        return RetryDecision(True, backoff, "connection failed")
    if isinstance(error, ResponseFormatError) and error.not_json and idempotent:
        return RetryDecision(True, backoff, "unreadable body")
    return RetryDecision(False, why="not retryable")


# -- polling -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Delays between job polls: ``first``, growing by ``factor`` up to ``maximum``.

    The default starts near a second and settles at the publisher's 10-15 s cadence.
    """

    first: float = 1.0
    factor: float = 1.5
    maximum: float = 12.0

    def __post_init__(self) -> None:
        for name in ("first", "maximum"):
            validate_seconds(f"poll schedule {name}", getattr(self, name), positive=True)
        if isinstance(self.factor, bool) or not isinstance(self.factor, int | float):
            raise InputError(f"poll schedule factor must be a number >= 1, got {self.factor!r}")
        if self.factor < 1:
            raise InputError(f"poll schedule factor must be >= 1, got {self.factor!r}")
        if self.maximum < self.first:
            raise InputError("poll schedule maximum must be >= first")

    def delay(self, poll_number: int) -> float:
        """Seconds to sleep after poll number ``poll_number`` (0-based)."""
        return min(self.maximum, self.first * self.factor ** min(poll_number, 64))

    def scaled(self, scale: float) -> PollSchedule:
        """The same shape on a faster (or slower) clock, e.g. the simulator's."""
        validate_seconds("scale", scale, positive=True)
        return PollSchedule(self.first * scale, self.factor, self.maximum * scale)

    @classmethod
    def coerce(cls, value: object) -> PollSchedule:
        """A schedule from a PollSchedule, a ``(first, maximum)`` pair, or None (default)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, tuple | list) and len(value) == 2:
            return cls(first=value[0], maximum=value[1])
        raise InputError(
            f"poll_interval must be a PollSchedule or a (first, maximum) pair, got {_brief(value)}"
        )


def is_pending(status: str) -> bool:
    return status in PENDING_STATUSES


def sleep_before_next_poll(poll_number: int, schedule: PollSchedule, time_left: float) -> float:
    """How long to sleep before the next poll: the schedule, cut short by the deadline."""
    return max(0.0, min(schedule.delay(poll_number), time_left))
