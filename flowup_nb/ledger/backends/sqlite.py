"""A ledger in a SQLite file: the default, one per user, no server.

Writes: one short ``BEGIN IMMEDIATE`` transaction per record (taking the write lock up
front, so SQLite's busy handler can wait for another kernel instead of failing on a
lock upgrade), WAL so readers never block writers, ``synchronous=NORMAL`` (a commit
survives the process being killed; only an OS crash or power loss can lose the last
few). Reads of many rows go through ADBC's SQLite driver straight into Arrow.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowup_nb.ledger.backends.base import ReaderPool, StorageError, require_pyarrow
from flowup_nb.ledger.errors import LedgerError
from flowup_nb.ledger.location import SqliteLocation
from flowup_nb.ledger.paths import ENV_VAR
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS, column_list, migrate

if TYPE_CHECKING:
    import pyarrow as pa

    from flowup_nb.ledger.rows import Row

__all__ = ["SqliteBackend"]

_INSERT_EXCHANGE = (
    f"INSERT OR IGNORE INTO exchanges ({column_list(EXCHANGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EXCHANGE_COLUMNS))})"
)
_INSERT_ATTEMPT = (
    f"INSERT OR IGNORE INTO captcha_attempts ({', '.join(ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ATTEMPT_COLUMNS))})"
)
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# Rows per Arrow batch (the driver reserves memory for a whole batch up front).
_BATCH = str(500_000)
_WITNESS = {"TEXT": "''", "INTEGER": "0", "REAL": "0.0"}


def _typed(sql: str, types: Mapping[str, str] | None) -> str:
    """``sql`` whose columns come out with the given SQLite types, every batch alike.

    The driver guesses each column's Arrow type from the values of the first batch; SQLite
    columns are dynamically typed, and a column that is empty in the first batch is
    guessed wrong. So every value is cast to its column's type, and a first row of typed
    placeholder values (dropped after the read) makes the guess right.
    """
    if not types:
        return sql
    witness = ", ".join(f'{_WITNESS[kind]} AS "{name}"' for name, kind in types.items())
    casts = ", ".join(f'CAST(q."{name}" AS {kind})' for name, kind in types.items())
    return f"SELECT {witness} UNION ALL SELECT {casts} FROM ({sql}) AS q"


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteBackend:
    """See the module docstring; raises LedgerError when the file cannot be a ledger."""

    seq_column = "rowid"
    keeps_signed_urls = True  # a personal file (0600 fallback beside it); exports strip them

    def __init__(self, location: SqliteLocation, *, busy_timeout: float) -> None:
        self.location = location
        self._path = location.path
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._adbc: Any = None
        with contextlib.suppress(ImportError):  # without it: the plain path, slower
            import adbc_driver_sqlite.dbapi

            self._adbc = adbc_driver_sqlite.dbapi
        self._readers = ReaderPool(self._connect_reader)
        with self._lock:
            self._connection()

    # -- connections ------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection must not cross fork(): the child opens its own, and leaves the
        # parent's alone (closing it here could disturb the parent's locks).
        self._conn = None
        self._conn = self._open()
        self._pid = os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        advice = f"set {ENV_VAR} (or pass Ledger(path=...)) to a writable file on a local disk"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the ledger's folder {self._path.parent}: {exc}; {advice}"
            ) from None
        if self._path.is_dir():
            raise LedgerError(f"the ledger path {self._path} is a directory; {advice}")
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger {self._path}: {exc}; {advice}") from None
        try:
            self._retrying(lambda: self._prepare(conn))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(f"cannot use {self._path} as a ledger ({exc}); {advice}") from None
        return conn

    @staticmethod
    def _prepare(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")  # stays 'delete' where WAL is impossible
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)

    def _retrying(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, again while SQLite reports busy/locked, up to the timeout."""
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.002
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    # -- the interface ------------------------------------------------------------------

    def write_one(self, row: Row) -> None:
        self.write([row])

    def write(self, rows: Sequence[Row]) -> int:
        def transaction() -> int:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                added = conn.executemany(_INSERT_EXCHANGE, [values for values, _ in rows])
                attempts = [a for _, row_attempts in rows for a in row_attempts]
                if attempts:
                    conn.executemany(_INSERT_ATTEMPT, attempts)
                conn.execute("COMMIT")
                return max(added.rowcount, 0)
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

        with self._lock:
            try:
                return int(self._retrying(transaction))
            except (sqlite3.Error, OSError) as exc:
                raise StorageError(str(exc)) from exc

    def settled_seq(self) -> int | None:
        # One writer at a time, rowids given in commit order: the largest one visible is
        # settled (no smaller one can still appear).
        (value,) = self.query("SELECT max(rowid) FROM exchanges")[0]
        return None if value is None else int(value)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot read the ledger {self._path}: {exc}") from None

    def read_arrow(
        self, sql: str, params: Sequence[Any] = (), *, types: Mapping[str, str] | None = None
    ) -> pa.Table:
        require_pyarrow()
        if self._adbc is None:  # the plain path: the same Arrow table, slower
            return self._read_through_sqlite3(sql, params)
        try:
            with self._readers.borrow() as reader:
                cursor = reader.cursor()
                try:
                    cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": _BATCH})
                    cursor.execute(_typed(sql, types), tuple(params) or None)
                    table = cursor.fetch_arrow_table()
                finally:
                    cursor.close()
        except Exception as exc:  # sqlite3's and ADBC's errors alike
            raise LedgerError(f"cannot read the ledger {self._path}: {exc}") from None
        return table.slice(1) if types else table

    def _read_through_sqlite3(self, sql: str, params: Sequence[Any]) -> pa.Table:
        import pyarrow as pa

        with self._lock:
            cursor = self._connection().execute(sql, tuple(params))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = []
        for values in columns:
            try:
                arrays.append(pa.array(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one column
                arrays.append(pa.array([None if v is None else str(v) for v in values]))
        return pa.table(arrays, names=names)

    def _connect_reader(self) -> Any:
        conn = self._adbc.connect(str(self._path), autocommit=True)
        # As the writer does: wait for a lock (another connection opening the WAL file,
        # a checkpoint) instead of failing at once.
        cursor = conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(max(self._busy_timeout, 1.0) * 1000)}")
            cursor.fetchall()
        finally:
            cursor.close()
        return conn

    def close(self) -> None:
        self._readers.close()
        with self._lock:
            if self._pid == os.getpid() and self._conn is not None:
                self._conn.close()
            self._conn = None
