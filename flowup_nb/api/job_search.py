"""Finding a job by the ``replyRef`` it was submitted with, when its 201 never arrived.

The service has one way to list jobs: its load statistics (``GET /jobs?options=executing``
for the jobs running now, ``options=history`` for the 10 most recent finished within 15
minutes). Emails there may be masked, so each listed job that could belong to one of the
accounts is read (``GET /jobs/{jobId}``), and its record's ``request.replyRef`` names the
submission it came from (docs/simulator.md, "Load statistics").

:func:`find_by_reply_ref` (awaitable calls) and :func:`find_by_reply_ref_sync` (a blocking
client) do one search; what to do with the result (adopt, wait, resubmit) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from flowup_nb.api.errors import AuthenticationError, FlowError
from flowup_nb.api.models import Job, JobStats

__all__ = [
    "BlockingJobLookup",
    "JobLookup",
    "Search",
    "email_could_be",
    "find_by_reply_ref",
    "find_by_reply_ref_sync",
    "jobs_to_read",
    "preferred",
]

# executing: jobs still running (any age); history: the 10 most recent finished.
_LISTS = ("executing", "history")
_EARLIEST = datetime.min.replace(tzinfo=UTC)


class JobLookup(Protocol):
    """The two calls a search makes, awaitable (``api.calls.UpscaleCalls`` has them)."""

    async def load_stats(self, options: str = "summary") -> JobStats: ...

    async def get_job(self, job_id: str) -> Job: ...


class BlockingJobLookup(Protocol):
    """The same two calls, blocking (a ``FlowClient``)."""

    def load_stats(self, options: str = "summary") -> JobStats: ...

    def get_job(self, job_id: str) -> Job: ...


@dataclass(frozen=True, slots=True)
class Search:
    """What one search found: ``found`` maps a reply_ref to its job; ``read`` holds the
    ids of every job whose record was read (matching or not)."""

    found: dict[str, Job]
    read: frozenset[str]


def email_could_be(shown: str | None, email: str | None) -> bool:
    """Whether ``shown`` (an email as the statistics list it, maybe ``jo***@gmail.com``)
    could be ``email``. Unknown on either side: it could."""
    if not shown or not email:
        return True
    shown, email = shown.strip().lower(), email.strip().lower()
    if "*" not in shown:
        return shown == email
    head, tail = shown.split("*", 1)[0], shown.rsplit("*", 1)[-1]
    return len(email) >= len(head) + len(tail) and email.startswith(head) and email.endswith(tail)


def jobs_to_read(
    stats: Iterable[JobStats],
    accounts: Collection[str | None],
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> list[str]:
    """Ids of the listed jobs that could be one of ``accounts``' and are not skipped."""
    listed: dict[str, None] = {}
    for answer in stats:
        shown = [(j.job_id, j.email) for j in answer.executing]
        shown += [(j.job_id, j.email) for j in answer.history]
        for job_id, email in shown:
            if any(email_could_be(email, account) for account in accounts):
                listed[job_id] = None
    ids = list(listed)
    skipped = set(skip(ids)) if skip is not None and ids else set()
    return [job_id for job_id in ids if job_id not in skipped]


def preferred(jobs: Iterable[Job]) -> Job | None:
    """The job to adopt among several of one submission (a resend can make twins): a
    completed one, else one still running, else a failed one; the latest first."""
    rank = {"completed": 0, "created": 1, "started": 1}

    def key(job: Job) -> tuple[int, float]:
        created = job.created or _EARLIEST
        return (rank.get(job.status, 2), -created.timestamp())

    return min(jobs, key=key, default=None)


def _match(records: Iterable[Job], refs: Mapping[str, str | None]) -> dict[str, Job]:
    by_ref: dict[str, list[Job]] = {}
    for job in records:
        ref = job.request.get("replyRef")
        if isinstance(ref, str) and ref in refs:
            by_ref.setdefault(ref, []).append(job)
    return {ref: best for ref, jobs in by_ref.items() if (best := preferred(jobs)) is not None}


async def find_by_reply_ref(
    calls: JobLookup,
    refs: Mapping[str, str | None],
    *,
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> Search:
    """Jobs whose record's ``request.replyRef`` is one of ``refs`` (reply_ref -> the
    account it was sent to, or None), among those the statistics list now.

    ``skip(ids)`` names listed jobs not to read (e.g. those a ledger already knows). An
    error of the statistics themselves is raised; a record that cannot be read (expired,
    gone) is passed over, except a bad token.
    """
    if not refs:
        return Search({}, frozenset())
    stats = [await calls.load_stats(option) for option in _LISTS]
    records: list[Job] = []
    wanted = jobs_to_read(stats, set(refs.values()), skip)
    for job_id in wanted:
        try:
            records.append(await calls.get_job(job_id))
        except AuthenticationError:
            raise
        except FlowError:
            continue
    return Search(_match(records, refs), frozenset(wanted))


def find_by_reply_ref_sync(
    client: BlockingJobLookup,
    refs: Mapping[str, str | None],
    *,
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> Search:
    """:func:`find_by_reply_ref` with a blocking client."""
    if not refs:
        return Search({}, frozenset())
    stats = [client.load_stats(option) for option in _LISTS]
    records: list[Job] = []
    wanted = jobs_to_read(stats, set(refs.values()), skip)
    for job_id in wanted:
        try:
            records.append(client.get_job(job_id))
        except AuthenticationError:
            raise
        except FlowError:
            continue
    return Search(_match(records, refs), frozenset(wanted))
