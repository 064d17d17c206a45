"""The upscale form's state machine: pure, I/O-free, no widgets.

One :class:`FormState` value says everything the form shows about the current
upscale: its phase, when it started, the job id, the result or the error. Each
event makes a new value through :meth:`FormState.to`, which refuses a move the
machine does not allow, so a late callback cannot drag a finished upscale back to
"started". The widget shell (``form.py``) only renders these values.

    idle -> submitting -> created -> started -> completed | failed | cancelled | error
                       \\-> completed | failed | cancelled | error   (sync mode, no job yet)
    any end state -> submitting (the next upscale)
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BUSY_PHASES",
    "END_PHASES",
    "FormState",
    "InvalidTransition",
    "Phase",
    "format_elapsed",
]


class Phase(enum.StrEnum):
    IDLE = "idle"
    SUBMITTING = "submitting"
    CREATED = "created"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"


BUSY_PHASES = frozenset({Phase.SUBMITTING, Phase.CREATED, Phase.STARTED})
END_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED, Phase.ERROR})

_ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.SUBMITTING, Phase.ERROR}),
    Phase.SUBMITTING: frozenset({Phase.CREATED, Phase.STARTED} | END_PHASES),
    Phase.CREATED: frozenset({Phase.CREATED, Phase.STARTED} | END_PHASES),
    Phase.STARTED: frozenset({Phase.STARTED} | END_PHASES),
    **{end: frozenset({Phase.SUBMITTING, Phase.ERROR}) for end in END_PHASES},
}

# What a person reads for each phase.
PHASE_LABELS: dict[Phase, str] = {
    Phase.IDLE: "ready",
    Phase.SUBMITTING: "sending",
    Phase.CREATED: "queued",
    Phase.STARTED: "upscaling",
    Phase.COMPLETED: "done",
    Phase.FAILED: "job failed",
    Phase.CANCELLED: "stopped waiting",
    Phase.ERROR: "error",
}


class InvalidTransition(RuntimeError):
    """A move the form's state machine does not allow (a bug, or a stale callback)."""


@dataclass(frozen=True, slots=True)
class FormState:
    """Everything the form shows about one upscale. Times are ``time.monotonic()`` seconds."""

    phase: Phase = Phase.IDLE
    mode: str = "sync"  # "sync" | "async"
    source_id: str | None = None
    resolution: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    job_id: str | None = None
    result: Any = None  # an UpscaleResult once completed
    error: Any = None  # an ErrorView once failed or in error
    note: str | None = None  # one line of context, e.g. what cancel left behind

    @property
    def busy(self) -> bool:
        return self.phase in BUSY_PHASES

    @property
    def label(self) -> str:
        return PHASE_LABELS[self.phase]

    def can_move_to(self, phase: Phase) -> bool:
        return phase in _ALLOWED[self.phase]

    def to(self, phase: Phase, *, now: float, **changes: Any) -> FormState:
        """The state after moving to ``phase`` at ``now``; raises :class:`InvalidTransition`."""
        phase = Phase(phase)
        if not self.can_move_to(phase):
            raise InvalidTransition(f"the upscale form cannot go from {self.phase} to {phase}")
        if phase is Phase.SUBMITTING:
            # A new upscale: forget everything about the previous one.
            fresh = FormState(phase=phase, started_at=now)
            return dataclasses.replace(fresh, **changes)
        if phase in END_PHASES:
            changes.setdefault("finished_at", now)
        return dataclasses.replace(self, phase=phase, **changes)

    def with_changes(self, **changes: Any) -> FormState:
        """The same phase with other fields changed (e.g. the job id once known)."""
        return dataclasses.replace(self, **changes)

    def elapsed(self, now: float) -> float | None:
        """Seconds since the upscale was sent (frozen once it ended); None when idle."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def status_text(self, now: float) -> str:
        """One line: phase, elapsed time, job id (e.g. ``upscaling · 12.4 s · job j17...``)."""
        parts = [self.label]
        if self.resolution and self.phase is not Phase.IDLE:
            parts.append(f"{self.resolution} {self.mode}")
        elapsed = self.elapsed(now)
        if elapsed is not None:
            parts.append(format_elapsed(elapsed))
        if self.job_id:
            parts.append(f"job {self.job_id}")
        return " · ".join(parts)


def format_elapsed(seconds: float) -> str:
    """``4.2 s``, ``1 min 05 s``: precise while short, readable when long."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
