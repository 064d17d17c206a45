"""The ledger: every exchange with the API in SQLite, analysed as DataFrames and plots.

Importing this package is cheap (sqlite3 only); pandas loads on the first frame and
matplotlib on the first plot.
"""

from __future__ import annotations

from flowup_nb.ledger.paths import default_ledger_path
from flowup_nb.ledger.store import Ledger, LedgerError, default_ledger

__all__ = ["Ledger", "LedgerError", "default_ledger", "default_ledger_path"]
