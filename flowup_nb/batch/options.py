"""A batch's settings, checked before anything is sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowup_nb.api import policy
from flowup_nb.api.errors import InputError
from flowup_nb.batch.reactions import NO_ELIGIBLE_POLICIES

__all__ = ["MODES", "BatchOptions"]

MODES = ("async", "sync")


@dataclass(frozen=True)
class BatchOptions:
    concurrency: int = 4
    per_account: int | Mapping[str, int] | None = None
    mode: str = "async"
    webhook: Any = None  # a WebhookReceiver, True (a temporary one), or None/False
    retries: int = 2
    # Rounds of the client's own retries after a transient error (503, 5xx, a lost
    # connection, a 429 the client waited out): each may send the upscale 1 + max_retries
    # times more, and every send starts a paid captcha solve on the real service.
    transient_retries: int = 0
    max_pause: float = 3600.0
    no_eligible: str = "wait"
    timeout: float = 900.0
    skip_done: bool = True
    progress: bool = True
    captcha: dict[str, Any] = field(default_factory=dict)  # request fields, validated

    def __post_init__(self) -> None:
        _positive_int("concurrency", self.concurrency)
        per_account = self.per_account
        if per_account is not None:
            if isinstance(per_account, Mapping):
                for email, limit in per_account.items():
                    _positive_int(f"per_account[{email!r}]", limit)
            else:
                _positive_int("per_account", per_account)
        if self.mode not in MODES:
            raise InputError(f"mode must be 'async' (submit and wait) or 'sync', got {self.mode!r}")
        if self.webhook not in (None, False) and self.mode != "async":
            raise InputError("webhooks need mode='async' (sync upscales have no job to call back)")
        if self.webhook is not None and not isinstance(self.webhook, bool):
            from flowup_nb.webhooks import WebhookReceiver

            if not isinstance(self.webhook, WebhookReceiver):
                raise InputError(
                    "webhook must be a fu.WebhookReceiver, True (a temporary one on "
                    f"loopback) or None, got {type(self.webhook).__name__}"
                )
        _count("retries", self.retries)
        _count("transient_retries", self.transient_retries)
        _seconds("max_pause", self.max_pause, allow_zero=True)
        _seconds("timeout", self.timeout, allow_zero=False)
        if self.no_eligible not in NO_ELIGIBLE_POLICIES:
            raise InputError(
                f"no_eligible must be 'wait' (until an account is free again) or 'stop', "
                f"got {self.no_eligible!r}"
            )

    @staticmethod
    def captcha_fields(
        captcha_retry: object, captcha_order: object, captcha_token: object
    ) -> dict[str, Any]:
        """The captcha keyword arguments for submit_upscale/upscale, validated once."""
        policy.validate_captcha(captcha_retry, captcha_order, captcha_token)
        given = {
            "captcha_retry": captcha_retry,
            "captcha_order": captcha_order,
            "captcha_token": captcha_token,
        }
        return {name: value for name, value in given.items() if value is not None}


def _count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{name} must be an integer >= 0, got {value!r}")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")


def _seconds(name: str, value: object, *, allow_zero: bool) -> None:
    policy.validate_seconds(name, value, positive=not allow_zero)
