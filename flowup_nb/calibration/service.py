"""The calls made to the service, in order: read-only unless one free upscale was asked.

1. `GET /accounts`, then `GET /accounts/{email}` for each account it lists;
2. `POST /videos/upscale` (sync, 1080p) of the one video the user named, if any;
3. `GET /jobs?options=` summary, executing and history;
4. `GET /jobs/{jobId}` for the job ids given, else the last few of the ledger, else a few
   the statistics name; plus the upscale's own job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowup_nb.calibration.ledger_ids import recent_job_ids
from flowup_nb.calibration.probe import (
    ACCOUNT,
    ACCOUNTS,
    JOB,
    UPSCALE,
    Answer,
    CalibrationError,
    Call,
    Prober,
    stats_template,
)

__all__ = ["STATS_OPTIONS", "ServiceRun", "run_service"]

STATS_OPTIONS = ("summary", "executing", "history")
_FROM_STATS = 3  # job ids taken from the statistics when none were given


@dataclass
class ServiceRun:
    answers: list[Answer]
    notes: list[str]


def run_service(
    prober: Prober,
    *,
    upscale: str | None,
    job_ids: Sequence[str],
    ledger: Path | None,
    progress: Callable[[Answer], None],
) -> ServiceRun:
    answers: list[Answer] = []
    notes: list[str] = []

    def send(call: Call) -> Answer:
        answer = prober.send(call)
        answers.append(answer)
        progress(answer)
        return answer

    listing = send(Call(ACCOUNTS, "GET", "/accounts"))
    if listing.status == 401:
        raise CalibrationError(
            "the service refused the token (401 on GET /accounts): check USEAPI_TOKEN; "
            "nothing was written"
        )
    # The listing is keyed by email; anything else in it is not an account to ask about.
    emails = [k for k in listing.raw if _path_safe(k) and "@" in k] if _is_map(listing.raw) else []
    for email in emails:
        send(Call(ACCOUNT, "GET", f"/accounts/{email}"))

    lookups: list[str] = list(job_ids)
    if upscale is not None:
        body = {"mediaGenerationId": upscale, "resolution": "1080p"}
        answer = send(Call(UPSCALE, "POST", "/videos/upscale", body=body))
        upscale_job = _job_id_of(answer.raw)
        if upscale_job is not None:
            lookups.append(upscale_job)

    stats: list[Any] = []
    for option in STATS_OPTIONS:
        answer = send(Call(stats_template(option), "GET", "/jobs", params={"options": option}))
        stats.append(answer.raw)

    if not job_ids:
        from_ledger: list[str] = []
        if ledger is not None:
            from_ledger, note = recent_job_ids(ledger, emails)
            from_ledger = [i for i in from_ledger if _path_safe(i)]
            notes.append(note)
        if not from_ledger:
            from_ledger = [i for i in _ids_in_stats(stats) if _path_safe(i)][:_FROM_STATS]
            notes.append(f"{len(from_ledger)} job id(s) from the statistics")
        lookups = from_ledger + lookups
    for job_id in dict.fromkeys(lookups):
        send(Call(JOB, "GET", f"/jobs/{job_id}"))
    return ServiceRun(answers, notes)


def _is_map(value: Any) -> bool:
    return isinstance(value, dict)


def _path_safe(value: object) -> bool:
    """A value read from an answer or the ledger that can go raw into a URL path."""
    return (
        isinstance(value, str)
        and bool(value)
        and value.isprintable()
        and not any(c.isspace() or c in "/?#%" for c in value)
    )


def _job_id_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("jobId", "jobid"):  # a sync 200 says jobId, job records say jobid
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _ids_in_stats(bodies: list[Any]) -> list[str]:
    """Job ids the statistics name (maps keyed by job id under `executing`/`history`)."""
    ids: list[str] = []
    for body in bodies:
        if not isinstance(body, dict):
            continue
        for group in body.values():
            if not isinstance(group, dict):
                continue
            for section in ("executing", "history"):
                jobs = group.get(section)
                if isinstance(jobs, dict):
                    ids.extend(k for k in jobs if isinstance(k, str) and k.startswith("j"))
    return list(dict.fromkeys(ids))
