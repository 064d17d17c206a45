"""The whole ledger as a frame, kept current by reading only the rows added since.

A long history is read once; after that each refresh asks the database for the rows
whose insertion order (``seq``) is above what it has settled, types just those, and joins
them to what it holds. The derived columns (balances, expected cost, filled accounts)
depend on other rows, so they are recomputed over the whole, with numpy, when the frame
is next asked for.

On a server, rows become visible in commit order, not in ``seq`` order: a reader can see
row 101 while row 100 is still being committed by another kernel. So the next read
starts from the backend's *settled* ``seq`` (below it nothing can still appear), not from
the largest one seen, and the rows above it that are already held are skipped by ``seq``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flowup_nb.ledger.frame import concat_typed, finish_frame
from flowup_nb.ledger.reading import Filters, read_typed

if TYPE_CHECKING:
    import pandas as pd

    from flowup_nb.ledger.backends.base import Backend

__all__ = ["FrameFollower"]


class FrameFollower:
    """See the module docstring. Thread-safe: one refresh at a time."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._typed: pd.DataFrame | None = None  # every row held, typed, unordered
        self._frame: pd.DataFrame | None = None  # the finished frame of _typed
        self._low: int | None = None  # rows at or below this seq are all held
        self._recent: set[int] = set()  # seqs held above _low
        self.version = 0  # moves whenever rows were added

    def refresh(self) -> int:
        """Read the rows added since the last refresh; returns how many were new."""
        with self._lock:
            settled = self._backend.settled_seq()  # before the read: all of them are in it
            new = read_typed(self._backend, Filters(), after_seq=self._low)
            if self._recent and len(new):
                new = new.loc[~new["_seq"].isin(self._recent).to_numpy()]
            if self._typed is None:
                self._typed = new
                self.version += 1
                self._frame = None
            elif len(new):
                self._typed = concat_typed([self._typed, new])
                self.version += 1
                self._frame = None
            if settled is not None and (self._low is None or settled > self._low):
                self._low = settled
            held = set(self._recent) | set(new["_seq"].tolist())
            self._recent = held if self._low is None else {s for s in held if s > self._low}
            return len(new)

    def frame(self, *, refresh: bool = True) -> pd.DataFrame:
        """The whole ledger's frame (shared: callers must not modify it)."""
        if refresh or self._typed is None:
            self.refresh()
        with self._lock:
            assert self._typed is not None
            if self._frame is None:
                self._frame = finish_frame(self._typed)
            return self._frame

    @property
    def rows(self) -> int:
        """How many rows are held (0 before the first refresh)."""
        typed = self._typed
        return 0 if typed is None else len(typed)
