"""Plots of the analyses (matplotlib, imported when a plot is asked for).

Each takes an analysis result (or the frame), draws on ``ax`` when given (else a new
figure), and returns what it drew on, so a notebook can restyle or save it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_captcha", "plot_costs", "plot_credits", "plot_errors", "plot_latency", "plural"]


def _axes(ax: Axes | None, size: tuple[float, float] = (9.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=size, layout="constrained")
    return new_ax


def _zone_label(index: pd.Index, tz: str | None) -> str:
    zone = tz or getattr(index, "tz", None) or "UTC"
    return str(zone)


def plural(count: float, noun: str, many: str | None = None) -> str:
    """``1 job``, ``2 jobs``, ``0 jobs`` (``many`` for irregular plurals)."""
    shown = f"{count:,.0f}" if float(count).is_integer() else f"{count:,.2f}"
    return f"{shown} {noun if count == 1 else (many or noun + 's')}"


def _period_labels(index: pd.Index) -> tuple[list[str], str]:
    """Tick labels for the periods, as short as they can be while telling every period
    apart (a month of days, minutes of one day, seconds...), and what they leave out (the
    day all the times share), for the axis label."""
    stamps = pd.DatetimeIndex(index)
    if not len(stamps):
        return [], ""
    distinct = len(set(stamps))
    days = stamps.normalize()
    one_day = len(set(days)) == 1
    if (stamps == days).all():
        monthly = (stamps.day == 1).all() and distinct == len({(s.year, s.month) for s in stamps})
        formats = ["%Y-%m"] if monthly else ["%Y-%m-%d"]
    elif one_day:
        formats = ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f"]
    else:
        formats = ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"]
    for fmt in formats:
        labels = [s.strftime(fmt) for s in stamps]
        if len(set(labels)) == distinct:
            break
    shared = stamps[0].strftime("%Y-%m-%d") if one_day and formats[0] == "%H:%M" else ""
    return labels, shared


def _set_period_ticks(ax: Axes, index: pd.Index, *, most: int = 16) -> str:
    """Label at most ``most`` periods (every n-th), so a year of days stays readable;
    returns the date the labels share (empty when they do not), for the axis label."""
    labels, shared = _period_labels(index)
    step = max(1, -(-len(labels) // most))
    positions = np.arange(0, len(labels), step)
    ax.set_xticks(positions, [labels[i] for i in positions], rotation=30, ha="right")
    return shared


def _period_axis_label(ax: Axes, index: pd.Index, tz: str | None) -> None:
    shared = _set_period_ticks(ax, index)
    on = f" on {shared}" if shared else ""
    ax.set_xlabel(f"period start{on} (time zone {_zone_label(index, tz)})")


def _no_data(ax: Axes, title: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_credits(table: pd.DataFrame, *, tz: str | None = None, ax: Axes | None = None) -> Axes:
    """Bars: credits spent per period (reported, beside expected); line: the balance."""
    ax = _axes(ax)
    title = "Credits spent per period, and the balance"
    if table.empty:
        return _no_data(ax, title)
    periods = table.index.get_level_values("period")
    x = np.arange(len(table))
    spent = table["credits_spent"].fillna(0).to_numpy(dtype=float)
    expected = table["expected_cost"].fillna(0).to_numpy(dtype=float)
    ax.bar(x - 0.2, spent, width=0.4, label="spent (balance falls)", color="tab:red")
    ax.bar(x + 0.2, expected, width=0.4, label="expected (price list)", color="tab:gray")
    ax.set_ylabel("credits spent (credits)")
    _period_axis_label(ax, periods, tz)
    ax.set_title(title, pad=24)
    handles, labels = ax.get_legend_handles_labels()
    if "balance" in table and table["balance"].notna().any():
        twin = ax.twinx()
        line = twin.plot(
            x,
            table["balance"].astype("float64").to_numpy(),
            color="tab:blue",
            marker="o",
            label="balance (end of period)",
        )
        twin.set_ylabel("balance (credits)")
        handles += line
        labels += [line[0].get_label()]
    # Above the plot, under the title: over the bars it would hide data.
    ax.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=3,
        frameon=False,
        fontsize="small",
    )
    return ax


def plot_latency(
    frame: pd.DataFrame,
    *,
    by: str = "resolution",
    level: str = "job",
    ax: Axes | None = None,
) -> Axes:
    """Box plots of durations per ``by`` value, each labelled with its sample size."""
    from flowup_nb.ledger.analyses import jobs

    ax = _axes(ax)
    if level == "job":
        table = jobs(frame)
        table = table.loc[(table["status"] == "completed").to_numpy()]
        seconds = table["duration_ms"] / 1000.0
        what = "job duration, first request to result"
    elif level == "call":
        table = frame.loc[(frame["outcome"] == "ok").to_numpy(dtype=bool, na_value=False)]
        seconds = table["wall_ms"] / 1000.0
        what = "call duration"
    else:
        raise ValueError(f"level={level!r}: use 'call' or 'job'")
    title = f"Latency by {by} ({what})"
    if by not in table.columns:
        raise ValueError(f"plot_latency(by={by!r}): choose among {sorted(table.columns)}")
    groups = seconds.groupby(table[by].astype("object").fillna("(none)").to_numpy())
    names = [str(name) for name, _ in groups]
    if not names:
        return _no_data(ax, title)
    ax.boxplot([values.dropna().to_numpy() for _, values in groups], showfliers=True)
    ax.set_xticks(
        range(1, len(names) + 1),
        [
            f"{name}\n(n={len(values.dropna())})"
            for name, (_, values) in zip(names, groups, strict=True)
        ],
    )
    ax.set_ylabel("duration (s)")
    ax.set_xlabel(f"{by} (sample size below each box)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_captcha(table: pd.DataFrame) -> Figure:
    """Providers side by side: solve rate (left), p50 and p95 solve time (right)."""
    import matplotlib.pyplot as plt

    fig, (rate_ax, time_ax) = plt.subplots(1, 2, figsize=(11.0, 4.0), layout="constrained")
    fig.suptitle("Captcha providers")
    if table.empty:
        _no_data(rate_ax, "Solve rate")
        _no_data(time_ax, "Solve time")
        return fig
    names = [str(s) for s in table.index]
    x = np.arange(len(names))
    rate_ax.bar(x, table["solve_rate"].to_numpy(dtype=float) * 100.0, color="tab:green")
    rate_ax.set_xticks(
        x, [f"{n}\n({plural(a, 'attempt')})" for n, a in zip(names, table["attempts"], strict=True)]
    )
    rate_ax.set_xlabel("captcha provider")
    rate_ax.set_ylabel("solved (% of attempts)")
    rate_ax.set_ylim(0, 100)
    rate_ax.set_title("Solve rate")
    time_ax.bar(x - 0.2, table["p50_ms"].to_numpy(dtype=float) / 1000.0, width=0.4, label="p50")
    time_ax.bar(x + 0.2, table["p95_ms"].to_numpy(dtype=float) / 1000.0, width=0.4, label="p95")
    time_ax.set_xticks(x, names)
    time_ax.set_xlabel("captcha provider")
    time_ax.set_ylabel("solve time per attempt (s)")
    time_ax.set_title("Solve time")
    time_ax.legend(fontsize="small")
    return fig


def plot_errors(counts: pd.DataFrame, *, tz: str | None = None, ax: Axes | None = None) -> Axes:
    """Stacked bars: errors per period, one colour per error type."""
    ax = _axes(ax)
    title = "Errors per period, by type"
    if counts.empty:
        return _no_data(ax, title)
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for column in counts.columns:
        values = counts[column].to_numpy(dtype=float)
        label = " / ".join(map(str, column)) if isinstance(column, tuple) else str(column)
        ax.bar(x, values, bottom=bottom, label=label)
        bottom += values
    _period_axis_label(ax, counts.index, tz)
    ax.set_ylabel("errors (count)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_costs(table: pd.DataFrame, *, tz: str | None = None, ax: Axes | None = None) -> Axes:
    """Stacked bars: spend per period, credits and captcha solves (a ``costs()`` table; with
    a ``by`` level, one bar part per value and cost)."""
    ax = _axes(ax)
    currency = str(table.attrs.get("currency", ""))
    title = "Spend per period: credits and captcha solves"
    if table.empty:
        return _no_data(ax, title)
    keys = [name for name in table.index.names if name != "period"]
    parts: pd.DataFrame = table[["credit_cost", "captcha_cost"]]
    if keys:
        parts = pd.DataFrame(parts.unstack(keys, fill_value=0.0))
    periods = parts.index
    x = np.arange(len(parts))
    bottom = np.zeros(len(parts))
    for column in parts.columns:
        values = parts[column].to_numpy(dtype=float)
        named: tuple[object, ...] = tuple(column) if isinstance(column, tuple) else (column,)
        what, group = named[0], named[1:]
        name = "credits" if what == "credit_cost" else "captcha solves"
        label = " / ".join([*map(str, group), name])
        ax.bar(x, values, bottom=bottom, label=label)
        bottom += values
    _period_axis_label(ax, periods, tz)
    ax.set_ylabel(f"spend ({currency})" if currency else "spend")
    attempts = int(table["captcha_attempts"].sum())
    failures = int(table["captcha_failures"].sum())
    ax.set_title(
        f"{title}\n{plural(attempts, 'captcha attempt')} paid, "
        f"{plural(failures, 'failed one')} among them; total {bottom.sum():,.2f} {currency}"
    )
    ax.legend(fontsize="small")
    return ax
