"""The questions a Ledger answers: its analysis and plot methods.

Each method picks the frame (the whole ledger, kept current, or the rows its
``since``/``until``/``accounts``/``users`` select, read by the database) and hands it to a
pure function of analyses.py or plots.py. Mixed into ``Ledger`` (store.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from flowup_nb.api.money import Prices
    from flowup_nb.ledger.frame import TimeBound
    from flowup_nb.ledger.reading import Filters, Names

__all__ = ["LedgerQuestions", "check_tz", "checked_filters"]


def check_tz(tz: str | None) -> None:
    if tz is None:
        return
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {tz!r}: pass an IANA name such as 'UTC', "
            f"'Europe/Paris' or 'America/Los_Angeles'"
        ) from None


def checked_filters(
    since: TimeBound, until: TimeBound, accounts: Names, users: Names, tz: str | None = None
) -> Filters:
    """The filters of a question, after checking that ``tz`` names a time zone."""
    check_tz(tz)
    from flowup_nb.ledger.reading import Filters

    return Filters.of(since, until, accounts, users, tz=tz)


class LedgerQuestions:
    """Analyses and plots over what ``_analysis_frame``/``_analysis_jobs`` give."""

    def _analysis_frame(self, filters: Filters) -> pd.DataFrame:
        raise NotImplementedError

    def _analysis_jobs(self, filters: Filters, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def captcha_attempts(self, tz: str | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def jobs(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """One row per job: kind, resolution, status, end-to-end duration, polls, cost."""
        return self._analysis_jobs(checked_filters(since, until, accounts, users)).copy(deep=False)

    def summary(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        by: str = "account",
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """Per account (or ``by="user"``, ``"host"``...) and in all: calls, jobs, success
        rate, credits, p50/p95, balance and burn rate (per account)."""
        from flowup_nb.ledger import analyses

        filters = checked_filters(since, until, accounts, users)
        frame = self._analysis_frame(filters)
        return analyses.summary(frame, job_table=self._analysis_jobs(filters, frame), by=by)

    def credits(
        self,
        by: str | Sequence[str] | None = None,
        freq: str = "D",
        *,
        tz: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """Credits spent (reported and expected) per ``freq`` period, with the balance;
        ``by="user"`` says who spent them."""
        from flowup_nb.ledger import analyses

        frame = self._analysis_frame(checked_filters(since, until, accounts, users, tz))
        return analyses.credits(frame, by=by, freq=freq, tz=tz)

    def latency(
        self,
        by: str | Sequence[str] | None = ("operation", "resolution"),
        *,
        level: str = "call",
        outcome: str | Sequence[str] | None = ("ok", "pending", "failed"),
        since: TimeBound = None,
        until: TimeBound = None,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """p50/p90/p95/p99 durations with the sample size, of calls or of whole jobs."""
        from flowup_nb.ledger import analyses

        filters = checked_filters(since, until, accounts, users)
        frame = self._analysis_frame(filters)
        job_table = self._analysis_jobs(filters, frame) if level == "job" else None
        return analyses.latency(
            frame,
            by=by,
            level=level,
            outcome=outcome,
            job_table=job_table,
        )

    def captcha(self) -> pd.DataFrame:
        """Per provider: attempts, solve rate, p50/p95 solve time, share of latency."""
        from flowup_nb.ledger import analyses

        return analyses.captcha(
            self.captcha_attempts(), self._analysis_jobs(checked_filters(None, None, None, None))
        )

    def errors(
        self,
        by: str | Sequence[str] = "error_type",
        freq: str | None = None,
        *,
        tz: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """Errors counted by type (or any columns), optionally per ``freq`` period."""
        from flowup_nb.ledger import analyses

        frame = self._analysis_frame(checked_filters(since, until, accounts, users, tz))
        return analyses.errors(frame, by=by, freq=freq, tz=tz)

    def reconcile(
        self,
        by: str | Sequence[str] = "account",
        freq: str | None = None,
        *,
        tz: str | None = None,
        accounts: Names = None,
    ) -> pd.DataFrame:
        """Reported spend (balance deltas) against the price list, and where they differ."""
        from flowup_nb.ledger import analyses

        frame = self._analysis_frame(checked_filters(None, None, accounts, None, tz))
        return analyses.reconcile(frame, by=by, freq=freq, tz=tz)

    def costs(
        self,
        prices: Prices,
        by: str | Sequence[str] | None = None,
        freq: str | None = "D",
        *,
        tz: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        accounts: Names = None,
        users: Names = None,
    ) -> pd.DataFrame:
        """Spend in money per ``freq`` period (and ``by="account"``, ``"user"``...): the
        credits spent and every captcha attempt, failed ones included, priced with
        ``prices`` (a ``fu.Prices`` you fill from your plan)."""
        from flowup_nb.ledger import costs

        frame = self._analysis_frame(checked_filters(since, until, accounts, users, tz))
        return costs.costs(frame, self.captcha_attempts(), prices, by=by, freq=freq, tz=tz)

    # -- plots ------------------------------------------------------------------------

    def plot_costs(
        self,
        prices: Prices,
        freq: str = "D",
        *,
        by: str | None = None,
        tz: str | None = None,
        ax: Axes | None = None,
    ) -> Axes:
        """Spend per period, stacked: credits and captcha solves (or one bar part per
        ``by`` value, e.g. ``by="account"``)."""
        from flowup_nb.ledger import plots

        return plots.plot_costs(self.costs(prices, by=by, freq=freq, tz=tz), tz=tz, ax=ax)

    def plot_credits(
        self, freq: str = "D", *, tz: str | None = None, ax: Axes | None = None
    ) -> Axes:
        """Credits spent per period (bars) with the balance (line)."""
        from flowup_nb.ledger import plots

        return plots.plot_credits(self.credits(freq=freq, tz=tz), tz=tz, ax=ax)

    def plot_latency(
        self, by: str = "resolution", *, level: str = "job", ax: Axes | None = None
    ) -> Axes:
        """Distribution of durations by ``by`` (jobs end to end by default)."""
        from flowup_nb.ledger import plots

        frame = self._analysis_frame(checked_filters(None, None, None, None))
        return plots.plot_latency(frame, by=by, level=level, ax=ax)

    def plot_captcha(self) -> Figure:
        """Captcha providers side by side: solve rate and solve times."""
        from flowup_nb.ledger import plots

        return plots.plot_captcha(self.captcha())

    def plot_errors(
        self, freq: str = "D", *, tz: str | None = None, ax: Axes | None = None
    ) -> Axes:
        """Errors per period, stacked by type."""
        from flowup_nb.ledger import plots

        return plots.plot_errors(self.errors(freq=freq, tz=tz), tz=tz, ax=ax)
