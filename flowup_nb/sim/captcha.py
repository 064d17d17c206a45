"""reCAPTCHA solving as the service does it: providers, attempts, acceptance.

Before each Google call the service buys a reCAPTCHA token from a provider; Google may
reject it, and the service tries again (``captchaRetry`` times, cycling ``captchaOrder``).
Solve times are the providers' published ones, scaled; acceptance rates differ by provider
(rates are a guess shaped by what production users report).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from flowup_nb.sim.errors import bad_request

__all__ = [
    "DEFAULT_CAPTCHA_RETRY",
    "PROVIDERS",
    "USER_PROVIDED",
    "CaptchaAttempt",
    "CaptchaOutcome",
    "CaptchaPlan",
    "check_captcha_params",
    "plan_captcha",
    "solve",
]

# The docs said 3 in January 2026 and 5 from mid-2026 (API_NOTES); today is the latter.
DEFAULT_CAPTCHA_RETRY = 5
MAX_CAPTCHA_RETRY = 10
MAX_CAPTCHA_ORDER = 10
MIN_CAPTCHA_TOKEN = 20
USER_PROVIDED = "UserProvided"


@dataclass(frozen=True)
class Provider:
    name: str
    solve_seconds: tuple[float, float]
    acceptance: float


PROVIDERS = {
    p.name: p
    for p in (
        Provider("CapSolver", (8, 12), 0.70),
        Provider("AntiCaptcha", (8, 12), 0.60),
        Provider("CapMonster", (8, 12), 0.55),
        Provider("YesCaptcha", (8, 12), 0.50),
        Provider("EzCaptcha", (8, 12), 0.50),
        Provider("SolveCaptcha", (30, 60), 0.20),
        Provider("2Captcha", (30, 60), 0.07),
    )
}

_REJECTIONS = (
    "reCAPTCHA token rejected by Google",
    "reCAPTCHA score too low",
)


@dataclass(frozen=True)
class CaptchaPlan:
    """Which services to try, in order (one entry per attempt)."""

    services: tuple[str, ...]


@dataclass(frozen=True)
class CaptchaAttempt:
    service: str
    task_id: str | None
    duration_ms: int
    success: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service}
        if self.task_id is not None:
            out["taskId"] = self.task_id
        out["durationMs"] = self.duration_ms
        out["success"] = self.success
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class CaptchaOutcome:
    attempts: tuple[CaptchaAttempt, ...]

    @property
    def success(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].success

    @property
    def total_ms(self) -> int:
        return sum(a.duration_ms for a in self.attempts)

    def summary(self) -> dict[str, Any]:
        """`captcha` as in an async 201: the last attempt, without `attempts[]`."""
        last = self.attempts[-1]
        out: dict[str, Any] = {"service": last.service}
        if last.task_id is not None:
            out["taskId"] = last.task_id
        out["durationMs"] = last.duration_ms
        return out

    def full(self) -> dict[str, Any]:
        """`captcha` as in a sync 200 or a completed job: with every attempt."""
        return {**self.summary(), "attempts": [a.to_json() for a in self.attempts]}


def _present(body: dict[str, Any], name: str) -> bool:
    return body.get(name) is not None


def check_captcha_params(body: dict[str, Any]) -> None:
    """Syntax of captchaToken / captchaRetry / captchaOrder (no account needed)."""
    given = [n for n in ("captchaToken", "captchaRetry", "captchaOrder") if _present(body, n)]
    if len(given) > 1:
        raise bad_request(
            f"captchaToken, captchaRetry and captchaOrder are mutually exclusive; "
            f"send only one of {', '.join(given)}"
        )
    if _present(body, "captchaToken"):
        token = body["captchaToken"]
        if not isinstance(token, str) or len(token.strip()) < MIN_CAPTCHA_TOKEN:
            raise bad_request(
                f"captchaToken must be a reCAPTCHA token string of at least "
                f"{MIN_CAPTCHA_TOKEN} characters"
            )
    if _present(body, "captchaRetry"):
        retry = _as_int(body["captchaRetry"])
        if retry is None or not 1 <= retry <= MAX_CAPTCHA_RETRY:
            raise bad_request(
                f"captchaRetry must be an integer from 1 to {MAX_CAPTCHA_RETRY} "
                f"(got {body['captchaRetry']!r})"
            )
    if _present(body, "captchaOrder"):
        names = _order_names(body["captchaOrder"])
        if len(names) > MAX_CAPTCHA_ORDER:
            raise bad_request(
                f"captchaOrder has {len(names)} entries; at most {MAX_CAPTCHA_ORDER} are allowed"
            )
        unknown = [n for n in names if n not in PROVIDERS]
        if unknown:
            raise bad_request(
                f"captchaOrder names unknown provider(s) {', '.join(unknown)}; "
                f"known providers: {', '.join(PROVIDERS)}"
            )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():  # form fields arrive as text
        return int(value.strip())
    return None


def _order_names(value: Any) -> list[str]:
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
    elif isinstance(value, list) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value]
    else:
        raise bad_request(
            "captchaOrder must be a comma-separated string of provider names, "
            'e.g. "CapSolver,AntiCaptcha"'
        )
    if not names or any(not n for n in names):
        raise bad_request(
            "captchaOrder has an empty entry; list provider names separated by commas"
        )
    return names


def plan_captcha(body: dict[str, Any], email: str, configured: tuple[str, ...]) -> CaptchaPlan:
    """The attempt sequence for one request on one account (params already checked)."""
    if _present(body, "captchaToken"):
        return CaptchaPlan((USER_PROVIDED,))
    if _present(body, "captchaOrder"):
        order = _order_names(body["captchaOrder"])
        missing = [n for n in order if n not in configured]
        if missing:
            raise bad_request(
                f"captchaOrder names provider(s) not configured for account {email}: "
                f"{', '.join(missing)}; configured: {', '.join(configured)}. Configure them "
                "via POST /accounts/captcha-providers or remove them from captchaOrder"
            )
        # Each listed provider gets at least one try (a guess: the docs only say "cycle").
        count = max(DEFAULT_CAPTCHA_RETRY, len(order))
    else:
        order = list(configured)
        retry = _as_int(body.get("captchaRetry"))
        count = retry if retry is not None else DEFAULT_CAPTCHA_RETRY
    return CaptchaPlan(tuple(order[i % len(order)] for i in range(count)))


def solve(
    plan: CaptchaPlan,
    rng: random.Random,
    time_scale: float,
    new_task_id: Any,
    *,
    acceptance: dict[str, float] | None = None,
    reject_all: bool = False,
) -> CaptchaOutcome:
    """Draw every attempt up to the first success. Pure: the caller sleeps `total_ms`."""
    attempts: list[CaptchaAttempt] = []
    for service in plan.services:
        if service == USER_PROVIDED:
            ok = not reject_all
            attempts.append(CaptchaAttempt(service, None, 0, ok, None if ok else _REJECTIONS[0]))
        else:
            provider = PROVIDERS[service]
            seconds = rng.uniform(*provider.solve_seconds)
            rate = (acceptance or {}).get(service, provider.acceptance)
            accepted = rng.random() < rate and not reject_all
            error = None if accepted else _REJECTIONS[rng.randrange(len(_REJECTIONS))]
            attempts.append(
                CaptchaAttempt(
                    service, new_task_id(), round(seconds * time_scale * 1000), accepted, error
                )
            )
        if attempts[-1].success:
            break
    return CaptchaOutcome(tuple(attempts))
