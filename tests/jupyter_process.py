"""A Jupyter server (JupyterLab, Notebook 7, the demo) run by a test: its output is read
as it comes, so a test waits for the line that says a thing happened, never for time."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

# Jupyter says this once its HTTP server is bound and listening.
RUNNING = re.compile(r"Jupyter Server [\d.]+\S* is running at")


class ServerProcess:
    """A subprocess whose merged stdout/stderr is collected line by line (drained, so a
    chatty server never blocks on a full pipe)."""

    def __init__(self, command: Sequence[str], *, cwd: Path, env: dict[str, str]) -> None:
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 120) -> re.Match[str]:
        """The first match of ``pattern`` in a line of output; fails with the output when
        the process ends or ``timeout`` seconds pass without it."""
        compiled = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for m in map(compiled.search, self._lines) if m][:1]
            return bool(found) or self._ended

        with self._changed:
            self._changed.wait_for(seen, timeout=timeout)
        if not found:
            raise AssertionError(
                f"no line matching {compiled.pattern!r} "
                f"({'the process ended' if self._ended else f'within {timeout} s'}):\n"
                + self.output[-4000:]
            )
        return found[0]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
