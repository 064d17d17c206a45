"""Recording that never fails the user's call: the database, else the fallback file.

A record goes to the database in one short write. If the database cannot take it (a
SQLite file locked for too long, a server that is down, unreachable or refusing), the
record goes to the JSONL fallback file instead and the user's call goes on. For a while
after a failure (``retry_after`` seconds, doubling while failures go on, at most a
minute) records go straight to the file, so a notebook does not wait on a dead server
call after call. The first record after that tries the database again; once it takes
records, whatever waits in the file is replayed into it. Opening a Ledger and closing one
replay too (closing tries once more whatever the pause).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowup_nb.ledger.backends.base import StorageError
from flowup_nb.ledger.errors import LedgerError
from flowup_nb.ledger.rows import Row, row_from_payload, row_payload

if TYPE_CHECKING:
    from flowup_nb.ledger.backends.base import Backend
    from flowup_nb.ledger.fallback import FallbackFile

__all__ = ["MAX_RETRY_AFTER", "RecordWriter"]

log = logging.getLogger("flowup_nb.ledger")

MAX_RETRY_AFTER = 60.0
CHUNK = 5_000  # rows per transaction when many go at once


class RecordWriter:
    """See the module docstring."""

    def __init__(
        self, backend: Backend, fallback: FallbackFile, where: str, *, retry_after: float
    ) -> None:
        self._backend = backend
        self._fallback = fallback
        self._where = where
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._pause = 0.0  # the current back-off, 0 while the database takes records
        self._resume_at = 0.0  # time.monotonic() before which records skip the database
        self._warned = False
        self._last_cause = ""
        self.commits = 0  # records this process stored in the database

    def record(self, row: Row) -> None:
        with self._lock:
            cause = self._waiting()
        if cause is not None:
            self.keep(row, cause)
            return
        try:
            self._backend.write_one(row)
        except (StorageError, LedgerError, OSError) as exc:
            self.note_failure(exc)
            self.keep(row, exc)
            return
        with self._lock:
            self.commits += 1
            recovered = self._pause > 0
            self._pause = 0.0
        if recovered or self._fallback.pending():
            self.replay()

    def _waiting(self) -> str | None:
        left = self._resume_at - time.monotonic()
        if self._pause and left > 0:
            return f"{self._last_cause}; the next try is in {left:.0f} s"
        return None

    def note_failure(self, cause: BaseException | str = "a write failed") -> None:
        """Start (or lengthen) the pause after a failed write."""
        with self._lock:
            self._pause = min(max(self._pause * 2, self._retry_after), MAX_RETRY_AFTER)
            self._resume_at = time.monotonic() + self._pause
            self._last_cause = str(cause)

    def keep(self, row: Row, cause: BaseException | str) -> None:
        try:
            self._fallback.append(row_payload(row))
        except OSError as exc:
            log.error(
                "ledger: could not record exchange %s in %s (%s) nor in %s (%s)",
                row[0][0],
                self._where,
                cause,
                self._fallback.path,
                exc,
            )
            return
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"the ledger {self._where} could not take a record ({cause}); it was kept in "
                f"{self._fallback.path} and will be stored when the ledger takes records again",
                RuntimeWarning,
                stacklevel=4,
            )

    def write_many(self, rows: Sequence[Row]) -> int:
        """Store ``rows`` in chunks (call ids already stored are skipped); returns how many
        were new. Raises LedgerError when the database cannot take them."""
        added = 0
        try:
            for start in range(0, len(rows), CHUNK):
                added += self._backend.write(rows[start : start + CHUNK])
        except StorageError as exc:
            raise LedgerError(f"the ledger {self._where} could not take the rows: {exc}") from None
        return added

    def replay(self) -> int:
        """Move records from the fallback file into the database; returns how many.

        Idempotent: a record already stored is skipped.
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
                self.write_many(rows)
            except LedgerError as exc:
                self.note_failure(exc)
                log.warning("ledger: replay of %s postponed: %s", claimed, exc)
                continue  # the claimed file stays; the next replay tries again
            if unreadable:
                log.warning(
                    "ledger: %d unreadable line(s) in %s skipped (cut short by a crash?)",
                    unreadable,
                    claimed,
                )
            self._fallback.discard(claimed)
            replayed += len(rows)
        return replayed
