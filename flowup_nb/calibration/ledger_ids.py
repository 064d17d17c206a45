"""The last few job ids in the user's ledger, read with plain sqlite3 (best effort).

A ledger also holds jobs of the embedded simulator; only jobs of the accounts the service
lists are worth asking it about.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from pathlib import Path

__all__ = ["recent_job_ids"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCAN = 500  # most recent exchanges looked at


def recent_job_ids(path: Path, accounts: Collection[str], limit: int = 3) -> tuple[list[str], str]:
    """Up to `limit` distinct job ids, newest first, of exchanges on `accounts` (any account
    when none is known), and a note saying what was read, for the printed summary."""
    try:
        with path.open("rb") as handle:
            if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                return [], "the ledger file is not a SQLite database: no job ids from it"
    except OSError:
        return [], "no ledger file: no job ids from it"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            rows = conn.execute(
                "SELECT job_id, account FROM exchanges WHERE job_id IS NOT NULL "
                "ORDER BY started_at DESC LIMIT ?",
                (_SCAN,),
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [], f"the ledger could not be read ({type(exc).__name__}): no job ids from it"
    ids: list[str] = []
    for job_id, account in rows:
        if not isinstance(job_id, str) or job_id in ids:
            continue
        if accounts and account not in accounts and not any(a in job_id for a in accounts):
            continue  # a job of the simulator, or of an account no longer configured
        ids.append(job_id)
        if len(ids) == limit:
            break
    return ids, f"{len(ids)} recent job id(s) from the ledger"
