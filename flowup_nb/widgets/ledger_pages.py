"""The ledger dashboard's pages as HTML: tables from the ledger's analyses, plots as PNG.

No widgets here: each function takes a :class:`~flowup_nb.ledger.Ledger` and returns
HTML, so the pages can be checked (or saved) without a kernel. Plots are drawn on
figures that pyplot never sees, so a background refresh cannot leak a figure into the
output of whatever cell runs next.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "PAGES",
    "LedgerCounts",
    "counts_html",
    "ledger_counts",
    "loading_html",
    "pick_freq",
    "render_page",
]

_RAW_COLUMNS = (
    "started_at",
    "operation",
    "mode",
    "account",
    "resolution",
    "http_status",
    "outcome",
    "error_type",
    "job_status",
    "cached",
    "remaining_credits",
    "credits_spent",
    "captcha_service",
    "captcha_ms",
    "wall_ms",
    "job_id",
)
TABLE_CSS = """
<style>
.flowup-table { border-collapse: collapse; font-size: 12px; margin: 6px 0 10px 0; }
.flowup-table th, .flowup-table td { padding: 3px 8px; border-bottom: 1px solid #eaecf0;
  text-align: right; white-space: nowrap; }
.flowup-table thead th { background: #f8fafc; color: #344054; }
.flowup-table tbody th { text-align: left; color: #344054; }
.flowup-page h4 { margin: 8px 0 2px 0; font-size: 13px; }
.flowup-counts { font-size: 13px; color: #344054; }
.flowup-counts b { color: #101828; }
</style>
"""


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    exchanges: int
    jobs: int
    completed: int
    failed: int
    errors: int
    credits_spent: int  # measured: falls of the reported balance
    expected_cost: int  # the price list's view of the same jobs


def ledger_counts(ledger: Any) -> LedgerCounts:
    """The counts line's numbers, all from one summary (one state of the ledger)."""
    summary = ledger.summary()
    row = summary.loc["(all)"] if "(all)" in summary.index else summary.sum(numeric_only=True)
    exchanges = _int(row.get("calls"))
    if exchanges == 0:
        return LedgerCounts(0, 0, 0, 0, 0, 0, 0)
    return LedgerCounts(
        exchanges=exchanges,
        jobs=_int(row.get("jobs")),
        completed=_int(row.get("jobs_completed")),
        failed=_int(row.get("jobs_failed")),
        errors=_int(row.get("errors")),
        credits_spent=_int(row.get("credits_spent")),
        expected_cost=_int(row.get("expected_cost")),
    )


def loading_html() -> str:
    """What a tab shows until its first drawing is ready."""
    return '<div class="flowup-muted flowup-loading" style="padding:8px">analysing…</div>'


def counts_html(counts: LedgerCounts, path: str, *, loading: bool = False) -> str:
    """The counts line; ``loading``: only the number of exchanges is known yet."""
    c = counts
    data = (
        f'data-exchanges="{c.exchanges}" data-jobs="{c.jobs}" data-completed="{c.completed}" '
        f'data-failed="{c.failed}" data-errors="{c.errors}" data-spent="{c.credits_spent}" '
        f'data-expected="{c.expected_cost}"'
    )
    if loading:
        return (
            f'{TABLE_CSS}<div class="flowup-counts flowup-ledger-counts-line" {data} '
            f'data-loading="1" title="{html.escape(path, quote=True)}">'
            f"<b>{c.exchanges:,}</b> exchanges · analysing…</div>"
        )
    # The first call of an account has no balance before it, so the measured spend can
    # lag the price list; say so rather than show one number that looks wrong.
    expected = (
        f" (price list: <b>{c.expected_cost:,}</b>)" if c.expected_cost != c.credits_spent else ""
    )
    return (
        f'{TABLE_CSS}<div class="flowup-counts flowup-ledger-counts-line" {data} '
        f'title="{html.escape(path, quote=True)}">'
        f"<b>{c.exchanges:,}</b> exchanges · <b>{c.jobs:,}</b> jobs "
        f"(<b>{c.completed:,}</b> completed, <b>{c.failed:,}</b> failed) · "
        f"<b>{c.errors:,}</b> errors · <b>{c.credits_spent:,}</b> credits spent{expected}</div>"
    )


def pick_freq(frame: pd.DataFrame) -> str:
    """A period for "per period" tables that gives a handful of bars for this history."""
    stamps = frame["started_at"].dropna()
    if stamps.empty:
        return "D"
    span = (stamps.max() - stamps.min()).total_seconds()
    for limit, freq in ((600, "min"), (3 * 3600, "10min"), (2 * 86400, "h"), (60 * 86400, "D")):
        if span <= limit:
            return freq
    return "W"


# -- the pages ------------------------------------------------------------------------


def summary_page(ledger: Any) -> str:
    return _page(
        ("Per account and in all", _table(ledger.summary(), pct=("success_rate",))),
        ("Jobs (latest 20)", _table(ledger.jobs().tail(20).iloc[::-1], index=False)),
    )


def credits_page(ledger: Any) -> str:
    freq = pick_freq(ledger.frame())
    return _page(
        (f"Credits per period ({freq})", _table(ledger.credits(freq=freq))),
        ("", _plot(lambda ax: ledger.plot_credits(freq, ax=ax))),
        ("Reported spend against the price list", _table(ledger.reconcile())),
    )


def latency_page(ledger: Any) -> str:
    return _page(
        ("Whole jobs, submit to result (ms)", _table(ledger.latency("resolution", level="job"))),
        ("", _plot(lambda ax: ledger.plot_latency("resolution", ax=ax))),
        ("Single calls (ms)", _table(ledger.latency())),
    )


def captcha_page(ledger: Any) -> str:
    table = ledger.captcha()
    return _page(
        ("Captcha providers", _table(table, pct=("solve_rate", "share_of_latency"))),
        ("", _figure_img(_captcha_figure(ledger))),
    )


def errors_page(ledger: Any) -> str:
    freq = pick_freq(ledger.frame())
    return _page(
        ("Errors by type", _table(ledger.errors(), pct=("share", "share_of_calls"))),
        ("", _plot(lambda ax: ledger.plot_errors(freq, ax=ax))),
    )


def raw_page(ledger: Any, rows: int = 200) -> str:
    frame = ledger.frame()
    columns = [c for c in _RAW_COLUMNS if c in frame.columns]
    latest = frame.sort_values("started_at", ascending=False).head(rows)[columns]
    return _page((f"Latest {len(latest)} of {len(frame):,} exchanges", _table(latest, index=False)))


PAGES: dict[str, Callable[[Any], str]] = {
    "summary": summary_page,
    "credits": credits_page,
    "latency": latency_page,
    "captcha": captcha_page,
    "errors": errors_page,
    "raw": raw_page,
}


EMPTY_PAGE = (
    '<div class="flowup-muted flowup-empty" style="padding:8px">No exchanges yet: run an '
    "upscale (the form, or client.upscale()) and this page fills in.</div>"
)


def render_page(name: str, ledger: Any, rows: int | None = None) -> str:
    """The page ``name``; a short note instead while the ledger is empty."""
    if (len(ledger) if rows is None else rows) == 0:
        return EMPTY_PAGE
    return PAGES[name](ledger)


# -- helpers --------------------------------------------------------------------------


def _page(*sections: tuple[str, str]) -> str:
    body = "".join(
        (f"<h4>{html.escape(title)}</h4>" if title else "") + content for title, content in sections
    )
    return f'{TABLE_CSS}<div class="flowup-page">{body}</div>'


def _table(frame: pd.DataFrame, *, index: bool = True, pct: tuple[str, ...] = ()) -> str:
    if frame.empty:
        return '<div class="flowup-muted">no data yet</div>'
    shown = frame.copy()
    for column in pct:
        if column in shown.columns:
            shown[column] = shown[column].map(lambda v: "—" if v != v else f"{v:.0%}")
    for column in shown.columns:
        if hasattr(shown[column], "dt") and getattr(shown[column].dt, "tz", None) is not None:
            shown[column] = shown[column].dt.strftime("%Y-%m-%d %H:%M:%S")
    # to_html escapes cell values (escape=True is the default).
    table = shown.to_html(
        classes="flowup-table", border=0, index=index, na_rep="—", float_format=_number
    )
    return f'<div style="overflow-x:auto;max-width:100%">{table}</div>'


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _plot(draw: Callable[[Any], Any]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.5, 3.4), layout="constrained")
    draw(figure.subplots())
    return _figure_img(figure)


def _captcha_figure(ledger: Any) -> Figure:
    # The ledger's captcha plot makes its own pyplot figure: keep pyplot from showing it
    # elsewhere (interactive off), and release it once rendered.
    import matplotlib.pyplot as plt

    with plt.ioff():
        figure: Figure = ledger.plot_captcha()
    plt.close(figure)
    return figure


def _figure_img(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="flowup-plot" style="max-width:100%" src="data:image/png;base64,{data}">'


def _int(value: Any) -> int:
    try:
        return 0 if value is None or value != value else int(value)
    except (TypeError, ValueError):
        return 0
