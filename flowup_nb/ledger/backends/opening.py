"""Which backend a location needs (imported lazily: a file ledger never loads psycopg)."""

from __future__ import annotations

from flowup_nb.ledger.backends.base import Backend
from flowup_nb.ledger.location import Location, PostgresLocation

__all__ = ["open_backend"]


def open_backend(location: Location, *, busy_timeout: float) -> Backend:
    """A backend for ``location``; a PostgreSQL one connects lazily (a server that is down
    does not stop a Ledger from opening: its records wait in the fallback file)."""
    if isinstance(location, PostgresLocation):
        from flowup_nb.ledger.backends.postgres import PostgresBackend

        return PostgresBackend(location, timeout=busy_timeout)
    from flowup_nb.ledger.backends.sqlite import SqliteBackend

    return SqliteBackend(location, busy_timeout=busy_timeout)
