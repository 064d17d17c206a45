"""A ledger on a PostgreSQL server that a team's kernels share.

Writes go through psycopg 3: one short autocommitted statement per record (the exchange
and its captcha attempts together), ``ON CONFLICT DO NOTHING`` on the call id, so a
replayed or pushed row is never stored twice. Every wait is bounded (connect, statement,
TCP), so a notebook never hangs on a server that went away: the write fails fast and the
Ledger keeps the row in its fallback file. Reads go through ADBC's PostgreSQL driver,
which streams results in PostgreSQL's binary COPY format straight into Arrow.

Only INSERT and SELECT are ever issued outside the first creation of the tables, so the
least-privileged role of docs/team.md is enough.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flowup_nb.api.media import public_url
from flowup_nb.ledger.backends.base import ReaderPool, StorageError, placeholders, require_pyarrow
from flowup_nb.ledger.backends.postgres_schema import migrate
from flowup_nb.ledger.errors import LedgerError
from flowup_nb.ledger.location import PostgresLocation
from flowup_nb.ledger.schema import (
    ATTEMPT_COLUMNS,
    COLUMN_TYPES,
    EXCHANGE_COLUMNS,
    FLAG_COLUMNS,
    column_list,
)

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

    from flowup_nb.ledger.rows import Row

__all__ = ["PostgresBackend"]

_VIDEO_URL = EXCHANGE_COLUMNS.index("video_url")
_EXCHANGE_TYPES = {
    name: "int2"
    if name in FLAG_COLUMNS
    else {"TEXT": "text", "INTEGER": "int8", "REAL": "float8"}[kind]
    for name, kind in COLUMN_TYPES.items()
}
_ATTEMPT_TYPES = ("text", "int4", "text", "text", "int8", "int2", "text")


def _insert_one(attempts: int) -> bytes:
    """One exchange and ``attempts`` captcha attempts in one statement."""
    exchange = (
        f"INSERT INTO exchanges ({column_list(EXCHANGE_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(EXCHANGE_COLUMNS))}) ON CONFLICT (call_id) DO NOTHING"
    )
    if not attempts:
        return exchange.encode()
    row = f"({', '.join(['%s'] * len(ATTEMPT_COLUMNS))})"
    return (
        f"WITH e AS ({exchange}) INSERT INTO captcha_attempts ({', '.join(ATTEMPT_COLUMNS)}) "
        f"VALUES {', '.join([row] * attempts)} ON CONFLICT (call_id, idx) DO NOTHING"
    ).encode()


def _unnest(table: str, columns: Sequence[str], types: Sequence[str], conflict: str) -> bytes:
    """Many rows in one statement: one array parameter per column."""
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    return (
        f"INSERT INTO {table} ({column_list(list(columns))}) "
        f"SELECT * FROM unnest({arrays}) ON CONFLICT ({conflict}) DO NOTHING"
    ).encode()


_INSERT_MANY_EXCHANGES = _unnest(
    "exchanges", EXCHANGE_COLUMNS, [_EXCHANGE_TYPES[c] for c in EXCHANGE_COLUMNS], "call_id"
)
_INSERT_MANY_ATTEMPTS = _unnest("captcha_attempts", ATTEMPT_COLUMNS, _ATTEMPT_TYPES, "call_id, idx")
_INTEGERS = frozenset(
    i for i, name in enumerate(EXCHANGE_COLUMNS) if _EXCHANGE_TYPES[name] in ("int2", "int8")
)


def _clean(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row as the server stores it: no URL signature (many people read this database),
    no float where an integer is kept (a CSV import can bring 3.0)."""
    out = list(values)
    url = out[_VIDEO_URL]
    if isinstance(url, str):
        out[_VIDEO_URL] = public_url(url)
    for i in _INTEGERS:
        value = out[i]
        if isinstance(value, float):
            out[i] = int(value) if math.isfinite(value) else None
    return tuple(out)


class PostgresBackend:
    """See the module docstring. Connects on first use and again after a failure."""

    seq_column = "seq"
    keeps_signed_urls = False

    def __init__(self, location: PostgresLocation, *, timeout: float) -> None:
        self.location = location
        self._timeout = max(float(timeout), 0.5)
        # Rows become visible in commit order, not seq order; a transaction that took a
        # seq is over (committed or not) within its statement and idle timeouts.
        self._settle = 4 * self._timeout + 5.0
        self._ready = False  # the tables were checked (and made) by this process
        self._lock = threading.Lock()
        self._writer: psycopg.Connection[tuple[Any, ...]] | None = None
        self._readers = ReaderPool(self._connect_reader)
        self._pid = os.getpid()

    # -- connections ------------------------------------------------------------------

    def _fork_check(self) -> None:
        if self._pid != os.getpid():
            # The parent's sockets are not ours to use (nor to close) after fork().
            self._writer, self._pid = None, os.getpid()

    def _connect_writer(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        seconds = max(2, math.ceil(self._timeout))  # libpq's minimum connect_timeout
        conn = psycopg.connect(
            self.location.conninfo,
            autocommit=True,
            connect_timeout=seconds,
            # A server that vanished without closing the socket must not hang a write.
            tcp_user_timeout=int(self._timeout * 4000),
            application_name="flowup-nb",
        )
        try:
            milliseconds = int(self._timeout * 1000)
            conn.execute(
                b"SELECT set_config('statement_timeout', %s, false),"
                b" set_config('idle_in_transaction_session_timeout', %s, false),"
                b" set_config('lock_timeout', %s, false)",
                (str(milliseconds), str(milliseconds), str(milliseconds)),
            )
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_reader(self) -> Any:
        import adbc_driver_postgresql.dbapi as adbc_postgresql

        return adbc_postgresql.connect(self._reader_uri(), autocommit=True)

    def _reader_uri(self) -> str:
        uri = self.location.conninfo
        if "connect_timeout=" in uri:
            return uri
        query = urlsplit(uri).query
        return f"{uri}{'&' if query else '?'}connect_timeout={max(2, math.ceil(self._timeout))}"

    # -- the interface ------------------------------------------------------------------

    def _writing(self, action: Callable[[psycopg.Connection[tuple[Any, ...]]], int]) -> int:
        import psycopg

        with self._lock:
            self._fork_check()
            try:
                if self._writer is None or self._writer.closed:
                    self._writer = self._connect_writer()
                    self._ready = True
                return action(self._writer)
            except psycopg.Error as exc:
                # After any failure the connection may be half-broken: start afresh.
                if self._writer is not None:
                    with contextlib.suppress(Exception):
                        self._writer.close()
                self._writer = None
                raise StorageError(_message(exc, self.location)) from None

    def write_one(self, row: Row) -> None:
        values, attempts = row
        params = list(_clean(values))
        for attempt in attempts:
            params.extend(attempt)
        query = _insert_one(len(attempts))
        self._writing(lambda conn: conn.execute(query, params).rowcount)

    def write(self, rows: Sequence[Row]) -> int:
        if not rows:
            return 0
        exchanges = [list(c) for c in zip(*(_clean(values) for values, _ in rows), strict=True)]
        attempts = [list(c) for c in zip(*(a for _, row in rows for a in row), strict=True)]

        def insert(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
            with conn.transaction():
                added = conn.execute(_INSERT_MANY_EXCHANGES, exchanges).rowcount
                if attempts:
                    conn.execute(_INSERT_MANY_ATTEMPTS, attempts)
            return max(added, 0)

        return self._writing(insert)

    def ensure_tables(self) -> None:
        """Connect once, so the tables exist before a read; raises StorageError."""
        if not self._ready:
            self._writing(lambda conn: 0)

    def settled_seq(self) -> int | None:
        # seqs are taken in time order; a row inserted longer ago than a transaction can
        # last is committed (or never will be), and so is every row with a smaller seq.
        rows = self.query(
            "SELECT seq FROM exchanges WHERE recorded_at < clock_timestamp() - "
            f"interval '{self._settle:.3f} seconds' ORDER BY seq DESC LIMIT 1"
        )
        return int(rows[0][0]) if rows else None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        table = self.read_arrow(sql, params)
        columns = [column.to_pylist() for column in table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def read_arrow(
        self, sql: str, params: Sequence[Any] = (), *, types: Mapping[str, str] | None = None
    ) -> pa.Table:
        del types  # the server's columns have one type each
        require_pyarrow()
        try:
            self.ensure_tables()
        except StorageError as exc:
            raise LedgerError(f"cannot read the ledger {self.location.display}: {exc}") from None
        try:
            with self._readers.borrow() as reader:
                cursor = reader.cursor()
                try:
                    cursor.execute(placeholders(sql, "numeric"), tuple(params) or None)
                    return cursor.fetch_arrow_table()
                finally:
                    cursor.close()
        except Exception as exc:  # ADBC's errors: connection lost, refused, ...
            raise LedgerError(
                f"cannot read the ledger {self.location.display}: {_message(exc, self.location)}"
            ) from None

    def close(self) -> None:
        self._readers.close()
        with self._lock:
            if self._pid == os.getpid() and self._writer is not None:
                with contextlib.suppress(Exception):
                    self._writer.close()
            self._writer = None


def _message(exc: BaseException, location: PostgresLocation) -> str:
    """The driver's words, first line, without the password should libpq echo the URL."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = urlsplit(location.conninfo).password
    if password:
        text = text.replace(password, "...")
    return text
