"""What the ledger knows about upscale jobs: which are done, which were left running.

Batches read this to skip videos already upscaled and to wait on jobs a crashed kernel
left behind (``client.resume()``) instead of submitting them again. Plain SQL, no
pandas, on whatever ``source`` names: an open Ledger, a ledger file (read on a
connection of its own, so any process, a new kernel after a crash, can ask), or a
server ledger's URL.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowup_nb.ledger.store import Ledger

__all__ = [
    "DoneUpscale",
    "InterruptedUpscale",
    "OpenIntent",
    "OpenUpscale",
    "done_upscales",
    "interrupted_upscales",
    "known_job_ids",
    "open_intents",
    "open_upscales",
]

_CHUNK = 400  # ids per query: well under SQLite's limit on bound parameters


class _Rows(Protocol):
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class _FileRows:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()


class _NoRows:
    """A ledger not written yet (no file, or no table): every question has no rows."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return []


def _rows_in(conn: _Rows, sql: str, values: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` for ``values``, a chunk at a time: ``{marks}`` in ``sql`` stands
    for the chunk's placeholders."""
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        yield from conn.query(sql.format(marks=", ".join("?" * len(chunk))), chunk)


def _firsts(conn: _Rows, sql: str, since_ms: int) -> set[Any]:
    """The first column of ``sql``'s rows, its one parameter ``since_ms``."""
    return {row[0] for row in conn.query(sql, (since_ms,))}


@dataclass(frozen=True, slots=True)
class DoneUpscale:
    """The latest completed upscale of one (source video, resolution)."""

    source_id: str
    resolution: str
    job_id: str | None
    result_id: str | None
    video_url: str | None
    cached: bool | None
    finished_at: float  # UTC epoch seconds


@dataclass(frozen=True, slots=True)
class OpenUpscale:
    """An upscale job that was submitted and never seen completed, failed or gone."""

    job_id: str
    source_id: str | None
    resolution: str | None
    account: str | None
    reply_ref: str | None
    submitted_at: float  # UTC epoch seconds


@dataclass(frozen=True, slots=True)
class OpenIntent:
    """A submission a batch was about to send, with no job seen for it since: the process
    may have died before its 201 was recorded (or before it was sent at all)."""

    reply_ref: str
    source_id: str | None
    resolution: str | None
    account: str | None
    written_at: float  # UTC epoch seconds

    @property
    def key(self) -> tuple[str | None, str | None]:
        return (self.source_id, self.resolution)


@contextlib.contextmanager
def _reading(source: str | os.PathLike[str] | Ledger) -> Iterator[_Rows]:
    from flowup_nb.ledger.location import SqliteLocation, resolve_location
    from flowup_nb.ledger.store import Ledger, open_ledger_at

    if isinstance(source, Ledger):
        yield source._open_backend()
        return
    location = resolve_location(source)
    if not isinstance(location, SqliteLocation):
        with open_ledger_at(location) as ledger:
            yield ledger._open_backend()
        return
    path = location.path
    if not Path(path).is_file():
        yield _NoRows()
        return
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    try:
        present = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='exchanges'"
        ).fetchone()
        yield _FileRows(conn) if present else _NoRows()
    finally:
        conn.close()


def done_upscales(
    path: str | os.PathLike[str] | Ledger, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], DoneUpscale]:
    """For each (source id, resolution) in ``keys`` upscaled before, its latest result."""
    with _reading(path) as conn:
        return _done_in(conn, keys)


def _done_in(conn: _Rows, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], DoneUpscale]:
    wanted = set(keys)
    found: dict[tuple[str, str], DoneUpscale] = {}
    sources = sorted({source for source, _ in wanted})
    rows = _rows_in(
        conn,
        "SELECT source_id, resolution, job_id, result_id, video_url, cached, finished_at "
        "FROM exchanges WHERE outcome = 'ok' AND result_id IS NOT NULL "
        "AND (operation = 'upscale' OR (operation IN ('get_job', 'webhook') "
        "AND job_status = 'completed')) AND source_id IN ({marks}) ORDER BY finished_at",
        sources,
    )
    # Chunks come in order of their sources, rows in each by finish: the latest wins.
    for source, resolution, job_id, result_id, url, cached, finished_ms in rows:
        key = (source, resolution)
        if key in wanted:
            found[key] = DoneUpscale(
                source,
                resolution,
                job_id,
                result_id,
                url,
                None if cached is None else bool(cached),
                finished_ms / 1000.0,
            )
    return found


def open_upscales(path: str | os.PathLike[str] | Ledger, *, since: float) -> list[OpenUpscale]:
    """Upscale jobs submitted at or after ``since`` (epoch seconds) and never seen finished.

    A job is submitted by its 201, or adopted: found again for one of the ledger's intents
    after its 201 was lost (the record read then carries the intent's ``reply_ref``). It
    counts as finished once any row shows it completed or failed (a poll or a webhook), or
    a poll found it gone (404) or its record expired (410).
    """
    since_ms = round(since * 1000.0)
    with _reading(path) as conn:
        submitted = conn.query(
            "SELECT job_id, source_id, resolution, account, reply_ref, finished_at "
            "FROM exchanges WHERE started_at >= ? AND job_id IS NOT NULL "
            "AND outcome != 'error' AND (operation = 'submit_upscale' OR "
            "(operation = 'get_job' AND reply_ref IN (SELECT reply_ref FROM exchanges "
            "WHERE operation = 'intent' AND started_at >= ?))) ORDER BY started_at",
            (since_ms, since_ms),
        )
        if not submitted:
            return []
        ended = _firsts(
            conn,
            "SELECT DISTINCT job_id FROM exchanges WHERE started_at >= ? "
            "AND job_id IS NOT NULL AND (job_status IN ('completed', 'failed') "
            "OR (operation = 'get_job' AND http_status IN (404, 410)))",
            since_ms,
        )
    jobs: dict[str, OpenUpscale] = {}
    for job_id, source, resolution, account, reply_ref, finished_ms in submitted:
        if job_id not in ended and job_id not in jobs:
            jobs[job_id] = OpenUpscale(
                job_id, source, resolution, account, reply_ref, finished_ms / 1000.0
            )
    return list(jobs.values())


# Rows of calls a KeyboardInterrupt or a cancellation ended before their answer was read.
_ENDED_BY_CALLER = "outcome IN ('interrupted', 'cancelled')"
_INTERRUPTED_SUBMIT = f"(operation = 'submit_upscale' AND {_ENDED_BY_CALLER})"


def open_intents(path: str | os.PathLike[str] | Ledger, *, since: float) -> list[OpenIntent]:
    """Intents written at or after ``since`` (epoch seconds) that no later row settled.

    An intent is settled by any row with its ``reply_ref`` that names a job (the 201, a
    poll or webhook of the job, the record read when it was found again), by the
    submission's final error (the batch that sent it knew its fate and acted on it), or
    by a later submission of the same video and resolution that got its answer (the video
    was sent again, e.g. because this intent's job could not be found). Oldest first.
    """
    since_ms = round(since * 1000.0)
    with _reading(path) as conn:
        written = conn.query(
            "SELECT reply_ref, source_id, resolution, account, started_at FROM exchanges "
            # A submit interrupted before its 201 was read is an intent too.
            f"WHERE (operation = 'intent' OR {_INTERRUPTED_SUBMIT}) AND started_at >= ? "
            "AND reply_ref IS NOT NULL ORDER BY started_at",
            (since_ms,),
        )
        if not written:
            return []
        settled = _firsts(
            conn,
            "SELECT DISTINCT reply_ref FROM exchanges WHERE started_at >= ? "
            "AND reply_ref IS NOT NULL AND operation != 'intent' AND (job_id IS NOT NULL "
            "OR (operation = 'submit_upscale' AND outcome = 'error' AND will_retry = 0))",
            since_ms,
        )
        answered = {
            (source, resolution): latest_ms
            for source, resolution, latest_ms in conn.query(
                "SELECT source_id, resolution, MAX(started_at) FROM exchanges "
                "WHERE started_at >= ? AND operation IN ('submit_upscale', 'upscale') "
                "AND (job_id IS NOT NULL OR result_id IS NOT NULL) GROUP BY source_id, resolution",
                (since_ms,),
            )
        }
    intents: dict[str, OpenIntent] = {}
    for reply_ref, source, resolution, account, written_ms in written:
        sent_again = answered.get((source, resolution), -1) >= written_ms
        if reply_ref not in settled and reply_ref not in intents and not sent_again:
            intents[reply_ref] = OpenIntent(
                reply_ref, source, resolution, account, written_ms / 1000.0
            )
    return list(intents.values())


def known_job_ids(path: str | os.PathLike[str] | Ledger, job_ids: Iterable[str]) -> set[str]:
    """Those of ``job_ids`` that some row of the ledger names."""
    wanted = sorted(set(job_ids))
    known: set[str] = set()
    if not wanted:
        return known
    with _reading(path) as conn:
        rows = _rows_in(
            conn, "SELECT DISTINCT job_id FROM exchanges WHERE job_id IN ({marks})", wanted
        )
        known.update(row[0] for row in rows)
    return known


@dataclass(frozen=True, slots=True)
class InterruptedUpscale:
    """A sync upscale that a KeyboardInterrupt or a cancellation ended before its answer
    was read, of a video and resolution the ledger has never seen completed."""

    source_id: str
    resolution: str
    account: str | None
    interrupted_at: float  # UTC epoch seconds: when its request was sent


def interrupted_upscales(
    path: str | os.PathLike[str] | Ledger, *, since: float
) -> list[InterruptedUpscale]:
    """Sync upscales sent at or after ``since`` (epoch seconds) and interrupted before their
    answer, whose video and resolution no row shows completed (the server may still be
    running them, or have run them: ``client.resume()`` looks). Oldest first, one per
    video and resolution."""
    since_ms = round(since * 1000.0)
    with _reading(path) as conn:
        rows = conn.query(
            "SELECT source_id, resolution, account, started_at FROM exchanges "
            f"WHERE operation = 'upscale' AND {_ENDED_BY_CALLER} AND started_at >= ? "
            "AND source_id IS NOT NULL AND resolution IS NOT NULL ORDER BY started_at",
            (since_ms,),
        )
        found: dict[tuple[str, str], InterruptedUpscale] = {}
        for source, resolution, account, started_ms in rows:
            found.setdefault(
                (source, resolution),
                InterruptedUpscale(source, resolution, account, started_ms / 1000.0),
            )
        if not found:
            return []
        # On the same connection: a server ledger is opened once per question.
        done = _done_in(conn, found)
    return [call for key, call in found.items() if key not in done]
