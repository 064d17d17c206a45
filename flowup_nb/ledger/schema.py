"""The ledger's tables, and the steps that bring an older file up to date.

The columns here are the ledger's on both backends; a PostgreSQL ledger makes the same
tables with the server's types (backends/postgres_schema.py) and keeps its version in a
table. What follows is about the SQLite file.

The version lives in ``PRAGMA user_version``. Each step only adds (tables, columns,
indexes), so a file written by a newer toolkit still opens in an older one, and a
colleague's old file merges into a new one. A step runs inside one ``BEGIN IMMEDIATE``
transaction that also bumps the version, so two kernels opening an old file at once
cannot both migrate it, and a crash mid-step leaves the old version intact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = [
    "ATTEMPT_COLUMNS",
    "ATTEMPT_TYPES",
    "COLUMN_TYPES",
    "EXCHANGE_COLUMNS",
    "FLAG_COLUMNS",
    "SCHEMA_VERSION",
    "column_list",
    "migrate",
    "schema_version",
]

# Version 1: the first release's columns, one row per exchange (credits_spent and
# expected_cost are derived at read time, never stored: see frame.py).
_V1_COLUMNS: tuple[tuple[str, str], ...] = (
    ("call_id", "TEXT PRIMARY KEY NOT NULL"),
    ("session_id", "TEXT"),
    ("started_at", "INTEGER NOT NULL"),  # UTC epoch milliseconds
    ("finished_at", "INTEGER NOT NULL"),  # UTC epoch milliseconds
    ("wall_ms", "REAL"),
    ("endpoint", "TEXT"),
    ("mode", "TEXT"),
    ("attempt", "INTEGER"),
    ("job_id", "TEXT"),
    ("account", "TEXT"),
    ("source_id", "TEXT"),
    ("resolution", "TEXT"),
    ("http_status", "INTEGER"),
    ("outcome", "TEXT"),
    ("error_type", "TEXT"),
    ("error_reason", "TEXT"),
    ("retry_after_s", "REAL"),
    ("captcha_quality", "INTEGER"),
    ("cached", "INTEGER"),
    ("remaining_credits", "INTEGER"),
    ("captcha_service", "TEXT"),
    ("captcha_ms", "INTEGER"),
    ("captcha_attempts", "INTEGER"),
    ("captcha_failures", "INTEGER"),
    ("result_id", "TEXT"),
    ("video_url", "TEXT"),
    ("tags", "TEXT"),
)

# Version 2: the rest of what the client's Exchange carries, and the child table of
# captcha attempts (one exchange can report up to captchaRetry of them).
_V2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("operation", "TEXT"),
    ("method", "TEXT"),
    ("job_status", "TEXT"),
    ("will_retry", "INTEGER"),
    ("model", "TEXT"),
    ("bytes_received", "INTEGER"),
    ("reply_ref", "TEXT"),
    ("error_message", "TEXT"),
)

# Version 4: who recorded the row and on which machine (a team ledger has many of both).
_V4_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user", "TEXT"),
    ("host", "TEXT"),
)

EXCHANGE_COLUMNS: tuple[str, ...] = tuple(
    name for name, _ in _V1_COLUMNS + _V2_COLUMNS + _V4_COLUMNS
)
# Columns whose SQLite type is INTEGER holding 0/1: a PostgreSQL ledger stores them as
# SMALLINT, the other INTEGER columns as BIGINT (epoch milliseconds, byte counts).
FLAG_COLUMNS: tuple[str, ...] = ("captcha_quality", "cached", "will_retry")
COLUMN_TYPES: dict[str, str] = {
    name: decl.split()[0] for name, decl in _V1_COLUMNS + _V2_COLUMNS + _V4_COLUMNS
}
ATTEMPT_TYPES: dict[str, str] = {
    "call_id": "TEXT",
    "idx": "INTEGER",
    "service": "TEXT",
    "task_id": "TEXT",
    "duration_ms": "INTEGER",
    "success": "INTEGER",
    "error": "TEXT",
}
ATTEMPT_COLUMNS: tuple[str, ...] = tuple(ATTEMPT_TYPES)


def column_list(names: tuple[str, ...] | list[str]) -> str:
    """Column names quoted for SQL (``user`` is a reserved word in PostgreSQL)."""
    return ", ".join(f'"{name}"' for name in names)


def _to_v1(conn: sqlite3.Connection) -> None:
    columns = ",\n  ".join(f"{name} {decl}" for name, decl in _V1_COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS exchanges (\n  {columns}\n)")
    # frame(since=..., until=...) filters on it.
    conn.execute("CREATE INDEX IF NOT EXISTS exchanges_started_at ON exchanges(started_at)")


def _to_v2(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_info(exchanges)")}
    for name, decl in _V2_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE exchanges ADD COLUMN {name} {decl}")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS captcha_attempts (
  call_id TEXT NOT NULL REFERENCES exchanges(call_id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  service TEXT,
  task_id TEXT,
  duration_ms INTEGER,
  success INTEGER,
  error TEXT,
  PRIMARY KEY (call_id, idx)
)"""
    )


def _to_v3(conn: sqlite3.Connection) -> None:
    # Batches and resume() look rows up by job and by source video: keep that off a table scan.
    conn.execute("CREATE INDEX IF NOT EXISTS exchanges_job_id ON exchanges(job_id)")
    conn.execute("CREATE INDEX IF NOT EXISTS exchanges_source_id ON exchanges(source_id)")


def _to_v4(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_info(exchanges)")}
    for name, decl in _V4_COLUMNS:
        if name not in present:
            conn.execute(f'ALTER TABLE exchanges ADD COLUMN "{name}" {decl}')


# MIGRATIONS[n] brings a version n-1 file to version n.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _to_v1,
    2: _to_v2,
    3: _to_v3,
    4: _to_v4,
}
SCHEMA_VERSION = max(_MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to :data:`SCHEMA_VERSION` (never down); returns the version found.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    found = schema_version(conn)
    if found >= SCHEMA_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the write lock.
        found = schema_version(conn)
        for version in range(found + 1, SCHEMA_VERSION + 1):
            _MIGRATIONS[version](conn)
        if found < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
