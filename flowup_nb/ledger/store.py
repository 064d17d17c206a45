"""``Ledger``: where every exchange is written, and the door to its analyses.

A ledger lives in a SQLite file (the default, one per user) or on a PostgreSQL server a
team shares (``Ledger("postgresql://...")``); backends/ holds what differs between the
two, location.py how a path or URL is read. ``record()`` never raises for a storage
problem: the record goes to the JSONL fallback file and is replayed once the database
takes records again (writing.py). Reads go through Arrow (frame.py, reading.py); the whole
ledger's frame is kept and brought up to date by reading only the rows added since
(follow.py). The analyses and plots are in questions.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flowup_nb.ledger.backends.base import Backend, StorageError
from flowup_nb.ledger.backends.opening import open_backend
from flowup_nb.ledger.errors import LedgerError
from flowup_nb.ledger.fallback import FallbackFile
from flowup_nb.ledger.identity import current_host, current_user
from flowup_nb.ledger.location import (
    Location,
    PostgresLocation,
    SqliteLocation,
    resolve_location,
)
from flowup_nb.ledger.questions import LedgerQuestions, checked_filters
from flowup_nb.ledger.rows import exchange_rows
from flowup_nb.ledger.writing import RecordWriter

if TYPE_CHECKING:
    import pandas as pd

    from flowup_nb.ledger.follow import FrameFollower
    from flowup_nb.ledger.frame import TimeBound
    from flowup_nb.ledger.reading import Filters, Names

__all__ = ["Ledger", "LedgerError", "default_ledger"]

log = logging.getLogger("flowup_nb.ledger")


class Ledger(LedgerQuestions):
    """Every exchange with the API, kept across kernels, analysed as DataFrames.

    ``Ledger(path=None)`` opens (creating if needed) ``path``, else ``$FLOWUP_LEDGER``,
    else ``<per-user data dir>/flowup-nb/ledger.sqlite``. ``path`` may also be a server
    URL, ``postgresql://user@host:5432/dbname`` (``pip install 'flowup-nb[team]'``; see
    docs/team.md), for one ledger a team shares. Give it to a client
    (``FlowClient(ledger=...)``; ``connect()`` attaches the default one) and every
    request, retry, poll, download and failure becomes a row, stamped with the ``user``
    (``$FLOWUP_USER``, else the login name) and ``host`` that recorded it.

    ``busy_timeout`` (seconds) bounds each write: how long it waits for another SQLite
    writer, or for a server to connect and answer; past it the record goes to the
    fallback file. ``retry_after`` (seconds): after a failed write, records skip the
    database for this long (doubling while it keeps failing, at most a minute), then
    the next record tries again and the fallback file is replayed once it works.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 3.0,
        retry_after: float = 1.0,
    ):
        if busy_timeout < 0:
            raise ValueError(f"busy_timeout must be >= 0 seconds, got {busy_timeout!r}")
        if retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {retry_after!r}")
        self._location = resolve_location(path)
        self._lock = threading.RLock()
        self._closed = False
        self._user, self._host = current_user(), current_host()
        self._fallback = FallbackFile(self._location.fallback_path)
        self._backend: Backend = open_backend(self._location, busy_timeout=busy_timeout)
        self._writer = RecordWriter(
            self._backend, self._fallback, self._location.display, retry_after=retry_after
        )
        self._follower: FrameFollower | None = None
        self._pinned = threading.local()  # see as_read()
        # The jobs table of the whole ledger, valid for one version of the follower.
        self._jobs_cache: tuple[int, pd.DataFrame] | None = None
        if isinstance(self._location, PostgresLocation):
            _open_servers[self._location.display] = self
            self._check_server()
        self._writer.replay()

    def _check_server(self) -> None:
        """Say now (not at the first upscale) when the server cannot be used."""
        import warnings

        ensure = getattr(self._backend, "ensure_tables", None)
        try:
            if ensure is not None:
                ensure()
        except StorageError as exc:
            self._writer.note_failure(exc)
            warnings.warn(
                f"the ledger {self._location.display} cannot be reached now ({exc}); records "
                f"wait in {self._fallback.path} and are stored when it can be",
                RuntimeWarning,
                stacklevel=3,
            )

    # -- where ------------------------------------------------------------------------

    @property
    def path(self) -> Path | str:
        """The database file; for a server ledger, its URL without the password."""
        if isinstance(self._location, SqliteLocation):
            return self._location.path
        return self._location.display

    @property
    def url(self) -> str:
        """``sqlite:///...`` or ``postgresql://user@host:port/db`` (never the password)."""
        if isinstance(self._location, SqliteLocation):
            return self._location.path.resolve().as_uri().replace("file://", "sqlite://", 1)
        return self._location.display

    @property
    def fallback_path(self) -> Path:
        """Where records wait when the database cannot take them (replayed later)."""
        return self._fallback.path

    def _open_backend(self) -> Backend:
        if self._closed:
            raise LedgerError(
                f"this Ledger ({self._location.display}) is closed: open a new Ledger()"
            )
        return self._backend

    # -- recording --------------------------------------------------------------------

    def record(self, exchange: Any) -> None:
        """Store one :class:`~flowup_nb.api.exchange.Exchange` before returning.

        Never raises for a storage failure (the user's call must still succeed): the
        record goes to the fallback file instead, with a warning the first time.
        """
        row = exchange_rows(exchange, user=self._user, host=self._host)
        if self._closed:
            self._writer.keep(row, f"this Ledger ({self._location.display}) is closed")
            return
        self._writer.record(row)

    __call__ = record  # a Ledger is itself an ExchangeObserver

    def replay(self) -> int:
        """Move records from the fallback file into the database; returns how many.

        Runs on open, on close, and after a failed write once the database takes records
        again. Idempotent: a record already stored is skipped.
        """
        self._open_backend()
        return self._writer.replay()

    # -- reading ----------------------------------------------------------------------

    def __len__(self) -> int:
        (count,) = self._open_backend().query("SELECT count(*) FROM exchanges")[0]
        return int(count)

    def refresh(self) -> int:
        """Read the rows added (by any kernel) since the last read; returns how many.

        ``frame()`` and the analyses do this by themselves; a dashboard calls it to learn
        whether anything changed (LedgerView does, in a worker thread).
        """
        return self._whole().refresh()

    @contextlib.contextmanager
    def as_read(self) -> Iterator[Ledger]:
        """Within this block (in this thread), ``frame()`` and the analyses use the rows
        read so far and read no new ones: several questions answered from one state of
        the ledger, as a dashboard's counts and tabs must be. Other threads go on as usual.
        """
        previous = getattr(self._pinned, "on", False)
        self._pinned.on = True
        try:
            yield self
        finally:
            self._pinned.on = previous

    def _reading_new(self) -> bool:
        return not getattr(self._pinned, "on", False)

    def _whole(self) -> FrameFollower:
        with self._lock:
            backend = self._open_backend()
            if self._follower is None:
                from flowup_nb.ledger.follow import FrameFollower

                self._follower = FrameFollower(backend)
            return self._follower

    def frame(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        tz: str | None = None,
        *,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """One row per exchange (started in ``[since, until)``, of ``accounts`` and
        ``users`` when given), typed; see frame.py.

        ``since``/``until``: datetime, date, ISO text, a duration meaning "that long
        ago" (``since="10m"``, ``"3 hours"``, ``"7 days"``), or ``"today"``/``"yesterday"``
        (local midnight in ``tz``, else the machine's zone). ``tz``: show times (and read
        naive bounds) in this zone.
        The filters are applied by the database. The whole ledger is read once and then
        only the rows added since, so asking again is cheap; the frame returned is yours
        to change.
        """
        filters = checked_filters(since, until, accounts, users, tz)
        if filters.everything:
            # Copy-on-write (pandas >= 3): a shallow copy cannot change the kept frame.
            frame = self._whole().frame(refresh=self._reading_new()).copy(deep=False)
            if tz is not None:
                for name in ("started_at", "finished_at"):
                    frame[name] = frame[name].dt.tz_convert(tz)
            return frame
        return self._read(filters, tz)

    def _read(self, filters: Filters, tz: str | None) -> pd.DataFrame:
        from flowup_nb.ledger.reading import read_frame

        return read_frame(self._open_backend(), filters, tz=tz)

    def _analysis_frame(self, filters: Filters) -> pd.DataFrame:
        """The frame analyses read (they never modify it, so no copy)."""
        if filters.everything:
            return self._whole().frame(refresh=self._reading_new())
        return self._read(filters, None)

    def _analysis_jobs(self, filters: Filters, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The jobs table analyses read (kept for the whole ledger until rows are added);
        ``frame``: the filtered frame already read for ``filters``, not read again."""
        from flowup_nb.ledger import analyses

        if not filters.everything:
            return analyses.jobs(self._read(filters, None) if frame is None else frame)
        follower = self._whole()
        frame = follower.frame(refresh=self._reading_new())
        with self._lock:
            if self._jobs_cache is None or self._jobs_cache[0] != follower.version:
                self._jobs_cache = (follower.version, analyses.jobs(frame))
            return self._jobs_cache[1]

    def captcha_attempts(
        self,
        tz: str | None = None,
        *,
        since: TimeBound = None,
        until: TimeBound = None,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """Every captcha attempt the server reported, with its exchange's context."""
        from flowup_nb.ledger.reading import read_attempts

        filters = checked_filters(since, until, accounts, users, tz)
        return read_attempts(self._open_backend(), filters, tz=tz)

    def recent_video_ids(self, days: float = 30, limit: int = 40) -> list[str]:
        """Ids of source videos used in the last ``days``, newest first, at most ``limit``:
        the sources of upscales and the videos generated, never an upscale's own output
        (``..._upsampled``), which cannot be upscaled again."""
        since_ms = int((time.time() - days * 86_400) * 1000)
        query = """
            SELECT video_id FROM (
                SELECT CASE WHEN operation = 'generate_video' THEN result_id
                            ELSE source_id END AS video_id,
                       started_at
                FROM exchanges
                WHERE started_at >= ?
                  AND operation IN ('upscale', 'submit_upscale', 'generate_video')) AS used
            WHERE video_id IS NOT NULL AND video_id NOT LIKE '%\\_upsampled' ESCAPE '\\'
            GROUP BY video_id
            ORDER BY max(started_at) DESC
            LIMIT ?
        """
        rows = self._open_backend().query(query, (since_ms, max(0, int(limit))))
        return [str(video_id) for (video_id,) in rows]

    # -- moving data ------------------------------------------------------------------

    def export(self, path: str | os.PathLike[str], *, include_urls: bool = False) -> Path:
        """Write the ledger to ``.csv`` or ``.parquet``; signed URLs lose their query string
        unless ``include_urls=True`` (a signed URL can be a credential)."""
        from flowup_nb.ledger import transfer

        return transfer.export(
            self.frame(), self.captcha_attempts(), path, include_urls=include_urls
        )

    def import_(self, source: str | os.PathLike[str] | Ledger) -> int:
        """Merge a colleague's export (``.csv``/``.parquet``), a ledger file (``.sqlite``),
        another Ledger or a ledger URL (``postgresql://...``); rows already here (same
        ``call_id``) are skipped. Returns how many were added."""
        if isinstance(source, Ledger):
            return source.push(self)
        if isinstance(source, str) and "://" in source:
            with Ledger(source) as other:
                return other.push(self)
        from flowup_nb.ledger import transfer

        self._open_backend()
        return self._writer.write_many(transfer.load(source))

    merge = import_

    def push(self, target: Ledger | str | os.PathLike[str]) -> int:
        """Copy every row of this ledger into ``target`` (another Ledger, a file path or a
        ``postgresql://`` URL), skipping rows already there: a personal ledger into the
        team's, or the team's into a personal file. Returns how many rows were added.

        Pushing into a server ledger drops the signature of media URLs (many people read
        it). Safe to repeat: the call id is the key.
        """
        import pyarrow.compute as pc

        from flowup_nb.ledger.reading import ROW_TYPES
        from flowup_nb.ledger.schema import (
            ATTEMPT_COLUMNS,
            ATTEMPT_TYPES,
            EXCHANGE_COLUMNS,
            column_list,
        )
        from flowup_nb.ledger.transfer import rows_of_tables

        if not isinstance(target, Ledger):
            with Ledger(target) as opened:
                return self.push(opened)
        backend = self._open_backend()
        seq = backend.seq_column
        added, after = 0, -1
        while True:
            exchanges = backend.read_arrow(
                f"SELECT {seq} AS _seq, {column_list(EXCHANGE_COLUMNS)} FROM exchanges "
                f"WHERE {seq} > ? ORDER BY {seq} LIMIT ?",
                [after, _PUSH_CHUNK],
                types=ROW_TYPES,
            )
            if not exchanges.num_rows:
                return added
            last = int(pc.max(exchanges.column("_seq")).as_py())
            attempts = backend.read_arrow(
                f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM captcha_attempts WHERE call_id IN "
                f"(SELECT call_id FROM exchanges WHERE {seq} > ? AND {seq} <= ?)",
                [after, last],
                types=ATTEMPT_TYPES,
            )
            added += target._writer.write_many(rows_of_tables(exchanges, attempts))
            after = last

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Store what waits in the fallback file if the database takes it, then close."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._fallback.pending():  # one last try, whatever the pause says
                    self._writer.replay()
            except Exception as exc:  # closing must not fail over a replay
                log.warning("ledger: replay on close failed: %s", exc)
            self._backend.close()
            self._follower = None
            self._jobs_cache = None
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
            return f"Ledger({self._location.display!r}, closed)"
        try:
            count = f"{len(self):,} rows"
        except (LedgerError, StorageError) as exc:
            count = f"unreadable: {exc}"
        return f"Ledger({self._location.display!r}, {count})"


_PUSH_CHUNK = 50_000

# Server ledgers open in this process, by URL without password: another part of the
# process that knows only ``ledger.path`` (a batch reading its history) reuses the one
# that holds the credentials.
_open_servers: weakref.WeakValueDictionary[str, Ledger] = weakref.WeakValueDictionary()


@contextlib.contextmanager
def open_ledger_at(location: Location) -> Iterator[Ledger]:
    """An open Ledger for ``location``: one this process has open, else a new one that
    is closed afterwards."""
    known = _open_servers.get(location.display)
    if known is not None and not known.closed:
        yield known
        return
    target = location.conninfo if isinstance(location, PostgresLocation) else location.path
    with Ledger(target) as opened:
        yield opened


_defaults: dict[str, Ledger] = {}
_defaults_lock = threading.Lock()


def default_ledger() -> Ledger:
    """The process's shared Ledger for the default location (``$FLOWUP_LEDGER`` or the
    per-user file)."""
    location = resolve_location(None)
    key = location.display if isinstance(location, PostgresLocation) else str(location.path)
    with _defaults_lock:
        ledger = _defaults.get(key)
        if ledger is None or ledger.closed:
            ledger = _defaults[key] = Ledger(
                location.conninfo if isinstance(location, PostgresLocation) else location.path
            )
        return ledger
