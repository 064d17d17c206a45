"""What every backend offers the Ledger (see the package docstring), and the helpers the
backends share."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from flowup_nb.ledger.location import Location

if TYPE_CHECKING:
    import pyarrow as pa

    from flowup_nb.ledger.rows import Row

__all__ = [
    "Backend",
    "ReaderPool",
    "StorageError",
    "placeholders",
    "require_pyarrow",
]


class StorageError(Exception):
    """The database could not take or give rows just now (busy, unreachable, refused).

    Records meeting it go to the fallback file; reads pass it on as a LedgerError.
    """


class Backend(Protocol):
    """What a ledger needs from its database."""

    @property
    def location(self) -> Location: ...

    # SQL for the insertion order of a row (rowid, or a server-side identity column).
    seq_column: str
    # Whether signed media URLs may be stored as they came (a personal file) or lose
    # their signature first (a database many people read).
    keeps_signed_urls: bool

    def write_one(self, row: Row) -> None:
        """Insert one record (skipped if its call id is stored), or raise StorageError."""

    def write(self, rows: Sequence[Row]) -> int:
        """Insert ``rows`` (existing call ids are skipped) in one transaction; returns how
        many exchanges were new. Raises StorageError."""

    def settled_seq(self) -> int | None:
        """A ``seq_column`` value at or below which every row that will ever be stored is
        visible now (None: no row yet)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a small query."""

    def read_arrow(
        self, sql: str, params: Sequence[Any] = (), *, types: Mapping[str, str] | None = None
    ) -> pa.Table:
        """The result of a (large) query as an Arrow table; ``types``: each result
        column's SQLite type (TEXT, INTEGER, REAL), for a database that does not keep one."""

    def close(self) -> None: ...


class ReaderPool:
    """Idle read connections (ADBC's), so that two threads can read at once: a long
    history is read as two halves in parallel. A connection that failed is closed, not
    returned; none crosses a fork()."""

    def __init__(self, connect: Callable[[], Any], *, keep: int = 2) -> None:
        self._connect = connect
        self._keep = keep
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._pid = os.getpid()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()  # the parent's, not ours to close
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        healthy = False
        try:
            yield conn
            healthy = True
        finally:
            with self._lock:
                keep = healthy and self._pid == os.getpid() and len(self._idle) < self._keep
                if keep:
                    self._idle.append(conn)
            if not keep:
                with contextlib.suppress(Exception):
                    conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        for conn in idle if mine else ():
            with contextlib.suppress(Exception):
                conn.close()


def require_pyarrow() -> None:
    """Reads are Arrow tables: say how to get pyarrow back if it went missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            "reading the ledger needs pyarrow (a dependency of flowup-nb): pip install pyarrow"
        ) from None


def placeholders(sql: str, style: str) -> str:
    """``?`` placeholders -> ``%s`` (``style="format"``) or ``$1, $2...`` (``"numeric"``),
    leaving quoted text alone (a ``%`` there is doubled for ``format``)."""
    out: list[str] = []
    number = 0
    for i, part in enumerate(sql.split("'")):
        if i % 2:  # inside a string literal
            out.append(part.replace("%", "%%") if style == "format" else part)
            continue
        if style == "format":
            part = part.replace("%", "%%")
        pieces = part.split("?")
        text = pieces[0]
        for piece in pieces[1:]:
            number += 1
            text += ("%s" if style == "format" else f"${number}") + piece
        out.append(text)
    return "'".join(out)
