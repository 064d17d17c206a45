"""Helpers for the secrets and webhook-hardening suites (part C of issue 7).

A module with a unique name: test directories have no ``__init__``, so a plain
``helpers.py`` here could shadow another directory's.
"""

from __future__ import annotations

import http.server
import io
import logging
import os
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simclient import JO as JO  # re-exported for the secrets tests
from simclient import SAM as SAM
from simclient import fast_settings

# A 429 cooldown longer than max_retry_wait surfaces as an error at once.
FAST: dict[str, Any] = fast_settings()

# Every logger that could see a request: ours, the HTTP stack's, and whatever else
# propagates to the root.
LOGGERS = ("", "flowup_nb", "httpx", "httpcore", "asyncio", "urllib3")


@contextmanager
def debug_log_capture() -> Iterator[io.StringIO]:
    """Every log record of every level, from every logger, formatted into one string."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield sink
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def texts_of(value: Any) -> list[str]:
    """What a user could ever see of a value: repr, str, and for an exception its whole
    formatted traceback (causes and contexts included) and its attributes."""
    texts = [repr(value), str(value)]
    if isinstance(value, BaseException):
        texts.append("".join(traceback.format_exception(value)))
        texts += [repr(attribute) for attribute in vars(value).values()]
    elif hasattr(value, "__dict__") or hasattr(value, "__slots__"):
        texts += [repr(attribute) for attribute in _attributes(value)]
    return texts


def _attributes(value: Any) -> list[Any]:
    names = list(getattr(value, "__dict__", {}))
    for klass in type(value).__mro__:
        slots = getattr(klass, "__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return [getattr(value, name) for name in names if hasattr(value, name)]


def file_bytes(*paths: Path) -> dict[str, bytes]:
    """Contents of the files that exist among ``paths`` (by name)."""
    return {path.name: path.read_bytes() for path in paths if path.is_file()}


def paths_named_like(marker: str, *roots: Path, depth: int = 3) -> list[Path]:
    """Every file or directory at most ``depth`` levels under ``roots`` whose name
    contains ``marker`` (bounded: /tmp and home are shared and can be deep)."""
    found: list[Path] = []
    for root in roots:
        for directory, dirs, files in os.walk(root, onerror=lambda _: None):
            found += [Path(directory, n) for n in dirs + files if marker in n]
            if len(Path(directory).relative_to(root).parts) >= depth - 1:
                dirs.clear()
    return found


@dataclass
class Seen:
    """One request a :class:`RecordingServer` received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """A loopback HTTP server that answers 200 to anything and keeps every request it
    got, headers included: a webhook URL whose view of the traffic the test can inspect."""

    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        recorded = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                recorded.append(Seen(self.command, self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
