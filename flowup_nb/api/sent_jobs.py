"""Finding the jobs upscale requests started when their answers were lost.

A submit whose 201 was cut off, a sync upscale whose connection broke, or a call that a
KeyboardInterrupt or a cancellation ended may have started a job that runs on. Sending
the request again would start a twin that runs (and, where the service bills every
execution, is charged) a second time. So the client looks for it first, and
``client.resume()`` after an interruption: the load statistics list the jobs running now
(and the 10 most recent finished), each listed job that could be the account's is read,
and its record's ``request`` says what was sent (docs/simulator.md, "Load statistics").

:class:`SentJob` says what to look for; :func:`find_sent` (awaitable calls) and
:func:`find_sent_sync` (a blocking client) do the search with the listing rules of
``api.job_search``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from flowup_nb.api.errors import AuthenticationError, FlowError
from flowup_nb.api.job_search import BlockingJobLookup, JobLookup, jobs_to_read, preferred
from flowup_nb.api.models import Job, JobStats

__all__ = ["SentJob", "Skip", "find_sent", "find_sent_sync"]

Skip = Callable[[Sequence[str]], Collection[str]]  # listed job ids -> those not to read


@dataclass(frozen=True, slots=True)
class SentJob:
    """The job one upscale request may have started.

    A submit carries a replyRef of its own, echoed in its job's record: only that job
    matches. A sync upscale has none: a job of the same video and resolution matches.
    ``running_only``: only an unfinished job (before a resend: once the first run has
    finished, a resend is a free cached answer and runs nothing).
    """

    source_id: str
    resolution: str
    reply_ref: str | None
    account: str | None
    running_only: bool = False

    @property
    def lists(self) -> tuple[str, ...]:
        return ("executing",) if self.running_only else ("executing", "history")

    def matches(self, job: Job) -> bool:
        request = job.request
        if (request.get("mediaGenerationId"), request.get("resolution")) != (
            self.source_id,
            self.resolution,
        ):
            return False
        if self.running_only and not job.pending:
            return False
        return self.reply_ref is None or request.get("replyRef") == self.reply_ref


async def find_sent(
    calls: JobLookup, wanted: Sequence[SentJob], *, skip: Skip | None = None
) -> list[Job | None]:
    """For each of ``wanted``, its job if the statistics list it now (else None). The jobs
    running now are read first (a lost answer's job has just started), the finished ones
    only for what is still missing. An error of the statistics is raised; a record that
    cannot be read is passed over. ``skip(ids)``: listed jobs not to read (known ones)."""
    search = _Search(wanted, skip)
    for name in search.lists():
        for job_id in search.to_read(await calls.load_stats(name)):
            try:
                search.read(await calls.get_job(job_id))
            except AuthenticationError:
                raise
            except FlowError:
                continue
        if search.complete:
            break
    return search.found()


def find_sent_sync(
    client: BlockingJobLookup, wanted: Sequence[SentJob], *, skip: Skip | None = None
) -> list[Job | None]:
    """:func:`find_sent` with a blocking client."""
    search = _Search(wanted, skip)
    for name in search.lists():
        for job_id in search.to_read(client.load_stats(name)):
            try:
                search.read(client.get_job(job_id))
            except AuthenticationError:
                raise
            except FlowError:
                continue
        if search.complete:
            break
    return search.found()


class _Search:
    """The state of one search, shared by the two loops."""

    def __init__(self, wanted: Sequence[SentJob], skip: Skip | None) -> None:
        self.wanted = list(wanted)
        self.skip = skip
        self.seen: set[str] = set()
        self.matches: list[list[Job]] = [[] for _ in self.wanted]

    def lists(self) -> Iterable[str]:
        return [name for name in ("executing", "history") if self._needs(name)]

    def _needs(self, name: str) -> bool:
        return any(
            name in w.lists and not m for w, m in zip(self.wanted, self.matches, strict=True)
        )

    @property
    def complete(self) -> bool:
        return all(self.matches)

    def to_read(self, stats: JobStats) -> list[str]:
        accounts = {w.account for w in self.wanted}
        listed = [i for i in jobs_to_read([stats], accounts) if i not in self.seen]
        skipped = set(self.skip(listed)) if self.skip is not None and listed else set()
        ids = [i for i in listed if i not in skipped]
        self.seen.update(listed)
        return ids

    def read(self, job: Job) -> None:
        for wanted, found in zip(self.wanted, self.matches, strict=True):
            if wanted.matches(job):
                found.append(job)

    def found(self) -> list[Job | None]:
        return [preferred(jobs) for jobs in self.matches]
