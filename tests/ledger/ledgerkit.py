"""Helpers of the ledger tests: Exchanges built by hand, on a fixed clock."""

from __future__ import annotations

import itertools
from typing import Any

from flowup_nb.api.exchange import CaptchaAttemptRecord, Exchange, new_call_id

ACCOUNT = "jo.ultra@example.com"
OTHER_ACCOUNT = "sam.ultra@example.com"
# 2026-03-10T12:00:00Z: a fixed clock, so day buckets are known.
T0 = 1_773_144_000.0


class ExchangeFactory:
    """``make(at=seconds after T0, took=seconds, **Exchange fields)``; calls without
    ``at`` are spaced 10 s apart."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(self, at: float | None = None, took: float = 1.0, **fields: Any) -> Exchange:
        start = T0 + (next(self._counter) * 10.0 if at is None else at)
        values: dict[str, Any] = {
            "call_id": new_call_id(),
            "session_id": "session-1",
            "operation": "upscale",
            "method": "POST",
            "endpoint": "/videos/upscale",
            "started_at": start,
            "finished_at": start + took,
            "outcome": "ok",
            "mode": "sync",
            "http_status": 200,
            "account": ACCOUNT,
            "resolution": "1080p",
        }
        values.update(fields)
        return Exchange(**values)


def attempts(*spec: tuple[str, int, bool]) -> tuple[CaptchaAttemptRecord, ...]:
    """``attempts(("CapSolver", 900, False), ...)`` -> captcha attempt records."""
    return tuple(
        CaptchaAttemptRecord(service, f"task-{i}", ms, ok, None if ok else "ERROR_CAPTCHA")
        for i, (service, ms, ok) in enumerate(spec)
    )


def stored(target: object, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run on a ledger's database directly (sqlite3 or psycopg), not
    through the code under test."""
    text = str(target)
    if text.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(text, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(query.encode()).fetchall()]
    import sqlite3

    conn = sqlite3.connect(text)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def stored_columns(target: object, table: str = "exchanges") -> list[str]:
    """The columns of a ledger table, as the database itself lists them."""
    if str(target).startswith("postgresql://"):
        query = (
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_name = '{table}' ORDER BY ordinal_position"
        )
        return [str(name) for (name,) in stored(target, query)]
    return [str(row[1]) for row in stored(target, f"PRAGMA table_info({table})")]
