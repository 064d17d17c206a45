"""Finding a job by the ``replyRef`` it was submitted with, when its 201 never arrived.

The service has one way to list jobs: its load statistics (``GET /jobs?options=executing``
for the jobs running now, ``options=history`` for the 10 most recent finished within 15
minutes). Emails there may be masked, so each listed job that could belong to one of the
accounts is read (``GET /jobs/{jobId}``), and its record's ``request.replyRef`` names the
submission it came from (docs/simulator.md, "Load statistics").

:func:`find_jobs` (awaitable calls) and :func:`find_jobs_sync` (a blocking client) do one
search for jobs by any key of their record; :func:`find_by_reply_ref` and its blocking twin
search by ``replyRef``. What to do with the result (adopt, wait, resubmit) is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from flowup_nb.api.errors import AuthenticationError, FlowError
from flowup_nb.api.models import Job, JobStats

__all__ = [
    "LISTS",
    "BlockingJobLookup",
    "JobLookup",
    "Search",
    "email_could_be",
    "find_by_reply_ref",
    "find_by_reply_ref_sync",
    "find_jobs",
    "find_jobs_sync",
    "jobs_to_read",
    "preferred",
    "reply_ref_of",
]

# executing: jobs still running (any age); history: the 10 most recent finished.
LISTS = ("executing", "history")
K = TypeVar("K", bound=Hashable)
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
class Search(Generic[K]):
    """What one search found: ``found`` maps each wanted key to its job; ``read`` holds
    the ids of every job whose record was read (matching or not)."""

    found: dict[K, Job]
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


def reply_ref_of(job: Job) -> str | None:
    """The ``replyRef`` the job's submission carried (its record's ``request`` echo)."""
    ref = job.request.get("replyRef")
    return ref if isinstance(ref, str) and ref else None


def _match(
    records: Iterable[Job], wanted: Mapping[K, str | None], key: Callable[[Job], K | None]
) -> dict[K, Job]:
    by_key: dict[K, list[Job]] = {}
    for job in records:
        found = key(job)
        if found is not None and found in wanted:
            by_key.setdefault(found, []).append(job)
    return {k: best for k, jobs in by_key.items() if (best := preferred(jobs)) is not None}


async def find_jobs(
    calls: JobLookup,
    wanted: Mapping[K, str | None],
    key: Callable[[Job], K | None],
    *,
    options: Sequence[str] = LISTS,
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> Search[K]:
    """Jobs whose ``key(record)`` is one of ``wanted`` (key -> the account it belongs to,
    or None), among those the statistics list now (``options``: which lists to ask).

    ``skip(ids)`` names listed jobs not to read (e.g. those a ledger already knows). An
    error of the statistics themselves is raised; a record that cannot be read (expired,
    gone) is passed over, except with a bad token.
    """
    if not wanted:
        return Search({}, frozenset())
    stats = [await calls.load_stats(option) for option in options]
    records: list[Job] = []
    to_read = jobs_to_read(stats, set(wanted.values()), skip)
    for job_id in to_read:
        try:
            records.append(await calls.get_job(job_id))
        except AuthenticationError:
            raise
        except FlowError:
            continue
    return Search(_match(records, wanted, key), frozenset(to_read))


def find_jobs_sync(
    client: BlockingJobLookup,
    wanted: Mapping[K, str | None],
    key: Callable[[Job], K | None],
    *,
    options: Sequence[str] = LISTS,
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> Search[K]:
    """:func:`find_jobs` with a blocking client (e.g. from inside a ``FlowClient`` call)."""
    if not wanted:
        return Search({}, frozenset())
    stats = [client.load_stats(option) for option in options]
    records: list[Job] = []
    to_read = jobs_to_read(stats, set(wanted.values()), skip)
    for job_id in to_read:
        try:
            records.append(client.get_job(job_id))
        except AuthenticationError:
            raise
        except FlowError:
            continue
    return Search(_match(records, wanted, key), frozenset(to_read))


async def find_by_reply_ref(
    calls: JobLookup,
    refs: Mapping[str, str | None],
    *,
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> Search[str]:
    """The jobs submitted with one of ``refs`` (reply_ref -> account, or None)."""
    return await find_jobs(calls, refs, reply_ref_of, skip=skip)


def find_by_reply_ref_sync(
    client: BlockingJobLookup,
    refs: Mapping[str, str | None],
    *,
    skip: Callable[[Sequence[str]], Collection[str]] | None = None,
) -> Search[str]:
    """:func:`find_by_reply_ref` with a blocking client."""
    return find_jobs_sync(client, refs, reply_ref_of, skip=skip)
