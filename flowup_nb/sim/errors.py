"""Every error the simulator answers with, with the documented body and headers.

Shapes follow the spec's error envelope ``{jobId?, error, code?, response?: {error?: {code,
message, status, details?}}}`` and the per-status examples of upscale-videos.txt.
"""

from __future__ import annotations

import math
from typing import Any

from flowup_nb.sim.clock import iso

__all__ = [
    "COOLDOWN_SECONDS",
    "REASON_MODEL_QUOTA",
    "REASON_QUOTA",
    "REASON_THROTTLED",
    "REASON_UNUSUAL_ACTIVITY",
    "SimError",
    "account_not_found",
    "account_reconnect",
    "bad_request",
    "captcha_rejected",
    "captcha_service_failed",
    "internal_error",
    "job_expired",
    "job_failed",
    "job_not_found",
    "method_not_allowed",
    "no_eligible_account",
    "payload_too_large",
    "payment_required",
    "polling_timeout",
    "rate_limited",
    "retry_after_header",
    "route_not_found",
    "service_unavailable",
    "unauthorized",
    "video_not_found",
]

REASON_THROTTLED = "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"
REASON_QUOTA = "PUBLIC_ERROR_USER_QUOTA_REACHED"
REASON_MODEL_QUOTA = "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED"
REASON_UNUSUAL_ACTIVITY = "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC"

# Cooldowns of the real service, unscaled (the doc's table). The per-model daily quota
# lasts until the next UTC midnight, which the caller computes.
COOLDOWN_SECONDS = {
    REASON_THROTTLED: 30 * 60.0,
    REASON_QUOTA: 30 * 60.0,
    REASON_UNUSUAL_ACTIVITY: 60.0,
}


class SimError(Exception):
    """An HTTP error answer: status, JSON body, extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {body.get('error')!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields, not from the message (the default would call
        # SimError(message) and fail).
        return (type(self), (self.status, self.body, self.headers), self.__dict__.copy())


def retry_after_header(seconds: float) -> str:
    """Integer seconds, rounded up, so a client that honours it never comes back early."""
    return str(max(0, math.ceil(seconds - 1e-9)))


def bad_request(message: str, **extra: Any) -> SimError:
    return SimError(400, {"error": message, "code": 400, **extra})


def unauthorized() -> SimError:
    # The doc's body exactly; no `code`.
    return SimError(401, {"error": "Unauthorized"}, {"WWW-Authenticate": "Bearer"})


def payment_required(message: str) -> SimError:
    return SimError(402, {"error": message, "code": 402})


def captcha_rejected(attempts: int, captcha: dict[str, Any] | None = None) -> SimError:
    body: dict[str, Any] = {
        "error": f"captcha_quality: reCAPTCHA token rejected after {attempts} attempts",
        "code": 403,
        "response": {
            "error": {
                "code": 403,
                "message": "reCAPTCHA evaluation failed: the token was rejected.",
                "status": "PERMISSION_DENIED",
            }
        },
    }
    if captcha is not None:
        body["captcha"] = captcha
    return SimError(403, body)


def account_not_found(email: str) -> SimError:
    return SimError(404, {"error": f"Google Flow account {email} not found", "code": 404})


def video_not_found(media_generation_id: str) -> SimError:
    return SimError(404, {"error": f"Video {media_generation_id} not found", "code": 404})


def job_not_found(job_id: str) -> SimError:
    return SimError(404, {"error": f"Job {job_id} not found", "code": 404})


def job_expired(job_id: str) -> SimError:
    return SimError(
        410,
        {
            "error": (
                f"Job {job_id} has expired: job records are kept for a limited time. "
                "Asking the same upscale again returns the cached result."
            ),
            "code": 410,
        },
    )


def account_reconnect(email: str, health: str) -> SimError:
    """596: the account's Google session cannot be refreshed; only its owner can fix it."""
    return SimError(
        596,
        {
            "error": (
                f"Google Flow account {email} must be reconnected: its session could not be "
                f"refreshed ({health}). Reconnect it with POST /accounts; retrying will not help."
            ),
            "code": 596,
        },
    )


def polling_timeout(job_id: str | None) -> SimError:
    body: dict[str, Any] = {"error": "Polling timeout", "code": 408}
    if job_id is not None:
        body["jobId"] = job_id
    return SimError(408, body)


def _google_exhausted(reason: str) -> dict[str, Any]:
    return {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}],
        }
    }


def rate_limited(
    reason: str, cooldown: float, now: float, *, attempts: int = 5, job_id: str | None = None
) -> SimError:
    """A Google RESOURCE_EXHAUSTED 429; `cooldown` is in simulated (already scaled) seconds."""
    if reason == REASON_UNUSUAL_ACTIVITY:
        error = f"captcha_quality: {reason} after {attempts} attempts"
    else:
        error = reason
    body: dict[str, Any] = {
        "error": error,
        "code": 429,
        "retryAfter": iso(now + cooldown),
        "response": _google_exhausted(reason),
    }
    if job_id is not None:
        body = {"jobId": job_id, **body}
    return SimError(429, body, {"Retry-After": retry_after_header(cooldown)})


def no_eligible_account(
    cooldown: float, now: float, skip_reasons: list[dict[str, str]], model: str
) -> SimError:
    body = {
        "error": "no_eligible_account",
        "code": 429,
        "message": (
            f"No eligible Google Flow account for model {model}: every account is quarantined. "
            "Retry after retryAfter, or add accounts."
        ),
        "retryAfter": iso(now + cooldown),
        "skipReasons": skip_reasons,
    }
    return SimError(429, body, {"Retry-After": retry_after_header(cooldown)})


def service_unavailable() -> SimError:
    # The doc's body exactly: here `error` is an object, not a string.
    return SimError(
        503,
        {
            "error": {
                "code": 503,
                "message": "Service temporarily unavailable.",
                "status": "UNAVAILABLE",
            }
        },
    )


def captcha_service_failed(provider_error: str = "ERROR_ZERO_BALANCE") -> SimError:
    return SimError(503, {"error": f"Captcha service failed: {provider_error}", "code": 503})


def job_failed(job_id: str, error: str, details: str, google_error: dict[str, Any]) -> SimError:
    return SimError(
        500,
        {
            "jobId": job_id,
            "error": error,
            "errorDetails": details,
            "code": 500,
            "response": {"error": google_error},
        },
    )


def internal_error(message: str = "Internal server error") -> SimError:
    return SimError(500, {"error": message, "code": 500})


def route_not_found(method: str, path: str) -> SimError:
    return SimError(404, {"error": f"Not found: {method} {path}", "code": 404})


def method_not_allowed(method: str, path: str, allowed: list[str]) -> SimError:
    return SimError(
        405,
        {
            "error": f"Method {method} not allowed on {path}; use {' or '.join(allowed)}",
            "code": 405,
        },
        {"Allow": ", ".join(allowed)},
    )


def payload_too_large(limit: int) -> SimError:
    return SimError(
        413, {"error": f"Request body too large: the limit is {limit} bytes", "code": 413}
    )
