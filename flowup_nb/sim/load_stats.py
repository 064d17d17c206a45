"""`GET /jobs?options=`: the service's load-balancing statistics, built from its job registry.

The body has one group per media type (`videos`, `images`) and their union (`combined`);
each holds per-account counters over the last 15 service minutes and, when asked, the jobs
running now or the most recent finished ones. Emails are masked as the docs allow
(`jo***@example.com`), so a caller finds its own jobs through their records' `replyRef`,
not through these bodies. See docs/simulator.md for what is a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flowup_nb.sim import errors
from flowup_nb.sim.accounts import Account
from flowup_nb.sim.records import Job

__all__ = [
    "HISTORY_LIMIT",
    "OPTIONS",
    "WINDOW_SECONDS",
    "elapsed_text",
    "load_stats",
    "mask_email",
    "parse_options",
]

OPTIONS = ("summary", "executing", "history")
WINDOW_SECONDS = 15 * 60.0  # service seconds the counters and the history look back
HISTORY_LIMIT = 10
_GROUPS = ("videos", "images")  # "combined" is their union


def parse_options(values: Sequence[str] | None) -> str:
    """The one `options` value of a query string (missing: summary), or a 400 naming them."""
    if not values:
        return "summary"
    if len(values) > 1:
        raise errors.bad_request(
            f"options must be given once, one of {', '.join(OPTIONS)} (got {list(values)!r})"
        )
    if values[0] not in OPTIONS:
        raise errors.bad_request(
            f"options must be one of {', '.join(OPTIONS)} (got {values[0]!r}); "
            "leave it out for summary"
        )
    return values[0]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}"


def elapsed_text(seconds: float) -> str:
    """`mm:ss`, minutes unbounded (a job running 2 h shows `120:00`)."""
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _ms(t: float) -> int:
    return round(t * 1000)  # as the records' ISO times round it


def _response_ms(job: Job, time_scale: float) -> int:
    # Every job ends at its planned time, so this is `updated - created`, computed from the
    # plan: the same seed then gives the same figure, whatever the wall clock said.
    return round(job.service_seconds * time_scale * 1000)


def _http_status(job: Job) -> int:
    return 200 if job.status == "completed" else (job.code or 500)


def _group(
    jobs: list[Job],
    rate_limited: dict[str, int],
    accounts: list[Account],
    *,
    now: float,
    since: float,
    option: str,
    time_scale: float,
) -> dict[str, Any]:
    running = sorted((j for j in jobs if not j.terminal), key=lambda j: (j.created, j.seq))
    finished = sorted(
        (j for j in jobs if j.terminal and j.updated >= since),
        key=lambda j: (j.updated, j.seq),
        reverse=True,
    )
    summary: dict[str, Any] = {}
    for account in accounts:
        mine = [j for j in finished if j.email == account.email]
        executing = sum(1 for j in running if j.email == account.email)
        failed = sum(1 for j in mine if j.status == "failed")
        limited = rate_limited.get(account.email, 0)
        summary[mask_email(account.email)] = {
            "executing": executing,
            "completed": len(mine) - failed,
            "failed": failed,
            "rateLimited": limited,
            "avgResponseTime": (
                round(sum(_response_ms(j, time_scale) for j in mine) / len(mine)) if mine else 0
            ),
            "score": executing + 10 * failed + 20 * limited,
        }
    out: dict[str, Any] = {"summary": summary}
    if option == "executing":
        out["executing"] = {
            j.job_id: {
                "email": mask_email(j.email),
                "timestamp": _ms(j.created),
                "elapsed": elapsed_text(now - j.created),
            }
            for j in running
        }
    if option == "history":
        out["history"] = {
            j.job_id: {
                "email": mask_email(j.email),
                "timestamp": _ms(j.created),
                "httpStatus": _http_status(j),
                "responseTime": _response_ms(j, time_scale),
            }
            for j in finished[:HISTORY_LIMIT]
        }
    return out


def load_stats(
    jobs: Iterable[Job],
    accounts: Iterable[Account],
    *,
    now: float,
    since: float,
    option: str,
    time_scale: float,
) -> dict[str, Any]:
    """The body of `GET /jobs?options=<option>` for the jobs still in the registry."""
    accounts = list(accounts)
    jobs = list(jobs)
    rate_limited = {
        a.email: sum(1 for t, kind in a.events if kind == "rate_limited" and t >= since)
        for a in accounts
    }
    # Every simulated job is a video, and every 429 answers a video request.
    groups: dict[str, tuple[list[Job], dict[str, int]]] = {
        "videos": (jobs, rate_limited),
        "images": ([], {}),
    }
    groups["combined"] = (
        [j for name in _GROUPS for j in groups[name][0]],
        {a.email: sum(groups[name][1].get(a.email, 0) for name in _GROUPS) for a in accounts},
    )
    body: dict[str, Any] = {"emails": [mask_email(a.email) for a in accounts]}
    for name, (members, limited) in groups.items():
        body[name] = _group(
            members, limited, accounts, now=now, since=since, option=option, time_scale=time_scale
        )
    return body
