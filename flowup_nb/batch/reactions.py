"""What a batch does about a failed submission or job: a pure function of the error.

The docs give each 429 reason a scope and a cooldown; the batch turns them into pauses
of that scope (one account, one model on one account, or everything), so a throttled
account waits while the others go on. A pause longer than the caller's ``max_pause``
becomes a stop: the items it would hold end with the error instead of waiting hours.

Retries do not multiply across layers: an error the client already retried (a 503, a
lost connection, a 429 it waited out: see ``error.attempts``) is marked
``client_retried``, and the scheduler sends it again only within the caller's
``transient_retries``; the rest (a rejected captcha, a failed job, a pause) use the
item's ``retries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flowup_nb.api.errors import (
    AccountReconnectError,
    APIConnectionError,
    AuthenticationError,
    CaptchaProviderError,
    CaptchaRejectedError,
    FlowError,
    JobFailedError,
    NoEligibleAccountError,
    PaymentRequiredError,
    PollingTimeoutError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
)

__all__ = [
    "MODEL_QUOTA",
    "NO_ELIGIBLE_POLICIES",
    "QUOTA",
    "THROTTLED",
    "Reaction",
    "react",
]

THROTTLED = "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
QUOTA = "PUBLIC_ERROR_USER_QUOTA_REACHED"
MODEL_QUOTA = "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"
NO_ELIGIBLE_POLICIES = ("wait", "stop")

# The documented cooldowns, used only when a 429 comes without Retry-After/retryAfter.
_ACCOUNT_COOLDOWN = 30 * 60.0
_REQUEST_COOLDOWN = 60.0


@dataclass(frozen=True, slots=True)
class Reaction:
    """What to do with an item after an error.

    ``action``: ``retry`` (this item again after ``delay``), ``pause`` (every item of
    ``scope`` waits ``delay`` seconds, this one goes back to the queue), ``stop`` (this
    item and every queued item of ``scope`` end with the error) or ``fail`` (this item
    ends with the error). ``scope``: ``account``, ``model`` (the account at this
    resolution) or ``all``. Sending the item again (retry or pause) uses one of its
    ``retries``, or with ``client_retried`` one of its ``transient_retries``.
    """

    action: str
    delay: float = 0.0
    scope: str = "item"
    throttled: bool = False  # the account's concurrency limit was hit
    client_retried: bool = False  # the client's own retries already covered this cause


def react(
    error: FlowError,
    *,
    backoff: float,
    max_pause: float,
    no_eligible: str,
    now: datetime | None = None,
) -> Reaction:
    """The reaction to ``error`` (raised by a submission, or a job that failed)."""
    if isinstance(error, RateLimitError):
        # A 429 the client waited out and met again is a lasting one: not sent again
        # unless transient_retries says so (the scope still pauses).
        waited_out = error.attempts > 1
        return _rate_limited(error, max_pause, no_eligible, now, waited_out)
    if isinstance(error, AuthenticationError):
        return Reaction("stop", scope="all")
    if isinstance(error, AccountReconnectError):
        # Its session is broken until its owner reconnects it: every request would fail.
        return Reaction("stop", scope="account")
    if isinstance(error, CaptchaProviderError):
        # The account's captcha provider is broken: retrying only burns attempts.
        return Reaction("stop", scope="account")
    if isinstance(error, PaymentRequiredError):
        # No subscription or no credits: 1080p may still work where 4K cannot.
        return Reaction("stop", scope="model")
    if isinstance(error, CaptchaRejectedError | JobFailedError | PollingTimeoutError):
        return Reaction("retry", backoff)
    if isinstance(error, ServerError | APIConnectionError | ResponseFormatError):
        # The client retries these itself, up to its max_retries.
        wait = error.retry_after if isinstance(error, ServerError) else None
        return Reaction("retry", _wait(wait, backoff), client_retried=True)
    return Reaction("fail")


def _rate_limited(
    error: RateLimitError,
    max_pause: float,
    no_eligible: str,
    now: datetime | None,
    waited_out: bool,
) -> Reaction:
    if isinstance(error, NoEligibleAccountError):
        wait = _wait(error.retry_after, _ACCOUNT_COOLDOWN)
        if no_eligible == "stop" or wait > max_pause:
            return Reaction("stop", scope="all")
        return Reaction("pause", wait, scope="all", client_retried=waited_out)
    if error.reason in (THROTTLED, QUOTA):
        wait = _wait(error.retry_after, _ACCOUNT_COOLDOWN)
        if wait > max_pause:
            return Reaction("stop", scope="account")
        throttled = error.reason == THROTTLED
        return Reaction(
            "pause", wait, scope="account", throttled=throttled, client_retried=waited_out
        )
    if error.reason == MODEL_QUOTA:
        wait = _wait(error.retry_after, _seconds_to_utc_midnight(now))
        if wait > max_pause:
            return Reaction("stop", scope="model")
        return Reaction("pause", wait, scope="model", client_retried=waited_out)
    # Unusual activity (a low captcha score) and unnamed 429s: this request only.
    wait = _wait(error.retry_after, _REQUEST_COOLDOWN)
    return Reaction("retry", wait, client_retried=waited_out)


def _wait(announced: float | None, default: float) -> float:
    return default if announced is None else max(0.0, float(announced))


def _seconds_to_utc_midnight(now: datetime | None) -> float:
    now = now or datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() + 86_400.0
    return max(0.0, midnight - now.timestamp())
