"""Read the ledger into a typed DataFrame, one row per exchange.

Fast on a million rows: one ``SELECT``, ``DataFrame.from_records``, then vectorised
conversions (no per-row Python). Times become ``datetime64[ns, UTC]`` (or the given
``tz``), counts nullable ``Int64``, flags ``boolean``, and low-cardinality text
``category``; derived money columns come from accounting.py.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import numpy as np
import pandas as pd

from flowup_nb.ledger.accounting import add_balance_columns, add_expected_cost, fill_from_job
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS

__all__ = [
    "CATEGORY_COLUMNS",
    "FRAME_COLUMNS",
    "TimeBound",
    "read_attempts",
    "read_frame",
    "to_bound_ms",
]

TimeBound = dt.datetime | dt.date | pd.Timestamp | dt.timedelta | pd.Timedelta | str | None

TIME_COLUMNS = ("started_at", "finished_at")
FLOAT_COLUMNS = ("wall_ms", "retry_after_s")
INT_COLUMNS = (
    "attempt",
    "http_status",
    "remaining_credits",
    "captcha_ms",
    "captcha_attempts",
    "captcha_failures",
    "bytes_received",
)
BOOL_COLUMNS = ("captcha_quality", "will_retry", "cached")
CATEGORY_COLUMNS = (
    "operation",
    "method",
    "endpoint",
    "mode",
    "outcome",
    "job_status",
    "account",
    "resolution",
    "model",
    "error_type",
    "error_reason",
    "captcha_service",
)
DERIVED_COLUMNS = ("credits_spent", "credits_added", "expected_cost", "balance_order")

# Column order of a frame: identity and time, what was asked, what came back, money,
# captcha, the rest.
FRAME_COLUMNS: tuple[str, ...] = (
    "call_id",
    "session_id",
    "started_at",
    "finished_at",
    "wall_ms",
    "operation",
    "method",
    "endpoint",
    "mode",
    "attempt",
    "will_retry",
    "job_id",
    "job_status",
    "account",
    "source_id",
    "resolution",
    "model",
    "outcome",
    "http_status",
    "error_type",
    "error_reason",
    "error_message",
    "retry_after_s",
    "captcha_quality",
    "cached",
    "remaining_credits",
    "credits_spent",
    "credits_added",
    "expected_cost",
    "balance_order",
    "result_id",
    "video_url",
    "bytes_received",
    "captcha_service",
    "captcha_ms",
    "captcha_attempts",
    "captcha_failures",
    "reply_ref",
    "tags",
)
assert set(FRAME_COLUMNS) == set(EXCHANGE_COLUMNS) | set(DERIVED_COLUMNS)


def to_bound_ms(value: TimeBound, *, tz: str | None, name: str) -> int | None:
    """A ``since``/``until`` bound -> UTC epoch ms.

    Accepts a datetime or Timestamp (naive ones are read in ``tz``, else UTC), a date
    (its midnight), an ISO string, or a duration (a timedelta, or text like ``"7 days"``)
    meaning that long before now.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            try:
                value = pd.Timedelta(value)
            except ValueError:
                raise ValueError(
                    f"{name}={value!r} is neither a time nor a duration: pass e.g. "
                    f"'2026-05-01', '2026-05-01T12:00Z', '7 days' or a datetime"
                ) from None
        else:
            value = stamp
    if isinstance(value, dt.timedelta):  # pd.Timedelta included
        stamp = pd.Timestamp.now(tz="UTC") - pd.Timedelta(value)
    elif isinstance(value, dt.datetime | dt.date):
        stamp = pd.Timestamp(value)
    else:
        raise TypeError(
            f"{name} must be a datetime, date, ISO string or timedelta, not {type(value).__name__}"
        )
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz or "UTC")
    return int(stamp.tz_convert("UTC").value // 1_000_000)


def _where(since_ms: int | None, until_ms: int | None) -> tuple[str, list[int]]:
    clauses, params = [], []
    if since_ms is not None:
        clauses.append("started_at >= ?")
        params.append(since_ms)
    if until_ms is not None:
        clauses.append("started_at < ?")
        params.append(until_ms)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _balances_before(conn: sqlite3.Connection, since_ms: int) -> dict[str, int]:
    """Each account's last reported balance among calls started before ``since``."""
    query = """
        SELECT account, remaining_credits FROM (
            SELECT account, remaining_credits,
                   row_number() OVER (PARTITION BY account
                                      ORDER BY finished_at DESC, rowid DESC) AS newest
            FROM exchanges
            WHERE started_at < ? AND remaining_credits IS NOT NULL AND account IS NOT NULL)
        WHERE newest = 1"""
    return {str(account): int(credits) for account, credits in conn.execute(query, (since_ms,))}


def read_frame(
    conn: sqlite3.Connection,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    where, params = _where(since_ms, until_ms)
    columns = ", ".join(EXCHANGE_COLUMNS)
    records = conn.execute(f"SELECT rowid, {columns} FROM exchanges{where}", params).fetchall()
    seeds = _balances_before(conn, since_ms) if since_ms is not None else None
    raw = pd.DataFrame.from_records(records, columns=["_rowid", *EXCHANGE_COLUMNS])
    del records
    return typed_frame(raw, seeds=seeds, tz=tz)


def typed_frame(
    raw: pd.DataFrame, *, seeds: dict[str, int] | None = None, tz: str | None = None
) -> pd.DataFrame:
    """Raw stored values (epoch ms, 0/1 flags, text) -> the typed frame.

    ``raw`` has the stored columns and an ``_rowid`` (insertion order) column.
    """
    n = len(raw)
    started_ms = _int_array(raw["started_at"])
    finished_ms = _int_array(raw["finished_at"])
    insertion = _int_array(raw["_rowid"]) if "_rowid" in raw else np.arange(n, dtype="int64")

    # Order by start (the order a person thinks in); insertion order breaks ties.
    order = np.lexsort((insertion, started_ms))
    if n and not (order[1:] > order[:-1]).all():
        raw = raw.take(order)
        started_ms, finished_ms, insertion = (
            a[order] for a in (started_ms, finished_ms, insertion)
        )

    out: dict[str, Any] = {}
    for name in TIME_COLUMNS:
        ms = started_ms if name == "started_at" else finished_ms
        stamps = pd.DatetimeIndex((ms * 1_000_000).view("datetime64[ns]")).tz_localize("UTC")
        out[name] = stamps.tz_convert(tz) if tz else stamps
    for name in FLOAT_COLUMNS:
        out[name] = pd.to_numeric(raw[name], errors="coerce").to_numpy(dtype="float64")
    for name in INT_COLUMNS:
        out[name] = _nullable(raw[name], "Int64")
    for name in BOOL_COLUMNS:
        out[name] = _nullable(raw[name], "boolean")
    for name in CATEGORY_COLUMNS:
        out[name] = _categorical(raw[name])
    for name in EXCHANGE_COLUMNS:
        if name not in out:
            out[name] = raw[name].astype("str").array

    frame = pd.DataFrame(out, index=pd.RangeIndex(n))

    fill_from_job(frame, "account")
    fill_from_job(frame, "resolution")
    add_balance_columns(frame, started_ms, finished_ms, insertion, seeds)
    add_expected_cost(frame, finished_ms)
    return frame[list(FRAME_COLUMNS)]


def _int_array(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").fillna(0).to_numpy(dtype="int64")


def _categorical(column: pd.Series) -> pd.Categorical:
    # Through the str dtype: its factorize is far faster than one over Python objects.
    return column.astype("str").astype("category").array


def _nullable(column: pd.Series, dtype: str) -> Any:
    numeric = pd.to_numeric(column, errors="coerce")
    return pd.array(numeric.to_numpy(dtype="float64", na_value=np.nan), dtype=dtype)


def read_attempts(conn: sqlite3.Connection, *, tz: str | None = None) -> pd.DataFrame:
    """The captcha attempts, one row each, with the fields of the exchange that reported it.

    Columns: the attempt's (``call_id``, ``idx``, ``service``, ``task_id``,
    ``duration_ms``, ``success``, ``error``) and the exchange's ``job_id``,
    ``started_at``, ``wall_ms``, ``operation``, ``account``, ``resolution``.
    """
    attempt_columns = ", ".join(f"a.{name}" for name in ATTEMPT_COLUMNS)
    query = f"""
        SELECT {attempt_columns}, e.job_id, e.started_at, e.wall_ms, e.operation,
               e.account, e.resolution
        FROM captcha_attempts AS a JOIN exchanges AS e ON e.call_id = a.call_id"""
    names = [
        *ATTEMPT_COLUMNS,
        "job_id",
        "started_at",
        "wall_ms",
        "operation",
        "account",
        "resolution",
    ]
    raw = pd.DataFrame.from_records(conn.execute(query).fetchall(), columns=names)
    started = pd.DatetimeIndex(
        (_int_array(raw["started_at"]) * 1_000_000).view("datetime64[ns]")
    ).tz_localize("UTC")
    return pd.DataFrame(
        {
            "call_id": raw["call_id"].astype("str"),
            "idx": _nullable(raw["idx"], "Int64"),
            "service": _categorical(raw["service"]),
            "task_id": raw["task_id"].astype("str"),
            "duration_ms": _nullable(raw["duration_ms"], "Int64"),
            "success": _nullable(raw["success"], "boolean"),
            "error": raw["error"].astype("str"),
            "job_id": raw["job_id"].astype("str"),
            "started_at": started.tz_convert(tz) if tz else started,
            "wall_ms": pd.to_numeric(raw["wall_ms"], errors="coerce").astype("float64"),
            "operation": _categorical(raw["operation"]),
            "account": _categorical(raw["account"]),
            "resolution": _categorical(raw["resolution"]),
        }
    )
