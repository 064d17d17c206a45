"""``LedgerView``: the ledger as a dashboard, refreshing itself as new records arrive.

A line of counts above six tabs (summary, credits, latency, captcha, errors, raw).

Inside a kernel the view never does the heavy work on the event loop, where it would
stall every cell and every form: reading the ledger, the analyses and drawing a tab run
in a worker thread, and only the widget updates come back to the loop. The view shows
the number of exchanges at once and fills its counts and tabs when the worker is done.
Every ``refresh_interval`` seconds the worker asks the ledger for the rows added since
its last read (``Ledger.refresh()``: only those are read, and the frame and the jobs
table are brought up to date from them); when there are some, the counts and the open
tab are redrawn, and the other tabs when opened. Asking the ledger, not listening to one
client, also catches rows written by other kernels, batches and machines.

Outside a kernel (no running loop) the same work runs inline, as any function would.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from flowup_nb.api.errors import InputError
from flowup_nb.widgets.ledger_pages import (
    PAGES,
    LedgerCounts,
    counts_html,
    ledger_counts,
    loading_html,
    render_page,
)
from flowup_nb.widgets.tasks import TaskKeeper

if TYPE_CHECKING:
    from flowup_nb.ledger import Ledger

__all__ = ["LedgerView"]

# What the view asks of a ledger (the pages call its analyses).
_LEDGER_METHODS = ("__len__", "summary", "frame", "jobs", "credits", "errors")

log = logging.getLogger("flowup_nb.widgets")


@dataclass(frozen=True, slots=True)
class _Drawn:
    """What a worker computed: the counts and some pages, ready to show."""

    counts: LedgerCounts
    pages: dict[str, str]


class LedgerView(w.VBox):
    """Tabs over the ledger's analyses: of ``ledger``, a :class:`~flowup_nb.Ledger`, the
    path or URL of an existing ledger (opened, and closed with the view), or None (the
    default ledger).

    ``refresh_interval``: seconds between checks for new rows (0 turns the timer off;
    the Refresh button and :meth:`refresh` always work).
    """

    def __init__(
        self,
        ledger: Ledger | str | os.PathLike[str] | None = None,
        *,
        refresh_interval: float = 2.0,
    ) -> None:
        if refresh_interval < 0:
            raise ValueError(f"refresh_interval must be >= 0 seconds, got {refresh_interval!r}")
        self.ledger = _ledger(ledger)
        self._owns_ledger = isinstance(ledger, str | os.PathLike)
        self.refresh_interval = float(refresh_interval)
        self.counts: LedgerCounts | None = None
        self.refreshes = 0  # redraws shown
        self.checks = 0  # times the timer asked the ledger for new rows
        self._stale = set(PAGES)
        self._keeper = TaskKeeper(self._show_failure)
        self._closed = False
        self._busy = False  # a worker is out
        self._again = False  # and another redraw was asked for meanwhile
        self._size: int | None = None  # rows seen, for a ledger-like without refresh()

        self.title = w.HTML(
            '<span style="font-size:16px;font-weight:600">Ledger</span> '
            f'<span style="font-size:12px;color:#667085">{html.escape(str(_path(ledger)))}</span>'
        )
        self.counts_line = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.updated = w.HTML()
        self.pages = {name: w.HTML() for name in PAGES}
        self.tabs = w.Tab(children=list(self.pages.values()), titles=tuple(PAGES))
        self.title.add_class("flowup-ledger-title")
        self.counts_line.add_class("flowup-ledger-counts")
        self.refresh_button.add_class("flowup-ledger-refresh")
        self.tabs.add_class("flowup-ledger-tabs")
        for name, page in self.pages.items():
            page.add_class(f"flowup-ledger-{name}")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.tabs.observe(self._on_tab, names="selected_index")
        self.refresh_button.layout = w.Layout(width="110px", margin="0 12px")
        header = w.HBox(
            [self.title, self.refresh_button, self.updated],
            layout=w.Layout(align_items="center"),
        )
        super().__init__([header, self.counts_line, self.tabs])
        self.add_class("flowup-ledger-view")
        if not _in_a_loop():
            self.refresh()  # outside a kernel: now, inline
            return
        self._show_at_once()
        self._keeper.spawn(self._update(force=True), name="flowup-ledger-first")
        if self.refresh_interval > 0:
            self._keeper.spawn(self._watch(), name="flowup-ledger-watch")

    @property
    def selected(self) -> str:
        index = self.tabs.selected_index or 0
        return list(PAGES)[index]

    def refresh(self) -> None:
        """Redraw the counts and the open tab (the other tabs when next opened): in the
        background inside a kernel, at once outside one."""
        if _in_a_loop():
            self._keeper.spawn(self._update(force=True), name="flowup-ledger-refresh")
            return
        try:
            drawn = self._compute({self.selected}, force=True)
        except Exception as exc:  # e.g. a closed or unreadable ledger: say so in the view
            self._unreadable(exc)
            return
        if drawn is not None:
            self._apply(drawn)

    def close(self) -> None:
        """Stop the timer and close the widgets (and the ledger, when opened from a path)."""
        self._closed = True
        # ipywidgets' __del__ calls close() on a view whose __init__ refused its arguments
        # too, so only what was built is closed (else a traceback at interpreter exit).
        keeper = getattr(self, "_keeper", None)
        if keeper is not None:
            keeper.cancel_all()
        tabs = getattr(self, "tabs", None)
        if tabs is not None:
            tabs.close()
        if getattr(self, "_owns_ledger", False):
            self.ledger.close()
        super().close()

    # -- on the loop ------------------------------------------------------------------

    def _show_at_once(self) -> None:
        """The number of exchanges (one count) and placeholders, before any analysis."""
        try:
            exchanges = len(self.ledger)
        except Exception as exc:
            self._unreadable(exc)
            return
        self.counts_line.value = counts_html(
            LedgerCounts(exchanges, 0, 0, 0, 0, 0, 0), str(_path(self.ledger)), loading=True
        )
        for page in self.pages.values():
            page.value = loading_html()

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.refresh_interval)
            self.checks += 1
            await self._update(force=False)

    async def _update(self, *, force: bool) -> None:
        """Have a worker thread compute what changed, then show it (here, on the loop)."""
        if self._busy:
            self._again = self._again or force
            return
        self._busy = True
        loop = asyncio.get_running_loop()
        try:
            while not self._closed:
                self._again = False
                try:
                    drawn = await loop.run_in_executor(None, self._compute, {self.selected}, force)
                except Exception as exc:
                    self._unreadable(exc)
                    return
                if drawn is not None and not self._closed:
                    self._apply(drawn)
                if not self._again:
                    return
                force = True
        finally:
            self._busy = False

    def _on_tab(self, _change: object = None) -> None:
        name = self.selected
        if name not in self._stale or self.counts is None:
            return
        if not _in_a_loop():
            self._draw_now(name)
            return
        self._keeper.spawn(self._draw_later(name), name=f"flowup-ledger-{name}")

    async def _draw_later(self, name: str) -> None:
        rows = self.counts.exchanges if self.counts else None
        page = await asyncio.get_running_loop().run_in_executor(None, self._page, name, rows)
        if not self._closed:
            self.pages[name].value = page
            self._stale.discard(name)

    def _draw_now(self, name: str) -> None:
        self.pages[name].value = self._page(name, self.counts.exchanges if self.counts else None)
        self._stale.discard(name)

    def _apply(self, drawn: _Drawn) -> None:
        self.counts = drawn.counts
        self.counts_line.value = counts_html(drawn.counts, str(_path(self.ledger)))
        self._stale = set(PAGES)
        for name, page in drawn.pages.items():
            self.pages[name].value = page
            self._stale.discard(name)
        self.refreshes += 1
        self.updated.value = (
            f'<span style="font-size:11px;color:#667085">updated {time.strftime("%H:%M:%S")}</span>'
        )

    def _unreadable(self, exc: BaseException) -> None:
        log.error("LedgerView could not read the ledger", exc_info=exc)
        self.updated.value = _failure_html(exc, "Could not read the ledger")

    def _show_failure(self, error: BaseException) -> None:
        log.error("LedgerView refresh failed", exc_info=error)
        self.updated.value = _failure_html(error)

    # -- in the worker thread (or inline outside a kernel) ---------------------------------

    def _compute(self, pages: set[str], force: bool) -> _Drawn | None:
        """The counts and ``pages``, or None when nothing was added and nothing forced."""
        follow = getattr(self.ledger, "refresh", None)
        if callable(follow):
            added = follow()  # reads only the rows added since the last read
        else:  # a ledger-like object without one: compare the row count
            size = len(self.ledger)
            added, self._size = size != self._size, size
        if not added and not force:
            return None
        pinned = getattr(self.ledger, "as_read", None)
        with pinned() if callable(pinned) else contextlib.nullcontext():
            # One state of the ledger for the counts and the pages: rows that arrive
            # meanwhile are left for the next check, which then sees them as new.
            counts = ledger_counts(self.ledger)
            return _Drawn(counts, {name: self._page(name, counts.exchanges) for name in pages})

    def _page(self, name: str, rows: int | None) -> str:
        pinned = getattr(self.ledger, "as_read", None)
        try:
            with pinned() if callable(pinned) else contextlib.nullcontext():
                return render_page(name, self.ledger, rows)
        except Exception as exc:  # shown in the tab: a broken page must not kill the view
            log.exception("ledger page %s failed", name)
            return _failure_html(exc)


def _ledger(target: object) -> Any:
    """The ledger to show: the one given, the default one (None), or the existing ledger
    at a path or database URL (opened here, closed with the view)."""
    if target is None:
        from flowup_nb.ledger import default_ledger

        return default_ledger()
    if isinstance(target, str | os.PathLike):
        from flowup_nb.ledger import Ledger
        from flowup_nb.ledger.location import SqliteLocation, resolve_location

        location = resolve_location(target)
        if isinstance(location, SqliteLocation) and not location.path.is_file():
            raise InputError(
                f"no ledger file at {location.path}: pass the path of an existing ledger "
                "(fu.Ledger(path) creates a new one), or None for the default ledger"
            )
        return Ledger(target)
    if not all(callable(getattr(target, name, None)) for name in _LEDGER_METHODS):
        raise InputError(
            f"LedgerView shows a fu.Ledger: pass one, a ledger file path, a postgresql:// "
            f"URL, or None for the default ledger (got {type(target).__name__})"
        )
    return target


def _in_a_loop() -> bool:
    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop()
        return True
    return False


def _path(ledger: Any) -> Any:
    return getattr(ledger, "path", "")


def _failure_html(error: BaseException, what: str = "Could not draw this page") -> str:
    details = "".join(traceback.format_exception(error)).strip()
    return (
        '<div class="flowup-errorbox" style="border-left:4px solid #dc2626;background:#fef2f2;'
        'padding:6px 10px;font-size:12px">'
        f"<b>{html.escape(what)}: {html.escape(type(error).__name__)}: "
        f"{html.escape(str(error))}</b><details><summary>details</summary>"
        f'<pre style="white-space:pre-wrap">{html.escape(details)}</pre></details></div>'
    )
