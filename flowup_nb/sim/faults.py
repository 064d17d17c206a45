"""Faults: scripted per route for tests, or drawn from a seeded profile for soak runs."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from flowup_nb.sim import errors
from flowup_nb.sim.clock import SimClock, next_utc_midnight

__all__ = [
    "FAULT_KINDS",
    "JOB_FAULTS",
    "PROFILE_API_KINDS",
    "ROUTES",
    "STATUS_FAULTS",
    "TRANSPORT_FAULTS",
    "Fault",
    "FaultBook",
    "status_fault_error",
]

ROUTES = ("upscale", "videos", "jobs", "job_stats", "accounts", "media", "*")
STATUS_FAULTS = (
    "400",
    "401",
    "402",
    "403_captcha",
    "404",
    "408",
    "429_throttled",
    "429_quota",
    "429_model_quota",
    "429_unusual_activity",
    "429_no_eligible_account",
    "503_unavailable",
    "503_captcha_service",
    "500",
    "596_reconnect",
)
# "delay" sleeps before the request is handled; "hold" after (the work is done, e.g. the
# job exists, and its answer waits): a client that dies meanwhile never sees its answer.
TRANSPORT_FAULTS = ("drop", "truncate", "malformed_json", "delay", "hold")
JOB_FAULTS = ("slow_job", "job_fail")  # change the next job the route creates
FAULT_KINDS = STATUS_FAULTS + TRANSPORT_FAULTS + JOB_FAULTS

# What a random profile draws from, per kind of route.
PROFILE_API_KINDS = (
    "429_throttled",
    "429_quota",
    "429_model_quota",
    "429_unusual_activity",
    "503_unavailable",
    "503_captcha_service",
    "drop",
    "truncate",
    "delay",
    "malformed_json",
)
_PROFILE_MEDIA = ("503_unavailable", "drop", "truncate", "delay")
_PROFILE_DELAY = (1.0, 5.0)  # service seconds, scaled
DEFAULT_DELAY = 1.0  # real seconds, when inject("delay") gives none

_REASONS = {
    "429_throttled": errors.REASON_THROTTLED,
    "429_quota": errors.REASON_QUOTA,
    "429_model_quota": errors.REASON_MODEL_QUOTA,
    "429_unusual_activity": errors.REASON_UNUSUAL_ACTIVITY,
}


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: float | None = None  # seconds a 429 announces, overriding the cooldown
    delay: float | None = None  # real seconds, for "delay" and "hold"
    scripted: bool = True


@dataclass
class _Script:
    route: str
    fault: Fault
    remaining: int


class FaultBook:
    """The scripted faults still to fire, and the random profile."""

    def __init__(self, clock: SimClock, seed: int | str) -> None:
        self._clock = clock
        self._seed = seed
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._rate = 0.0
        self._rng = random.Random(f"{seed}:faults")
        self.fired: Counter[str] = Counter()

    def inject(
        self,
        route: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: float | None = None,
        delay: float | None = None,
    ) -> None:
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; use one of {', '.join(ROUTES)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a positive integer (got {times!r})")
        if retry_after is not None and (retry_after < 0 or not kind.startswith("429")):
            raise ValueError("retry_after (seconds >= 0) applies only to the 429 kinds")
        if delay is not None and (delay < 0 or kind not in ("delay", "hold")):
            raise ValueError("delay (real seconds >= 0) applies only to kinds 'delay' and 'hold'")
        if kind == "hold" and route == "media":
            raise ValueError("'hold' holds an API answer: inject it on an API route")
        if kind in JOB_FAULTS and route not in ("upscale", "videos", "*"):
            raise ValueError(f"{kind!r} changes a job: inject it on 'upscale' or 'videos'")
        with self._lock:
            self._scripts.append(_Script(route, Fault(kind, retry_after, delay), times))

    def set_profile(self, rate: float, seed: int | str | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate is a probability from 0 to 1 (got {rate!r})")
        with self._lock:
            self._rate = rate
            self._rng = random.Random(f"{self._seed if seed is None else seed}:faults")

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._rate = 0.0

    def take(self, route: str) -> Fault | None:
        """The fault for this request on `route`, if any (scripted first, then the profile)."""
        with self._lock:
            for script in self._scripts:
                if script.route in (route, "*") and self._applies(script.fault.kind, route):
                    script.remaining -= 1
                    if script.remaining == 0:
                        self._scripts.remove(script)
                    self.fired[script.fault.kind] += 1
                    return script.fault
            if self._rate > 0 and self._rng.random() < self._rate:
                kinds = _PROFILE_MEDIA if route == "media" else PROFILE_API_KINDS
                kind = kinds[self._rng.randrange(len(kinds))]
                delay = None
                if kind == "delay":
                    delay = self._clock.scaled(self._rng.uniform(*_PROFILE_DELAY))
                self.fired[kind] += 1
                return Fault(kind, delay=delay, scripted=False)
        return None

    @staticmethod
    def _applies(kind: str, route: str) -> bool:
        # A job fault scripted on "*" waits for a route that creates jobs.
        return kind not in JOB_FAULTS or route in ("upscale", "videos")


def status_fault_error(fault: Fault, clock: SimClock) -> errors.SimError:
    """The documented error answer for a status fault."""
    kind, now = fault.kind, clock.now()
    if kind in _REASONS:
        reason = _REASONS[kind]
        if fault.retry_after is not None:
            cooldown = fault.retry_after
        elif reason == errors.REASON_MODEL_QUOTA:
            cooldown = clock.scaled(next_utc_midnight(now) - now)
        else:
            cooldown = clock.scaled(errors.COOLDOWN_SECONDS[reason])
        return errors.rate_limited(reason, cooldown, now)
    if kind == "429_no_eligible_account":
        cooldown = (
            fault.retry_after
            if fault.retry_after is not None
            else clock.scaled(errors.COOLDOWN_SECONDS[errors.REASON_THROTTLED])
        )
        skip = [
            {"email": "jo.ultra@example.com", "reason": "quarantined", "model": "veo_3_1_t2v_fast"}
        ]
        return errors.no_eligible_account(cooldown, now, skip, "veo_3_1_t2v_fast")
    simple: dict[str, Callable[[], errors.SimError]] = {
        "400": lambda: errors.bad_request("Invalid request (simulated fault)"),
        "401": errors.unauthorized,
        "402": lambda: errors.payment_required(
            "Video upscaling requires a paid Google AI subscription or remaining credits"
        ),
        "403_captcha": lambda: errors.captcha_rejected(3),
        "404": lambda: errors.account_not_found("ghost@example.com"),
        "408": lambda: errors.polling_timeout(None),
        "503_unavailable": errors.service_unavailable,
        "503_captcha_service": errors.captcha_service_failed,
        "500": errors.internal_error,
        "596_reconnect": lambda: errors.account_reconnect(
            "jo.ultra@example.com", "Session refresh failed (simulated fault)"
        ),
    }
    return simple[kind]()
