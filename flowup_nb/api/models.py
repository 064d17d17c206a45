"""The typed records of the API: results, media, jobs, accounts.

Plain frozen dataclasses with short reprs and a notebook view; they import nothing of
ours but the media rules, so every layer (the errors included) can name them. Reading
them from JSON bodies is ``parsing``'s job.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowup_nb.api.media import size_text, video_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "Account",
    "AccountLoad",
    "Captcha",
    "CaptchaAttempt",
    "GenerationResult",
    "Job",
    "JobStats",
    "Media",
    "RecentJob",
    "RunningJob",
    "UpscaleResult",
]


@dataclass(frozen=True, slots=True)
class CaptchaAttempt:
    service: str | None
    task_id: str | None
    duration_ms: int | None
    success: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Captcha:
    """How the server solved the reCAPTCHA for a request."""

    service: str | None
    task_id: str | None
    duration_ms: int | None
    attempts: tuple[CaptchaAttempt, ...] = ()


@dataclass(frozen=True, slots=True, repr=False)
class Media:
    """One video in a result (a ``media[]`` item, or a legacy ``operations[]`` one)."""

    name: str | None
    media_generation_id: str | None
    video_url: str | None
    thumbnail_url: str | None
    model: str | None
    aspect_ratio: str | None
    resolution: str | None = None
    status: str | None = None
    raw_bytes: bytes | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return _short_repr(
            self,
            media_generation_id=self.media_generation_id,
            resolution=self.resolution,
            video_url=self.video_url,
            raw_bytes=self.raw_bytes,
        )


@dataclass(frozen=True, slots=True, repr=False)
class UpscaleResult:
    """An upscaled video: a signed URL, or (for a cached re-upscale) the bytes inline."""

    job_id: str | None
    media: tuple[Media, ...]
    video_url: str | None
    thumbnail_url: str | None
    media_generation_id: str | None
    resolution: str | None
    model: str | None
    remaining_credits: int | None
    cached: bool
    raw_bytes: bytes | None
    captcha: Captcha | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return _short_repr(
            self,
            resolution=self.resolution,
            media_generation_id=self.media_generation_id,
            video_url=self.video_url,
            cached=self.cached,
            raw_bytes=self.raw_bytes,
            remaining_credits=self.remaining_credits,
            job_id=self.job_id,
        )

    def _repr_html_(self) -> str:
        return _video_html(self)


@dataclass(frozen=True, slots=True, repr=False)
class GenerationResult:
    """The answer of ``POST /videos``: the generated videos (``media``)."""

    job_id: str | None
    media: tuple[Media, ...]
    media_generation_id: str | None
    remaining_credits: int | None
    captcha: Captcha | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def video_url(self) -> str | None:
        return next((m.video_url for m in self.media if m.video_url), None)

    @property
    def thumbnail_url(self) -> str | None:
        return next((m.thumbnail_url for m in self.media if m.thumbnail_url), None)

    @property
    def raw_bytes(self) -> bytes | None:
        return next((m.raw_bytes for m in self.media if m.raw_bytes), None)

    def __repr__(self) -> str:
        return _short_repr(
            self,
            media_generation_id=self.media_generation_id,
            videos=len(self.media),
            remaining_credits=self.remaining_credits,
            job_id=self.job_id,
        )

    def _repr_html_(self) -> str:
        return _video_html(self)


@dataclass(frozen=True, slots=True, repr=False)
class Job:
    """An async job record (``GET /jobs/{jobId}``, the 201 answer, a webhook payload)."""

    job_id: str
    status: str  # created | started | completed | failed
    created: datetime | None
    updated: datetime | None
    request: dict[str, Any]
    result: UpscaleResult | GenerationResult | None
    error: str | None
    captcha: Captcha | None
    type: str | None = None
    code: int | None = None
    error_details: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def pending(self) -> bool:
        return self.status in ("created", "started")

    @property
    def done(self) -> bool:
        return not self.pending

    def __repr__(self) -> str:
        return _short_repr(self, job_id=self.job_id, status=self.status, error=self.error)

    def _repr_html_(self) -> str:
        rows = [
            ("job", self.job_id),
            ("status", self.status),
            ("created", self.created.isoformat() if self.created else None),
            ("updated", self.updated.isoformat() if self.updated else None),
            ("resolution", self.request.get("resolution")),
            ("error", self.error),
        ]
        cells = "".join(
            f"<tr><th style='text-align:left'>{name}</th><td>{html.escape(str(value))}</td></tr>"
            for name, value in rows
            if value is not None
        )
        table = f"<table>{cells}</table>"
        if self.result is not None:
            table += self.result._repr_html_()
        return table


@dataclass(frozen=True, slots=True, repr=False)
class Account:
    """``GET /accounts/{email}``: the account, its credit balance, tier and health.

    ``tier`` is ``"ultra"``, ``"pro"`` or ``"free"`` (None: not reported); what a tier
    allows is in ``accounts``. ``health`` is ``"OK"`` or the service's error text.
    """

    email: str | None
    credits: int | None
    tier: str | None = None
    health: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def healthy(self) -> bool:
        """Not reported unhealthy (an account that does not say is taken as healthy)."""
        return self.health in (None, "OK")

    def __repr__(self) -> str:
        return _short_repr(
            self, email=self.email, credits=self.credits, tier=self.tier, health=self.health
        )


# -- load statistics (GET /jobs?options=) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountLoad:
    """One account's counters in one group of the load statistics (the last 15 minutes).

    ``email`` is as the service shows it, which may be masked (``jo***@example.com``).
    A counter the answer did not carry (or carried as something else than a number) is None.
    """

    group: str  # "videos", "images" or "combined" (their union)
    email: str
    executing: int | None
    completed: int | None
    failed: int | None
    rate_limited: int | None
    avg_response_ms: int | None
    score: float | None


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job running now (``options="executing"``). ``job_id`` is as listed: pass it on as is."""

    job_id: str
    email: str | None  # possibly masked
    started: datetime | None
    elapsed_s: int | None  # the service's "mm:ss", in seconds
    group: str


@dataclass(frozen=True, slots=True)
class RecentJob:
    """A job that finished in the last 15 minutes (``options="history"``, the 10 most recent)."""

    job_id: str
    email: str | None  # possibly masked
    timestamp: datetime | None
    http_status: int | None
    response_ms: int | None
    group: str


@dataclass(frozen=True, slots=True, repr=False)
class JobStats:
    """``GET /jobs?options=``: the service's load statistics over the last 15 minutes.

    ``counters``: one :class:`AccountLoad` per group and account. ``executing`` and
    ``history`` are filled when asked for (``options="executing"`` or ``"history"``), each
    job once (the groups list a job in its media type's group and again in ``combined``).
    ``frame()`` and ``jobs_frame()`` give them as DataFrames.
    """

    option: str  # what was asked: "summary", "executing" or "history"
    emails: tuple[str, ...]
    counters: tuple[AccountLoad, ...]
    executing: tuple[RunningJob, ...] = ()
    history: tuple[RecentJob, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def job_ids(self) -> tuple[str, ...]:
        """Every job listed (running first), each once."""
        running = [job.job_id for job in self.executing]
        return tuple(dict.fromkeys(running + [job.job_id for job in self.history]))

    def frame(self) -> pd.DataFrame:
        """The counters: one row per group and account."""
        import pandas as pd

        columns = [
            "group",
            "email",
            "executing",
            "completed",
            "failed",
            "rate_limited",
            "avg_response_ms",
            "score",
        ]
        rows = [tuple(getattr(c, name) for name in columns) for c in self.counters]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for name in columns[2:-1]:
            frame[name] = frame[name].astype("Int64")
        frame["score"] = frame["score"].astype("Float64")
        return frame

    def jobs_frame(self) -> pd.DataFrame:
        """The jobs listed: one row per job, ``state`` "executing" or "finished"."""
        import pandas as pd

        columns = [
            "job_id",
            "email",
            "group",
            "state",
            "started",
            "elapsed_s",
            "http_status",
            "response_ms",
        ]
        rows = [
            (j.job_id, j.email, j.group, "executing", j.started, j.elapsed_s, None, None)
            for j in self.executing
        ] + [
            (
                j.job_id,
                j.email,
                j.group,
                "finished",
                j.timestamp,
                None,
                j.http_status,
                j.response_ms,
            )
            for j in self.history
        ]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["started"] = pd.to_datetime(frame["started"], utc=True)
        for name in ("elapsed_s", "http_status", "response_ms"):
            frame[name] = frame[name].astype("Int64")
        return frame

    def __repr__(self) -> str:
        return _short_repr(
            self,
            option=self.option,
            accounts=len(self.emails),
            executing=len(self.executing) if self.option == "executing" else None,
            history=len(self.history) if self.option == "history" else None,
        )


# -- display --------------------------------------------------------------------------


def _short_repr(obj: object, **fields: Any) -> str:
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bytes):
            shown = f"<{size_text(len(value))}>"
        elif isinstance(value, str) and len(value) > 72:
            shown = repr(value[:60] + "…")
        else:
            shown = repr(value)
        parts.append(f"{name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


def _video_html(result: UpscaleResult | GenerationResult) -> str:
    player = video_html(
        video_url=result.video_url,
        raw_bytes=result.raw_bytes,
        thumbnail_url=result.thumbnail_url,
    )
    return (
        f'<figure style="margin:0">{player}'
        f'<figcaption style="font-size:smaller">{html.escape(repr(result))}</figcaption></figure>'
    )
