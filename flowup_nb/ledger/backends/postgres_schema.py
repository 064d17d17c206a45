"""The ledger's tables on PostgreSQL: the same columns as the SQLite file, one version table.

``flowup_schema_version`` holds one row per step applied. Steps only add, as on SQLite.
Many kernels may open a fresh database at the same moment: each takes a transaction-level
advisory lock before looking at the version, so exactly one of them creates the tables
and the others find them made. A role that may only insert and select (docs/team.md)
never needs to migrate: it reads the version and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flowup_nb.ledger.schema import COLUMN_TYPES, EXCHANGE_COLUMNS, FLAG_COLUMNS, SCHEMA_VERSION

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATION_LOCK", "VERSION_TABLE", "migrate", "schema_version"]

VERSION_TABLE = "flowup_schema_version"
# pg_advisory_xact_lock's key: any constant no other application is likely to use.
MIGRATION_LOCK = 0x666C6F7775706C67  # "flowuplg"


def _column_type(name: str) -> str:
    if name in FLAG_COLUMNS:
        return "smallint"
    return {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision"}[COLUMN_TYPES[name]]


def _create(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Version 4 in one step: the first PostgreSQL ledgers start where SQLite got to."""
    columns = [
        f'"{name}" {_column_type(name)}'
        + (" PRIMARY KEY" if name == "call_id" else "")
        + (" NOT NULL" if name in ("started_at", "finished_at") else "")
        for name in EXCHANGE_COLUMNS
    ]
    # seq: the insertion order (SQLite's rowid), which incremental reads follow;
    # recorded_at: the server's clock when the row was inserted, which tells a reader
    # how far back a row that is still being committed can be (see backends/postgres.py).
    body = ",\n  ".join(
        [
            "seq bigint GENERATED ALWAYS AS IDENTITY",
            *columns,
            "recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()",
        ]
    )
    conn.execute(f"CREATE TABLE IF NOT EXISTS exchanges (\n  {body}\n)".encode())
    for name, column in (
        ("exchanges_seq", "seq"),
        ("exchanges_started_at", "started_at"),
        ("exchanges_job_id", "job_id"),
        ("exchanges_source_id", "source_id"),
    ):
        unique = "UNIQUE " if column == "seq" else ""
        conn.execute(f"CREATE {unique}INDEX IF NOT EXISTS {name} ON exchanges ({column})".encode())
    # No foreign key to exchanges (the SQLite file does not enforce its one either): an
    # attempt row never needs the server to look its exchange up on insert.
    conn.execute(
        b"""CREATE TABLE IF NOT EXISTS captcha_attempts (
  call_id text NOT NULL,
  idx integer NOT NULL,
  service text,
  task_id text,
  duration_ms bigint,
  success smallint,
  error text,
  PRIMARY KEY (call_id, idx)
)"""
    )


_STEPS: dict[int, Callable[[psycopg.Connection[tuple[object, ...]]], None]] = {4: _create}
assert max(_STEPS) == SCHEMA_VERSION


def schema_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The highest step applied (0 for a database without the ledger's tables)."""
    present = conn.execute(b"SELECT to_regclass('flowup_schema_version') IS NOT NULL").fetchone()
    if not present or not present[0]:
        return 0
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}".encode()).fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Bring the database to SCHEMA_VERSION (never down); returns the version found.

    ``conn`` is in autocommit mode; the steps run in one transaction holding the lock.
    """
    found = schema_version(conn)
    if found >= SCHEMA_VERSION:
        return found
    with conn.transaction():
        conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())".encode()
        )
        found = schema_version(conn)  # another kernel may have migrated while we waited
        for version in range(found + 1, SCHEMA_VERSION + 1):
            step = _STEPS.get(version)
            if step is not None:
                step(conn)
        if found < SCHEMA_VERSION:
            conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)".encode(), (SCHEMA_VERSION,)
            )
    return found
