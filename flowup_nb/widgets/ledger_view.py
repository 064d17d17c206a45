"""``LedgerView``: the ledger as a dashboard, refreshing itself as new records arrive.

A line of counts above six tabs (summary, credits, latency, captcha, errors, raw).
Inside a kernel a small task polls the ledger's row count (one cheap ``count(*)``)
every ``refresh_interval`` seconds; when it moved, the counts and the open tab are
redrawn, and the other tabs are redrawn when opened. Polling the file rather than
listening to one client also catches rows written by other kernels and batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
import traceback
from typing import Any

import ipywidgets as w

from flowup_nb.widgets.ledger_pages import PAGES, counts_html, ledger_counts, render_page
from flowup_nb.widgets.tasks import NoRunningLoopError, TaskKeeper

__all__ = ["LedgerView"]

log = logging.getLogger("flowup_nb.widgets")


class LedgerView(w.VBox):
    """Tabs over the ledger's analyses. ``ledger=None`` opens the default ledger.

    ``refresh_interval``: seconds between checks for new rows (0 turns the timer off;
    the Refresh button and :meth:`refresh` always work).
    """

    def __init__(self, ledger: Any = None, *, refresh_interval: float = 2.0) -> None:
        if ledger is None:
            from flowup_nb.ledger import default_ledger

            ledger = default_ledger()
        if refresh_interval < 0:
            raise ValueError(f"refresh_interval must be >= 0 seconds, got {refresh_interval!r}")
        self.ledger = ledger
        self.refresh_interval = float(refresh_interval)
        self.counts = None
        self.refreshes = 0
        self._seen_rows: int | None = None
        self._stale = set(PAGES)
        self._keeper = TaskKeeper(self._show_failure)
        self._closed = False

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
        self.refresh()
        if self.refresh_interval > 0:
            # Outside a kernel there is no loop for a timer; refresh() and the button work.
            with contextlib.suppress(NoRunningLoopError):
                self._keeper.spawn(self._watch(), name="flowup-ledger-watch")

    @property
    def selected(self) -> str:
        index = self.tabs.selected_index or 0
        return list(PAGES)[index]

    def refresh(self) -> None:
        """Redraw the counts and the open tab now; the other tabs when next opened."""
        try:
            self._seen_rows = len(self.ledger)
            self.counts = ledger_counts(self.ledger)
        except Exception as exc:  # e.g. a closed or unreadable ledger: say so in the view
            log.exception("LedgerView could not read the ledger")
            self.updated.value = _failure_html(exc, "Could not read the ledger")
            return
        self.counts_line.value = counts_html(self.counts, str(_path(self.ledger)))
        self._stale = set(PAGES)
        self._draw(self.selected)
        self.refreshes += 1
        self.updated.value = (
            f'<span style="font-size:11px;color:#667085">updated {time.strftime("%H:%M:%S")}</span>'
        )

    def close(self) -> None:
        """Stop the timer and close the widgets."""
        self._closed = True
        self._keeper.cancel_all()
        self.tabs.close()
        super().close()

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.refresh_interval)
            if len(self.ledger) != self._seen_rows:
                self.refresh()

    def _on_tab(self, _change: object = None) -> None:
        if self.selected in self._stale:
            self._draw(self.selected)

    def _draw(self, name: str) -> None:
        try:
            self.pages[name].value = render_page(name, self.ledger, self._seen_rows)
        except Exception as exc:  # shown in the tab: a broken page must not kill the view
            log.exception("ledger page %s failed", name)
            self.pages[name].value = _failure_html(exc)
        self._stale.discard(name)

    def _show_failure(self, error: BaseException) -> None:
        log.error("LedgerView refresh failed", exc_info=error)
        self.updated.value = _failure_html(error)


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
