"""Export a ledger to CSV or Parquet, and load a colleague's export (or ledger file) back.

An export is the typed frame (derived columns included, for whoever reads it) plus a
``captcha_attempts_json`` column holding each exchange's attempts. Loading keeps only
the stored columns and recomputes the rest, so the key (``call_id``) makes a merge
idempotent. Signed media URLs lose their query string (the signature) unless asked.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flowup_nb.api.media import SIGNED_PART
from flowup_nb.ledger.rows import Row
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ATTEMPTS_COLUMN", "export", "load", "rows_of_tables", "strip_url_secrets"]

ATTEMPTS_COLUMN = "captcha_attempts_json"
_CSV = (".csv",)
_PARQUET = (".parquet", ".pq")
_SQLITE = (".sqlite", ".sqlite3", ".db")
_TIME = ("started_at", "finished_at")
_INT = (
    "attempt",
    "http_status",
    "captcha_quality",
    "cached",
    "remaining_credits",
    "captcha_ms",
    "captcha_attempts",
    "captcha_failures",
    "will_retry",
    "bytes_received",
)
_FLAG = ("captcha_quality", "cached", "will_retry")
_FLOAT = ("wall_ms", "retry_after_s")


def _kind(path: Path, *, reading: bool) -> str:
    suffix = path.suffix.lower()
    if suffix in _CSV:
        return "csv"
    if suffix in _PARQUET:
        return "parquet"
    if reading and suffix in _SQLITE:
        return "sqlite"
    accepted = ", ".join(_CSV + _PARQUET + (_SQLITE if reading else ()))
    raise ValueError(
        f"{path.name}: unknown file type {suffix or '(none)'!r}; use one of {accepted}"
    )


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            "Parquet needs pyarrow: `pip install pyarrow` (or export to .csv instead)"
        ) from None


def strip_url_secrets(urls: pd.Series) -> pd.Series:
    """``https://host/v.mp4?Expires=..&Signature=..`` -> ``https://host/v.mp4``: the rule of
    ``flowup_nb.api.media.public_url``, applied to a whole column at once."""
    return urls.str.replace(SIGNED_PART, "", regex=True)


def _attempts_json(frame: pd.DataFrame, attempts: pd.DataFrame) -> pd.Series:
    by_call: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ordered = attempts.sort_values(["call_id", "idx"], kind="stable")
    for call_id, service, task_id, duration, success, error in zip(
        ordered["call_id"].tolist(),
        ordered["service"].astype("object").tolist(),
        ordered["task_id"].astype("object").tolist(),
        ordered["duration_ms"].astype("object").tolist(),
        ordered["success"].astype("object").tolist(),
        ordered["error"].astype("object").tolist(),
        strict=True,
    ):
        by_call[call_id].append(
            {
                "service": _plain(service),
                "task_id": _plain(task_id),
                "duration_ms": _plain(duration),
                "success": _plain(success),
                "error": _plain(error),
            }
        )
    encoded = {call: json.dumps(items, separators=(",", ":")) for call, items in by_call.items()}
    return frame["call_id"].map(encoded).astype("str")


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def export(
    frame: pd.DataFrame,
    attempts: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    include_urls: bool = False,
) -> Path:
    target = Path(path).expanduser()
    kind = _kind(target, reading=False)
    if kind == "parquet":
        _need_pyarrow()
    out = frame.copy()
    if not include_urls:
        out["video_url"] = strip_url_secrets(out["video_url"])
    out[ATTEMPTS_COLUMN] = _attempts_json(out, attempts)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    # Written beside, then renamed: a reader never sees half a file.
    if kind == "csv":
        for name in ("started_at", "finished_at"):
            out[name] = out[name].dt.tz_convert("UTC")
        out.to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        out.to_parquet(partial, index=False)
    os.replace(partial, target)
    return target


# -- loading ----------------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> list[Row]:
    """The rows of an export or a ledger file, ready for ``INSERT OR IGNORE``."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"no file to import at {source}")
    kind = _kind(source, reading=True)
    if kind == "sqlite":
        return _load_sqlite(source)
    if kind == "parquet":
        _need_pyarrow()
        table = pd.read_parquet(source)
    else:
        table = pd.read_csv(source, dtype="str", keep_default_na=False, na_values=[""])
    return _rows_from_table(table, source)


def _rows_from_table(table: pd.DataFrame, source: Path) -> list[Row]:
    missing = [c for c in ("call_id", "started_at", "finished_at") if c not in table.columns]
    if missing:
        raise ValueError(
            f"{source.name} is not a ledger export: it lacks the column(s) {missing} "
            f"(make one with Ledger.export())"
        )
    table = table.loc[table["call_id"].notna()]
    columns: dict[str, list[Any]] = {}
    for name in EXCHANGE_COLUMNS:
        if name not in table.columns:
            columns[name] = [None] * len(table)
        elif name in _TIME:
            columns[name] = _epoch_ms(table[name])
        elif name in _FLAG:
            columns[name] = _flags(table[name])
        elif name in _INT:
            columns[name] = _python(pd.to_numeric(table[name], errors="coerce").astype("Int64"))
        elif name in _FLOAT:
            columns[name] = _python(pd.to_numeric(table[name], errors="coerce"))
        else:
            columns[name] = _python(table[name])
    call_ids = columns["call_id"]
    attempt_lists: list[list[tuple[Any, ...]]] = [[] for _ in call_ids]
    if ATTEMPTS_COLUMN in table.columns:
        for i, encoded in enumerate(_python(table[ATTEMPTS_COLUMN])):
            if encoded:
                attempt_lists[i] = _attempt_rows(call_ids[i], encoded)
    values = list(zip(*(columns[name] for name in EXCHANGE_COLUMNS), strict=True))
    return list(zip(values, attempt_lists, strict=True))


def _attempt_rows(call_id: str, encoded: str) -> list[tuple[Any, ...]]:
    try:
        items = json.loads(encoded)
    except ValueError:
        return []
    return [
        (
            call_id,
            idx,
            item.get("service"),
            item.get("task_id"),
            item.get("duration_ms"),
            None if item.get("success") is None else int(bool(item["success"])),
            item.get("error"),
        )
        for idx, item in enumerate(items)
        if isinstance(item, dict)
    ]


def _python(series: pd.Series) -> list[Any]:
    """Plain Python values (sqlite3 binds no numpy scalars), None for missing."""
    return [_plain(v) for v in series.astype("object").tolist()]


def _epoch_ms(series: pd.Series) -> list[Any]:
    if pd.api.types.is_numeric_dtype(series):
        return _python(pd.to_numeric(series).round().astype("Int64"))
    stamps = pd.to_datetime(series, utc=True, format="ISO8601")
    ms = stamps.to_numpy(dtype="datetime64[ns]").view("int64") // 1_000_000
    return [None if missing else int(v) for v, missing in zip(ms, stamps.isna(), strict=True)]


def _flags(series: pd.Series) -> list[Any]:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return [None if v is None else int(bool(v)) for v in _python(series)]
    truth = {"true": 1, "1": 1, "yes": 1, "false": 0, "0": 0, "no": 0}
    return [None if v is None else truth.get(str(v).strip().lower()) for v in _python(series)]


def _load_sqlite(source: Path) -> list[Row]:
    # Read-only, through a URI: importing must not migrate or lock a colleague's file.
    conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if "exchanges" not in tables:
            raise ValueError(f"{source.name} is not a flowup-nb ledger (no exchanges table)")
        present = {row[1] for row in conn.execute("PRAGMA table_info(exchanges)")}
        select = ", ".join(name if name in present else "NULL" for name in EXCHANGE_COLUMNS)
        values = conn.execute(f"SELECT {select} FROM exchanges").fetchall()
        attempts: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        if "captcha_attempts" in tables:
            query = f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM captcha_attempts ORDER BY idx"
            for attempt in conn.execute(query):
                attempts[attempt[0]].append(attempt)
    finally:
        conn.close()
    return [(row, attempts.get(row[0], [])) for row in values]


def rows_of_tables(exchanges: pa.Table, attempts: pa.Table) -> list[Row]:
    """Rows read from another ledger (Arrow tables of its stored columns) -> rows to
    insert; columns the other ledger lacks are empty."""
    n = exchanges.num_rows
    names = set(exchanges.column_names)
    columns = [
        exchanges.column(name).to_pylist() if name in names else [None] * n
        for name in EXCHANGE_COLUMNS
    ]
    by_call: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    if attempts.num_rows:
        present = set(attempts.column_names)
        attempt_columns = [
            attempts.column(name).to_pylist() if name in present else [None] * attempts.num_rows
            for name in ATTEMPT_COLUMNS
        ]
        for attempt in sorted(zip(*attempt_columns, strict=True), key=lambda a: a[1] or 0):
            by_call[attempt[0]].append(attempt)
    values = list(zip(*columns, strict=True))
    return [(row, by_call.get(row[0], [])) for row in values]
