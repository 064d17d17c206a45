"""Where the ledger lives: one file per user that every notebook finds."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["ENV_VAR", "default_ledger_path", "fallback_path", "resolve_ledger_path"]

ENV_VAR = "FLOWUP_LEDGER"
_APP_NAME = "flowup-nb"
_FILE_NAME = "ledger.sqlite"


def default_ledger_path() -> Path:
    """``$FLOWUP_LEDGER`` when set, else ``<user data dir>/flowup-nb/ledger.sqlite``."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(_APP_NAME, appauthor=False)) / _FILE_NAME


def resolve_ledger_path(path: str | os.PathLike[str] | None) -> Path:
    """The database file a ``Ledger(path)`` means; a directory gets the default file name."""
    if path is None:
        return default_ledger_path()
    resolved = Path(path).expanduser()
    if resolved.is_dir():
        return resolved / _FILE_NAME
    return resolved


def fallback_path(db_path: Path) -> Path:
    """The JSONL file beside the database that holds records a write could not store."""
    return db_path.with_name(db_path.name + ".fallback.jsonl")
