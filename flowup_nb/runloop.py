"""Run async work from sync code, even inside a running loop (a Jupyter kernel's).

``asyncio.run()`` refuses to start while a loop runs in the thread, which is always the
case in a kernel. ``nest_asyncio`` makes the running loop re-entrant; it patches asyncio
process-wide, so it is applied lazily, on the first call that needs it, and never at
import. It can only patch asyncio's own loops: on any other (uvloop, or when
``FLOWUP_NO_NEST_ASYNCIO`` is set) the coroutine runs on a private loop in a worker
thread instead, and the calling thread waits for it.

Work bound to one loop (a form's tasks) names that loop as its ``home``: it runs there,
waited on from any other thread; from the loop's own thread when that loop cannot be
re-entered, waiting would block the very loop the work needs, so
:class:`LoopNotReentrantError` says what to write instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["NO_NEST_ENV", "LoopNotReentrantError", "can_patch", "run_sync"]

T = TypeVar("T")

# Set to 1 to never patch the loop (the worker-thread fallback is used instead).
NO_NEST_ENV = "FLOWUP_NO_NEST_ASYNCIO"

_patch_lock = threading.Lock()


class LoopNotReentrantError(RuntimeError):
    """Sync code on a loop that cannot be re-entered asked to wait for work on that loop."""


def can_patch(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether nest_asyncio can make ``loop`` re-entrant (only asyncio's own loops)."""
    if os.environ.get(NO_NEST_ENV, "").strip() not in ("", "0"):
        return False
    # Checked before calling nest_asyncio.apply(): it patches asyncio globally *before*
    # it finds out that it cannot patch the loop.
    return isinstance(loop, asyncio.BaseEventLoop)


def run_sync(
    coro: Coroutine[Any, Any, T],
    *,
    home: asyncio.AbstractEventLoop | None = None,
    instead: str = "",
) -> T:
    """Run ``coro`` to completion and return its result, from sync code.

    No loop running: ``asyncio.run``. A patchable loop running (a kernel): that loop,
    made re-entrant by nest_asyncio on first use. Any other loop: a private loop in a
    worker thread (so the coroutine must not use objects bound to the caller's loop).

    ``home``: the running loop the coroutine's objects belong to (None: any). It runs
    there: from another thread, this one waits for it; from ``home``'s own thread, only
    if ``home`` can be re-entered, else :class:`LoopNotReentrantError` naming
    ``instead`` (what to write in an async cell, e.g. ``await form.settle()``).
    """
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if home is not None and home is not loop and home.is_running():
        return asyncio.run_coroutine_threadsafe(coro, home).result()
    if home is not None and home is loop and not can_patch(loop):
        coro.close()  # never started: no "was never awaited" warning
        raise LoopNotReentrantError(
            f"cannot block this cell: its event loop ({type(loop).__name__}) cannot be "
            f"re-entered (uvloop, or {NO_NEST_ENV} is set), and the work waited for runs "
            f"on that loop, so waiting here would stop it for good. Write `{instead}` in "
            f"the cell instead (a cell may await), or unset {NO_NEST_ENV} on asyncio's loop."
        )
    if loop is None:
        return asyncio.run(coro)
    if can_patch(loop):
        _apply_nest_asyncio(loop)
        return loop.run_until_complete(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="flowup-run-sync") as pool:
        return pool.submit(asyncio.run, coro).result()


def _apply_nest_asyncio(loop: asyncio.AbstractEventLoop) -> None:
    if getattr(loop, "_nest_patched", False):
        return
    with _patch_lock:
        import nest_asyncio  # imported here on purpose: importing it is harmless, applying is not

        nest_asyncio.apply(loop)
