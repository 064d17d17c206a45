"""The JSONL file that catches records the database could not take.

A write can fail (disk full, a lock held for too long, a read-only file, a server that
is down or refusing): the user's call must still succeed and the record must not be
lost, so it goes here, one JSON object per line, and is replayed into the database once
it takes records again (see writing.py).

Several processes may append while another replays. Appenders hold an exclusive
``flock`` while writing and re-check, under the lock, that the path still names the
file they opened; a replayer renames the file away first (a unique claim), then takes
the same lock, so every line written before or after the claim ends up read exactly
once by someone. Replaying twice is harmless anyway: ``call_id`` is the primary key.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # POSIX; elsewhere appends are unlocked (best effort)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["FallbackFile"]

_CLAIM_SUFFIX = ".replaying"


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return mine.st_nlink > 0 and (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


class FallbackFile:
    """Append-only JSONL beside the database; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, payload: dict[str, Any]) -> None:
        data = (json.dumps(payload, separators=(",", ":"), default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            # 0o600: a record can hold a signed media URL, which is a credential.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                with _locked(fd):
                    if not _same_file(fd, self.path):
                        continue  # claimed by a replayer between open and lock
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                    return
            finally:
                os.close(fd)

    def pending(self) -> bool:
        """Whether records wait in the file (one stat: cheap enough to ask per record)."""
        return self.path.exists()

    def claim(self) -> list[Path]:
        """Take the current file (and any claim a crashed replayer left) for replaying."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(
                self.path,
                self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}{_CLAIM_SUFFIX}"),
            )
        return sorted(self.path.parent.glob(f"{self.path.name}.*{_CLAIM_SUFFIX}"))

    @staticmethod
    def read(claimed: Path) -> tuple[list[dict[str, Any]], int]:
        """The payloads of a claimed file, and how many lines were unreadable.

        A line cut short by a crash is skipped, not fatal: the others still replay.
        """
        try:
            fd = os.open(claimed, os.O_RDONLY)
        except FileNotFoundError:  # another process replayed it first
            return [], 0
        try:
            with _locked(fd), os.fdopen(os.dup(fd), "rb") as handle:
                lines = handle.read().splitlines()
        finally:
            os.close(fd)
        payloads: list[dict[str, Any]] = []
        bad = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(payload, dict):
                payloads.append(payload)
            else:
                bad += 1
        return payloads, bad

    @staticmethod
    def discard(claimed: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(claimed)
