"""Run a coroutine from a widget's synchronous callback without blocking the kernel.

A button's ``on_click`` handler is plain sync code running on the kernel's event loop.
It must return at once, so the work becomes a task on that running loop. Two classic
traps are closed here: asyncio keeps only a *weak* reference to tasks (a task nobody
holds can vanish mid-flight), and an exception in a task nobody awaits is lost (at best
a log line when the task is collected). :class:`TaskKeeper` holds every task strongly
until it ends and hands any exception to a callback that shows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["NoRunningLoopError", "TaskKeeper"]

log = logging.getLogger("flowup_nb.widgets")

T = TypeVar("T")


class NoRunningLoopError(RuntimeError):
    """A widget action was triggered outside a running event loop (not in a kernel)."""


class TaskKeeper:
    """Tasks spawned from sync callbacks: held until done, exceptions reported, never lost.

    ``on_error(exc)`` is called (on the loop) with the exception of any task that fails;
    cancellation is not a failure. If ``on_error`` itself fails, both are logged.
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._on_error = on_error
        self._tasks: set[asyncio.Task[Any]] = set()
        # The loop the tasks run on (the kernel's): waiting for them must happen there.
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Schedule ``coro`` on the running loop and keep it until it ends."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()  # never awaited: close it, or Python warns about it later
            raise NoRunningLoopError(
                "this widget needs a running event loop, as in a Jupyter kernel; from a "
                "plain script call the client directly (e.g. client.upscale(...))"
            ) from None
        task = loop.create_task(coro, name=name)
        self.loop = loop
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        try:
            self._on_error(error)
        except Exception:
            log.exception("could not show the error of task %s", task.get_name())
            log.error("task %s failed", task.get_name(), exc_info=error)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def settle(self) -> None:
        """Wait until no task is left (tasks may spawn more while we wait)."""
        current = asyncio.current_task()
        while True:
            pending = [task for task in self._tasks if task is not current]
            if not pending:
                return
            await asyncio.wait(pending)
