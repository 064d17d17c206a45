"""The ledger: every exchange with the API in SQLite or PostgreSQL, analysed as
DataFrames and plots.

Importing this package is cheap (sqlite3 only); pandas and pyarrow load on the first
frame, matplotlib on the first plot, and the PostgreSQL drivers on the first server
ledger.
"""

from __future__ import annotations

from flowup_nb.ledger.errors import LedgerError
from flowup_nb.ledger.paths import default_ledger_path
from flowup_nb.ledger.store import Ledger, default_ledger

__all__ = ["Ledger", "LedgerError", "default_ledger", "default_ledger_path"]
