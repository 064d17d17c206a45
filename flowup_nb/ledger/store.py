"""``Ledger``: the SQLite file every exchange is written to, and the door to its analyses.

Writes: one short ``BEGIN IMMEDIATE`` transaction per record (taking the write lock up
front, so SQLite's busy handler can wait for another kernel instead of failing on a
lock upgrade), WAL so readers never block writers, ``synchronous=NORMAL`` (a commit
survives the process being killed; only an OS crash or power loss can lose the last
few). ``record()`` never raises for a storage problem: after the busy timeout and a
few retries the record goes to the JSONL fallback file, replayed on the next open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flowup_nb.ledger.fallback import FallbackFile
from flowup_nb.ledger.paths import ENV_VAR, fallback_path, resolve_ledger_path
from flowup_nb.ledger.rows import Row, exchange_rows, row_from_payload, row_payload
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS, migrate

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from flowup_nb.ledger.frame import TimeBound

__all__ = ["Ledger", "LedgerError", "default_ledger"]

log = logging.getLogger("flowup_nb.ledger")

_INSERT_EXCHANGE = (
    f"INSERT OR IGNORE INTO exchanges ({', '.join(EXCHANGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EXCHANGE_COLUMNS))})"
)
_INSERT_ATTEMPT = (
    f"INSERT OR IGNORE INTO captcha_attempts ({', '.join(ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ATTEMPT_COLUMNS))})"
)
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_REPLAY_CHUNK = 5_000


class LedgerError(RuntimeError):
    """The ledger file cannot be opened or created; the message names the fix."""


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Ledger:
    """Every exchange with the API, kept in SQLite across kernels, analysed as DataFrames.

    ``Ledger(path=None)`` opens (creating if needed) ``path``, else ``$FLOWUP_LEDGER``,
    else ``<per-user data dir>/flowup-nb/ledger.sqlite``. Give it to a client
    (``FlowClient(ledger=...)``; ``connect()`` attaches the default one) and every
    request, retry, poll, download and failure becomes a row.

    ``busy_timeout`` (seconds) is how long a write waits for another writer before
    retrying; past about twice that, the record goes to the fallback file instead.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = 3.0):
        if busy_timeout < 0:
            raise ValueError(f"busy_timeout must be >= 0 seconds, got {busy_timeout!r}")
        self._path = resolve_ledger_path(path)
        self._busy_timeout = float(busy_timeout)
        self._fallback = FallbackFile(fallback_path(self._path))
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._closed = False
        self._warned_fallback = False
        self._own_commits = 0
        # Whole-ledger frame and jobs table, valid while _cache_key holds (see _cached).
        self._cache: dict[str, pd.DataFrame] = {}
        self._cache_key: tuple[int, int] | None = None
        with self._lock:
            self._connection()
        self.replay()

    # -- connection -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def fallback_path(self) -> Path:
        """Where records go when the database cannot take them (replayed on open)."""
        return self._fallback.path

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise LedgerError(f"this Ledger ({self._path}) is closed: open a new Ledger()")
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

    def _write(self, rows: Sequence[Row]) -> None:
        """One transaction holding ``rows``; raises sqlite3.Error/LedgerError on failure."""

        def transaction() -> None:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT_EXCHANGE, [values for values, _ in rows])
                attempts = [a for _, row_attempts in rows for a in row_attempts]
                if attempts:
                    conn.executemany(_INSERT_ATTEMPT, attempts)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

        with self._lock:
            self._retrying(transaction)
            self._own_commits += 1

    # -- recording --------------------------------------------------------------------

    def record(self, exchange: Any) -> None:
        """Store one :class:`~flowup_nb.api.exchange.Exchange` before returning.

        Never raises for a storage failure (the user's call must still succeed): the
        record goes to the fallback file instead, with a warning the first time.
        """
        row = exchange_rows(exchange)
        try:
            self._write([row])
        except (sqlite3.Error, OSError, LedgerError) as exc:
            self._keep_in_fallback(row, exc)

    __call__ = record  # a Ledger is itself an ExchangeObserver

    def _keep_in_fallback(self, row: Row, cause: BaseException) -> None:
        try:
            self._fallback.append(row_payload(row))
        except OSError as exc:
            log.error(
                "ledger: could not record exchange %s in %s (%s) nor in %s (%s)",
                row[0][0],
                self._path,
                cause,
                self._fallback.path,
                exc,
            )
            return
        if not self._warned_fallback:
            self._warned_fallback = True
            warnings.warn(
                f"the ledger {self._path} could not take a record ({cause}); it was kept in "
                f"{self._fallback.path} and will be replayed when a Ledger next opens",
                RuntimeWarning,
                stacklevel=3,
            )

    def replay(self) -> int:
        """Move records from the fallback file into the database; returns how many.

        Runs on open. Idempotent: a record already stored is skipped.
        """
        replayed = 0
        for claimed in self._fallback.claim():
            payloads, unreadable = self._fallback.read(claimed)
            rows = []
            for payload in payloads:
                try:
                    rows.append(row_from_payload(payload))
                except (KeyError, TypeError, ValueError):
                    unreadable += 1
            try:
                for start in range(0, len(rows), _REPLAY_CHUNK):
                    self._write(rows[start : start + _REPLAY_CHUNK])
            except (sqlite3.Error, LedgerError) as exc:
                log.warning("ledger: replay of %s postponed: %s", claimed, exc)
                continue  # the claimed file stays; the next open tries again
            if unreadable:
                log.warning(
                    "ledger: %d unreadable line(s) in %s skipped (cut short by a crash?)",
                    unreadable,
                    claimed,
                )
            self._fallback.discard(claimed)
            replayed += len(rows)
        return replayed

    # -- reading ----------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT count(*) FROM exchanges").fetchone()[0])

    def frame(
        self, since: TimeBound = None, until: TimeBound = None, tz: str | None = None
    ) -> pd.DataFrame:
        """One row per exchange (started in ``[since, until)``), typed; see frame.py.

        ``since``/``until``: datetime, date, ISO text, or a duration meaning "that long
        ago" (``since="7 days"``). ``tz``: show times (and read naive bounds) in this zone.
        The whole ledger is read once and kept until the next write by any kernel, so
        asking again is cheap; the frame returned is yours to change.
        """
        _check_tz(tz)
        if since is None and until is None:
            # Copy-on-write (pandas >= 3): a shallow copy cannot change the cached frame.
            frame = self._whole_frame().copy(deep=False)
            if tz is not None:
                for name in ("started_at", "finished_at"):
                    frame[name] = frame[name].dt.tz_convert(tz)
            return frame
        return self._read(since, until, tz)

    def _read(self, since: TimeBound, until: TimeBound, tz: str | None) -> pd.DataFrame:
        from flowup_nb.ledger.frame import read_frame, to_bound_ms

        since_ms = to_bound_ms(since, tz=tz, name="since")
        until_ms = to_bound_ms(until, tz=tz, name="until")
        with self._lock:
            conn = self._connection()
            # One read transaction: the rows and the balances before them agree.
            conn.execute("BEGIN")
            try:
                return read_frame(conn, since_ms=since_ms, until_ms=until_ms, tz=tz)
            finally:
                conn.execute("COMMIT")

    def _cached(self, name: str, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """``build()``, kept until the next write to the ledger (by this or any kernel)."""
        with self._lock:
            # data_version moves when another connection commits; our own commits count.
            version = int(self._connection().execute("PRAGMA data_version").fetchone()[0])
            key = (version, self._own_commits)
            if key != self._cache_key:
                self._cache, self._cache_key = {}, key
            if name not in self._cache:
                self._cache[name] = build()
            return self._cache[name]

    def _whole_frame(self) -> pd.DataFrame:
        """The whole ledger as a frame (cached)."""
        return self._cached("frame", lambda: self._read(None, None, None))

    def _analysis_jobs(self, since: TimeBound, until: TimeBound) -> pd.DataFrame:
        """The jobs table analyses read (cached for the whole ledger)."""
        from flowup_nb.ledger import analyses

        if since is not None or until is not None:
            return analyses.jobs(self._read(since, until, None))
        return self._cached("jobs", lambda: analyses.jobs(self._whole_frame()))

    def captcha_attempts(self, tz: str | None = None) -> pd.DataFrame:
        """Every captcha attempt the server reported, with its exchange's context."""
        from flowup_nb.ledger.frame import read_attempts

        _check_tz(tz)
        with self._lock:
            return read_attempts(self._connection(), tz=tz)

    def _analysis_frame(self, since: TimeBound, until: TimeBound) -> pd.DataFrame:
        """The frame analyses read (they never modify it, so no copy)."""
        if since is not None or until is not None:
            return self._read(since, until, None)
        return self._whole_frame()

    # -- analyses (pure functions in analyses.py; these pick the frame) ------------------

    def jobs(self, since: TimeBound = None, until: TimeBound = None) -> pd.DataFrame:
        """One row per job: kind, resolution, status, end-to-end duration, polls, cost."""

        return self._analysis_jobs(since, until).copy(deep=False)

    def summary(self, since: TimeBound = None, until: TimeBound = None) -> pd.DataFrame:
        """Per account and in all: calls, jobs, success rate, credits, p50/p95, burn rate."""
        from flowup_nb.ledger import analyses

        return analyses.summary(
            self._analysis_frame(since, until), job_table=self._analysis_jobs(since, until)
        )

    def credits(
        self,
        by: str | Sequence[str] | None = None,
        freq: str = "D",
        *,
        tz: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> pd.DataFrame:
        """Credits spent (reported and expected) per ``freq`` period, with the balance."""
        from flowup_nb.ledger import analyses

        _check_tz(tz)
        return analyses.credits(self._analysis_frame(since, until), by=by, freq=freq, tz=tz)

    def latency(
        self,
        by: str | Sequence[str] | None = ("operation", "resolution"),
        *,
        level: str = "call",
        outcome: str | Sequence[str] | None = ("ok", "pending", "failed"),
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> pd.DataFrame:
        """p50/p90/p95/p99 durations with the sample size, of calls or of whole jobs."""
        from flowup_nb.ledger import analyses

        job_table = self._analysis_jobs(since, until) if level == "job" else None
        return analyses.latency(
            self._analysis_frame(since, until),
            by=by,
            level=level,
            outcome=outcome,
            job_table=job_table,
        )

    def captcha(self) -> pd.DataFrame:
        """Per provider: attempts, solve rate, p50/p95 solve time, share of latency."""
        from flowup_nb.ledger import analyses

        return analyses.captcha(self.captcha_attempts(), self._analysis_jobs(None, None))

    def errors(
        self,
        by: str | Sequence[str] = "error_type",
        freq: str | None = None,
        *,
        tz: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> pd.DataFrame:
        """Errors counted by type (or any columns), optionally per ``freq`` period."""
        from flowup_nb.ledger import analyses

        _check_tz(tz)
        return analyses.errors(self._analysis_frame(since, until), by=by, freq=freq, tz=tz)

    def reconcile(
        self,
        by: str | Sequence[str] = "account",
        freq: str | None = None,
        *,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """Reported spend (balance deltas) against the price list, and where they differ."""
        from flowup_nb.ledger import analyses

        _check_tz(tz)
        return analyses.reconcile(self._analysis_frame(None, None), by=by, freq=freq, tz=tz)

    # -- plots ------------------------------------------------------------------------

    def plot_credits(
        self, freq: str = "D", *, tz: str | None = None, ax: Axes | None = None
    ) -> Axes:
        """Credits spent per period (bars) with the balance (line)."""
        from flowup_nb.ledger import plots

        return plots.plot_credits(self.credits(freq=freq, tz=tz), tz=tz, ax=ax)

    def plot_latency(
        self, by: str = "resolution", *, level: str = "job", ax: Axes | None = None
    ) -> Axes:
        """Distribution of durations by ``by`` (jobs end to end by default)."""
        from flowup_nb.ledger import plots

        return plots.plot_latency(self._analysis_frame(None, None), by=by, level=level, ax=ax)

    def plot_captcha(self) -> Figure:
        """Captcha providers side by side: solve rate and solve times."""
        from flowup_nb.ledger import plots

        return plots.plot_captcha(self.captcha())

    def plot_errors(
        self, freq: str = "D", *, tz: str | None = None, ax: Axes | None = None
    ) -> Axes:
        """Errors per period, stacked by type."""
        from flowup_nb.ledger import plots

        return plots.plot_errors(self.errors(freq=freq, tz=tz), tz=tz, ax=ax)

    # -- moving data ------------------------------------------------------------------

    def export(self, path: str | os.PathLike[str], *, include_urls: bool = False) -> Path:
        """Write the ledger to ``.csv`` or ``.parquet``; signed URLs lose their query string
        unless ``include_urls=True`` (a signed URL can be a credential)."""
        from flowup_nb.ledger import transfer

        return transfer.export(
            self.frame(), self.captcha_attempts(), path, include_urls=include_urls
        )

    def import_(self, path: str | os.PathLike[str]) -> int:
        """Merge a colleague's export (``.csv``/``.parquet``) or ledger file (``.sqlite``);
        rows already here (same ``call_id``) are skipped. Returns how many were added."""
        from flowup_nb.ledger import transfer

        rows = transfer.load(path)
        with self._lock:
            before = len(self)
            for start in range(0, len(rows), _REPLAY_CHUNK):
                self._write(rows[start : start + _REPLAY_CHUNK])
            return len(self) - before

    merge = import_

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._cache, self._cache_key = {}, None
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return f"Ledger({str(self._path)!r}, closed)"
        try:
            count = f"{len(self):,} rows"
        except (sqlite3.Error, LedgerError) as exc:
            count = f"unreadable: {exc}"
        return f"Ledger({str(self._path)!r}, {count})"


def _check_tz(tz: str | None) -> None:
    if tz is None:
        return
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {tz!r}: pass an IANA name such as 'UTC', "
            f"'Europe/Paris' or 'America/Los_Angeles'"
        ) from None


_defaults: dict[Path, Ledger] = {}
_defaults_lock = threading.Lock()


def default_ledger() -> Ledger:
    """The process's shared Ledger for the default path (``$FLOWUP_LEDGER`` or per-user)."""
    path = resolve_ledger_path(None)
    with _defaults_lock:
        ledger = _defaults.get(path)
        if ledger is None or ledger.closed:
            ledger = _defaults[path] = Ledger(path)
        return ledger
