"""What the ledger knows about upscale jobs: which are done, which were left running.

Batches read this to skip videos already upscaled and to wait on jobs a crashed kernel
left behind (``client.resume()``) instead of submitting them again. Plain SQL over the
ledger file on a connection of its own, so any process (a new kernel after a crash)
can ask; no pandas.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DoneUpscale", "OpenUpscale", "done_upscales", "open_upscales"]

_CHUNK = 400  # ids per query: well under SQLite's limit on bound parameters


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


@contextlib.contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection | None]:
    if not Path(path).is_file():
        yield None
        return
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    try:
        present = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='exchanges'"
        ).fetchone()
        yield conn if present else None
    finally:
        conn.close()


def done_upscales(
    path: str | os.PathLike[str], keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], DoneUpscale]:
    """For each (source id, resolution) in ``keys`` upscaled before, its latest result."""
    wanted = set(keys)
    found: dict[tuple[str, str], DoneUpscale] = {}
    sources = sorted({source for source, _ in wanted})
    with _reading(path) as conn:
        if conn is None:
            return found
        for start in range(0, len(sources), _CHUNK):
            chunk = sources[start : start + _CHUNK]
            rows = conn.execute(
                "SELECT source_id, resolution, job_id, result_id, video_url, cached, finished_at "
                "FROM exchanges WHERE outcome = 'ok' AND result_id IS NOT NULL "
                "AND (operation = 'upscale' OR (operation IN ('get_job', 'webhook') "
                "AND job_status = 'completed')) "
                f"AND source_id IN ({', '.join('?' * len(chunk))}) ORDER BY finished_at",
                chunk,
            ).fetchall()
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


def open_upscales(path: str | os.PathLike[str], *, since: float) -> list[OpenUpscale]:
    """Upscale jobs submitted at or after ``since`` (epoch seconds) and never seen finished.

    A job counts as finished once any row shows it completed or failed (a poll or a
    webhook), or a poll found it gone (404).
    """
    since_ms = round(since * 1000.0)
    with _reading(path) as conn:
        if conn is None:
            return []
        submitted = conn.execute(
            "SELECT job_id, source_id, resolution, account, reply_ref, finished_at "
            "FROM exchanges WHERE started_at >= ? AND operation = 'submit_upscale' "
            "AND job_id IS NOT NULL AND outcome != 'error' ORDER BY started_at",
            (since_ms,),
        ).fetchall()
        if not submitted:
            return []
        ended = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT job_id FROM exchanges WHERE started_at >= ? "
                "AND job_id IS NOT NULL AND (job_status IN ('completed', 'failed') "
                "OR (operation = 'get_job' AND http_status = 404))",
                (since_ms,),
            )
        }
    jobs: dict[str, OpenUpscale] = {}
    for job_id, source, resolution, account, reply_ref, finished_ms in submitted:
        if job_id not in ended and job_id not in jobs:
            jobs[job_id] = OpenUpscale(
                job_id, source, resolution, account, reply_ref, finished_ms / 1000.0
            )
    return list(jobs.values())
