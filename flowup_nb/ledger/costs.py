"""Spend in money: credits and captcha attempts priced with the user's ``Prices``.

Pure functions of a ledger frame and its captcha attempts. Credits are those the price list
gives the completed work (``expected_cost``): the balance falls the server reports
(``credits_spent``) miss the first charge of each account, which has no earlier balance
to fall from; ``Ledger.reconcile()`` shows where the two disagree. Every captcha attempt
the server reported is a solve the user paid a provider for, failed ones included; one
job's attempts appear in each exchange that carried them (a sync answer, the job record
read by a poll), so they are counted once per job.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from flowup_nb.api.money import Prices
from flowup_nb.ledger.analyses import time_buckets

__all__ = ["COST_COLUMNS", "costs"]

COST_COLUMNS: tuple[str, ...] = (
    "credits",
    "credit_cost",
    "captcha_attempts",
    "captcha_failures",
    "captcha_cost",
    "total_cost",
)
_KEYS = ("account", "user", "host", "operation", "resolution")


def costs(
    frame: pd.DataFrame,
    attempts: pd.DataFrame,
    prices: Prices,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = "D",
    tz: str | None = None,
) -> pd.DataFrame:
    """Spend per ``freq`` period (None: the whole span) and ``by`` (``"account"``,
    ``"user"``...), in ``prices.currency`` (also in the result's ``attrs["currency"]``).

    Columns: ``credits`` (the price list's credits for the work done), ``credit_cost``,
    ``captcha_attempts`` (every paid attempt), ``captcha_failures`` (those rejected: paid
    too), ``captcha_cost``, ``total_cost``. ``attempts`` are ``Ledger.captcha_attempts()``
    rows of the same ledger; those whose exchange is not in ``frame`` are left out.
    """
    if not isinstance(prices, Prices):
        raise TypeError(f"prices must be a fu.Prices (got {type(prices).__name__})")
    keys = [by] if isinstance(by, str) else list(by or [])
    unknown = [key for key in keys if key not in _KEYS or key not in frame.columns]
    if unknown:
        raise ValueError(f"costs(by={by!r}): choose among {list(_KEYS)}")
    group = (["period"] if freq is not None else []) + keys

    credit_rows = pd.DataFrame({"credits": frame["expected_cost"].fillna(0).astype("float64")})
    credit_rows["period"] = _periods(frame["finished_at"], freq, tz)
    for key in keys:
        credit_rows[key] = frame[key].astype("object")

    paid = _paid_attempts(frame, attempts, keys)
    attempt_rows = pd.DataFrame(
        {
            "captcha_attempts": np.ones(len(paid)),
            "captcha_failures": (~paid["success"].fillna(False).astype(bool)).astype("float64"),
            "captcha_cost": [prices.per_attempt(s) for s in paid["service"].astype("object")],
        },
        index=paid.index,
    )
    attempt_rows["period"] = _periods(paid["finished_at"], freq, tz)
    for key in keys:
        attempt_rows[key] = paid[key]

    rows = pd.concat([credit_rows, attempt_rows], ignore_index=True)
    for column in ("credits", "captcha_attempts", "captcha_failures", "captcha_cost"):
        rows[column] = rows[column].fillna(0.0) if column in rows else 0.0
    if group:
        table = rows.groupby(group, dropna=False, sort=True)[
            ["credits", "captcha_attempts", "captcha_failures", "captcha_cost"]
        ].sum()
    else:
        totals = rows[["credits", "captcha_attempts", "captcha_failures", "captcha_cost"]].sum()
        table = totals.to_frame().T
    table["credit_cost"] = table["credits"] * prices.credit
    table["total_cost"] = table["credit_cost"] + table["captcha_cost"]
    for column in ("credits", "captcha_attempts", "captcha_failures"):
        table[column] = table[column].astype("int64")
    table = table[list(COST_COLUMNS)]
    table.attrs["currency"] = prices.currency
    return table


def _periods(stamps: pd.Series, freq: str | None, tz: str | None) -> pd.Series:
    if freq is None:
        return pd.Series(pd.NaT, index=stamps.index)
    return time_buckets(stamps, freq, tz)


def _paid_attempts(frame: pd.DataFrame, attempts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Each paid attempt once, with its exchange's end time and ``keys``."""
    columns = ["call_id", "finished_at", *keys]
    if attempts.empty:
        empty = pd.DataFrame(columns=["service", "success", *columns])
        empty["finished_at"] = pd.Series(dtype=frame["finished_at"].dtype)
        return empty
    context = frame[columns].drop_duplicates("call_id")
    joined = attempts[["call_id", "job_id", "idx", "service", "success"]].merge(
        context, on="call_id", how="inner"
    )
    # The same job's attempts, read again by a later exchange, were paid once.
    owner = joined["job_id"].astype("object").where(joined["job_id"].notna(), joined["call_id"])
    joined = joined.assign(_owner=owner).drop_duplicates(["_owner", "idx"])
    return joined.drop(columns=["_owner"]).reset_index(drop=True)
