"""Where a ledger lives: a SQLite file, or a PostgreSQL database named by a URL.

``Ledger(target)`` and ``$FLOWUP_LEDGER`` take either. Anything that looks like a URL is
read as one and never becomes a file: ``postgresql://...`` (or ``postgres://``) names a
server, ``sqlite:///path`` a file; any other scheme, a malformed URL, or a PostgreSQL URL
without the drivers installed is an :class:`~flowup_nb.api.errors.InputError` that names
the fix. A server URL is shown without its password (``display``); the full one stays
private to the connection code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from flowup_nb.api.errors import InputError
from flowup_nb.ledger.paths import ENV_VAR, default_ledger_path, fallback_path, resolve_ledger_path

__all__ = [
    "TEAM_EXTRA",
    "Location",
    "PostgresLocation",
    "SqliteLocation",
    "resolve_location",
]

TEAM_EXTRA = "pip install 'flowup-nb[team]'"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
# A scheme of two letters or more: "C:\\ledger.sqlite" stays a Windows path.
_SCHEME = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]+):")
_POSTGRES_DRIVERS = {"psycopg": "psycopg", "adbc_driver_postgresql": "adbc-driver-postgresql"}
_SECRET_PARAMS = re.compile(r"(?i)(password|sslpassword)=[^&\s]*")


@dataclass(frozen=True, slots=True)
class SqliteLocation:
    """A ledger in a SQLite file."""

    path: Path

    @property
    def display(self) -> str:
        return str(self.path)

    @property
    def fallback_path(self) -> Path:
        return fallback_path(self.path)


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    """A ledger in a PostgreSQL database. ``display`` has no password; ``conninfo`` (the
    URL as given, password included when it had one) is kept out of the repr."""

    display: str
    conninfo: str = field(repr=False)

    @property
    def fallback_path(self) -> Path:
        # Per user and per database, on this machine: rows wait here while the server is
        # out of reach. Named by a digest, so the file name holds no host or user name.
        digest = hashlib.sha256(self.display.encode()).hexdigest()[:16]
        folder = Path(platformdirs.user_data_dir("flowup-nb", appauthor=False)) / "fallback"
        return folder / f"postgresql-{digest}.fallback.jsonl"


Location = SqliteLocation | PostgresLocation


def resolve_location(target: str | os.PathLike[str] | None) -> Location:
    """The ledger ``Ledger(target)`` means (``None``: ``$FLOWUP_LEDGER``, else the default
    file); raises InputError for a URL this installation cannot open."""
    origin = "Ledger(...)"
    if target is None:
        text = os.environ.get(ENV_VAR, "").strip()
        if not text:
            return SqliteLocation(default_ledger_path())
        origin = f"${ENV_VAR}"
    else:
        text = os.fspath(target)
    match = _SCHEME.match(text)
    if match is None:
        return SqliteLocation(resolve_ledger_path(text))
    scheme = match.group(1).lower()
    if scheme in _POSTGRES_SCHEMES:
        return _postgres(text, origin)
    if scheme == "sqlite":
        return _sqlite_url(text, origin)
    if scheme == "file":
        return SqliteLocation(resolve_ledger_path(unquote(urlsplit(text).path)))
    if text[match.end() : match.end() + 2] == "//":
        raise InputError(
            f"{origin}: {scheme}:// is not a ledger this toolkit can use; give a file path "
            f"(a SQLite ledger) or a postgresql://user@host:5432/dbname URL"
        )
    return SqliteLocation(resolve_ledger_path(text))  # e.g. "notes:v2.sqlite", a file name


def _sqlite_url(text: str, origin: str) -> SqliteLocation:
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise InputError(
            f"{origin}: malformed SQLite URL {text!r}: write sqlite:///absolute/path.sqlite "
            f"(three slashes), or just the file path"
        )
    return SqliteLocation(resolve_ledger_path(unquote(parts.path)))


def _postgres(text: str, origin: str) -> PostgresLocation:
    scheme, _, rest = text.partition(":")
    if not rest.startswith("//"):
        raise InputError(
            f"{origin}: malformed PostgreSQL URL: after {scheme!r} write '://', as in "
            f"postgresql://user@host:5432/dbname"
        )
    parts = urlsplit(text)
    hosts = parts.netloc.rpartition("@")[2]
    if "," not in hosts:  # libpq's multi-host lists are checked by libpq below
        try:
            parts.port  # noqa: B018 - parsing is the check
        except ValueError:
            port = hosts.rpartition(":")[2]
            raise InputError(
                f"{origin}: malformed PostgreSQL URL: the port {port!r} is not a number "
                f"from 1 to 65535 (postgresql://user@host:5432/dbname)"
            ) from None
    missing = [pip for module, pip in _POSTGRES_DRIVERS.items() if not _installed(module)]
    if missing or not _installed("pyarrow"):
        raise InputError(
            f"{origin}: a PostgreSQL ledger needs {', '.join(missing) or 'pyarrow'}, which "
            f"{'is' if len(missing) < 2 else 'are'} not installed: {TEAM_EXTRA}"
        )
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(text)
    except psycopg.Error as exc:
        # libpq's words, less anything that could be the password.
        message = _SECRET_PARAMS.sub(r"\1=...", str(exc).strip())
        if parts.password:
            message = message.replace(parts.password, "...")
        raise InputError(f"{origin}: malformed PostgreSQL URL: {message}") from None
    return PostgresLocation(display=_display(params), conninfo=text)


def _display(params: Mapping[str, object]) -> str:
    user = str(params.get("user") or "")
    host = str(params.get("host") or "")
    port = str(params.get("port") or "")
    dbname = str(params.get("dbname") or "")
    where = host + (f":{port}" if port else "")
    return f"postgresql://{user + '@' if user else ''}{where}/{dbname}"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
