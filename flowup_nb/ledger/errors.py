"""The ledger's own exception (re-exported by ``flowup_nb.ledger``)."""

from __future__ import annotations

__all__ = ["LedgerError"]


class LedgerError(RuntimeError):
    """The ledger cannot be opened, created or read; the message names the fix."""
