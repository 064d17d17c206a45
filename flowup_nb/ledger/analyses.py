"""Analyses of a ledger frame: pure functions, DataFrame in, DataFrame out.

Vectorised pandas only (they must stay well under a second on a million rows), and
they never modify their input. Durations are in milliseconds (``*_ms``) or seconds
(``*_s``) as the column name says; money is in credits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from flowup_nb.ledger.accounting import completing_rows
from flowup_nb.ledger.fates import fates
from flowup_nb.ledger.periods import time_buckets

if TYPE_CHECKING:
    from pandas.api.typing import DataFrameGroupBy

__all__ = [
    "ALL",
    "PERCENTILES",
    "captcha",
    "credits",
    "errors",
    "jobs",
    "latency",
    "reconcile",
    "summary",
    "time_buckets",
]

PERCENTILES: tuple[float, ...] = (0.50, 0.90, 0.95, 0.99)
# Exchanges the server answered (not transport failures or error statuses).
ANSWERED = ("ok", "pending", "failed")
ALL = "(all)"  # the label of total rows
UNKNOWN = "(unknown)"  # the label of rows whose account is not known
KINDS = ["upscale", "generation"]  # of jobs
STATUSES = ["completed", "failed", "pending"]  # of jobs
_NS_PER_MS = 1_000_000
_MS_PER_DAY = 86_400_000


def _columns(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what}: no column(s) {missing}; choose among {sorted(map(str, frame.columns))}"
        )


def _ms(stamps: pd.Series) -> np.ndarray:
    """tz-aware datetimes -> int64 epoch ms (NaT -> min int)."""
    return stamps.to_numpy(dtype="datetime64[ns]").view("int64") // _NS_PER_MS


# -- jobs -------------------------------------------------------------------------------


def jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per job (rows sharing a ``job_id``), oldest first.

    Columns: ``job_id``, ``account``, ``user`` and ``host`` (who ran it, from where),
    ``kind`` ("upscale"/"generation"), ``resolution``,
    ``mode``, ``status`` ("completed", "failed" or "pending": no final answer recorded),
    ``cached``, ``submitted_at`` (first request), ``completed_at`` (first completing
    answer), ``duration_ms`` (between the two: what the person waited), ``calls``,
    ``polls``, ``retries``, ``captcha_ms``, ``expected_cost``.
    """
    job_codes, job_ids = pd.factorize(frame["job_id"], sort=False)
    rows = np.flatnonzero(job_codes >= 0)
    if not len(rows):
        return _empty_jobs(frame)
    # One stable sort by job; every per-job figure is then a reduceat over the runs.
    rows = rows[np.argsort(job_codes[rows], kind="stable")]
    sorted_codes = job_codes[rows]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])

    def per_job(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values[rows], starts)

    def flag(mask: pd.Series | np.ndarray) -> np.ndarray:
        values = mask.to_numpy(dtype=bool, na_value=False) if isinstance(mask, pd.Series) else mask
        return per_job(np.logical_or, values)

    operation = frame["operation"]
    never = np.iinfo("int64").max
    completing = completing_rows(frame)
    started = per_job(np.minimum, _ms(frame["started_at"]))
    completed_ms = per_job(np.minimum, np.where(completing, _ms(frame["finished_at"]), never))
    done = flag(completing)
    failed = flag((frame["outcome"] == "failed") | (frame["job_status"] == "failed"))
    upscale = flag(operation.isin(("upscale", "submit_upscale")) | frame["resolution"].notna())
    generation = flag(operation == "generate_video")
    # As category codes: building categoricals from strings would cost more than the rest.
    status = pd.Categorical.from_codes(
        np.where(done, 0, np.where(failed, 1, 2)).astype(np.int64), categories=pd.Index(STATUSES)
    )
    kind = pd.Categorical.from_codes(
        np.where(upscale, 0, np.where(generation, 1, -1)).astype(np.int64),
        categories=pd.Index(KINDS),
    )

    def category(name: str) -> pd.Categorical:
        # Rows of one job agree on these (fill_from_job); the largest code skips NA (-1).
        codes = per_job(np.maximum, frame[name].cat.codes.to_numpy()).astype(np.int64)
        return pd.Categorical.from_codes(codes, dtype=_categories_of(frame, name))

    captcha_ms = per_job(np.maximum, frame["captcha_ms"].fillna(-1).to_numpy(dtype="int64"))
    tz = frame["started_at"].dt.tz
    out = pd.DataFrame(
        {
            "job_id": job_ids.take(sorted_codes[starts]),
            "account": category("account"),
            "user": category("user"),
            "host": category("host"),
            "kind": kind,
            "resolution": category("resolution"),
            "mode": category("mode"),
            "status": status,
            "cached": flag(frame["cached"]),
            "submitted_at": _stamps(started).tz_convert(tz),
            "completed_at": _stamps(np.where(done, completed_ms, 0), missing=~done).tz_convert(tz),
            "duration_ms": np.where(done, completed_ms - started, np.nan).astype("float64"),
            "calls": np.diff(np.append(starts, len(rows))),
            "polls": per_job(np.add, (operation == "get_job").to_numpy(dtype="int64")),
            "retries": per_job(np.add, (frame["attempt"].fillna(0) > 0).to_numpy(dtype="int64")),
            "captcha_ms": pd.arrays.IntegerArray(np.maximum(captcha_ms, 0), captcha_ms < 0),
            "expected_cost": pd.array(
                per_job(np.add, frame["expected_cost"].fillna(0).to_numpy(dtype="int64")),
                dtype="Int64",
            ),
        }
    )
    return out.sort_values("submitted_at", kind="stable", ignore_index=True)


def _stamps(ms: np.ndarray, missing: np.ndarray | None = None) -> pd.DatetimeIndex:
    """int64 epoch ms -> UTC datetimes (NaT where ``missing``)."""
    ns = ms.astype("int64") * _NS_PER_MS
    if missing is not None:
        ns[missing] = np.iinfo("int64").min  # NaT
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _empty_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    tz = frame["started_at"].dt.tz
    empty_times = pd.DatetimeIndex([], dtype=f"datetime64[ns, {tz}]")
    return pd.DataFrame(
        {
            "job_id": pd.array([], dtype="str"),
            "account": pd.Categorical([], dtype=_categories_of(frame, "account")),
            "user": frame["user"].iloc[:0].array,
            "host": frame["host"].iloc[:0].array,
            "kind": pd.Categorical([], categories=KINDS),
            "resolution": pd.Categorical([], dtype=_categories_of(frame, "resolution")),
            "mode": pd.Categorical([], dtype=_categories_of(frame, "mode")),
            "status": pd.Categorical([], categories=STATUSES),
            "cached": np.array([], dtype=bool),
            "submitted_at": empty_times,
            "completed_at": empty_times,
            "duration_ms": np.array([], dtype="float64"),
            "calls": np.array([], dtype="int64"),
            "polls": np.array([], dtype="int64"),
            "retries": np.array([], dtype="int64"),
            "captcha_ms": pd.array([], dtype="Int64"),
            "expected_cost": pd.array([], dtype="Int64"),
        }
    )


# -- summary ----------------------------------------------------------------------------


def _account_labels(accounts: pd.Series) -> pd.Series:
    """Account (a category, cheap to group by), rows of unknown account labelled as such."""
    accounts = accounts.astype("category")
    if UNKNOWN not in accounts.cat.categories:
        accounts = accounts.cat.add_categories([UNKNOWN])
    return accounts.fillna(UNKNOWN)


SUMMARY_KEYS = ("account", "user", "host", "resolution", "mode")


def summary(
    frame: pd.DataFrame, job_table: pd.DataFrame | None = None, by: str = "account"
) -> pd.DataFrame:
    """Per account (or per ``by``: ``"user"``, ``"host"``...), plus an ``(all)`` row.

    ``calls`` (exchanges), ``errors`` (exchanges that failed or will be retried),
    ``success_rate`` (share of calls that did not), ``jobs``, ``jobs_completed``,
    ``jobs_failed``, ``cached`` (jobs answered from the cache), ``p50_s``/``p95_s`` (job
    durations, first request to result), ``credits_spent`` (sum of balance falls),
    ``credits_added``, ``expected_cost`` (price list), ``balance`` (last reported; per
    account, so only on account rows and the total), ``burn_per_day`` (credits spent per
    day between the first and last balance seen; NA until those are an hour apart),
    ``first_call``/``last_call``.
    """
    if by not in SUMMARY_KEYS:
        raise ValueError(f"summary(by={by!r}): choose among {list(SUMMARY_KEYS)}")
    job_table = jobs(frame) if job_table is None else job_table
    # A batch's intent rows (what it was about to send) are no exchanges: not calls.
    intents = (frame["outcome"] == "intent").to_numpy(dtype=bool, na_value=False)
    if intents.any():
        frame = frame.loc[~intents]
    key = _account_labels(frame[by])
    is_error = frame["outcome"].isin(("error", "failed")).to_numpy()
    calls = pd.DataFrame(
        {
            "key": key,
            "error": is_error,
            "credits_spent": frame["credits_spent"],
            "credits_added": frame["credits_added"],
            "expected_cost": frame["expected_cost"],
            "started": frame["started_at"],
        }
    )
    per_key = calls.groupby("key", observed=True, sort=True).agg(
        calls=("error", "size"),
        errors=("error", "sum"),
        credits_spent=("credits_spent", "sum"),
        credits_added=("credits_added", "sum"),
        expected_cost=("expected_cost", "sum"),
        first_call=("started", "min"),
        last_call=("started", "max"),
    )
    per_key.index = per_key.index.astype("object")
    total = pd.DataFrame(
        {
            "calls": [len(frame)],
            "errors": [int(is_error.sum())],
            "credits_spent": [frame["credits_spent"].sum()],
            "credits_added": [frame["credits_added"].sum()],
            "expected_cost": [frame["expected_cost"].sum()],
            "first_call": [frame["started_at"].min()],
            "last_call": [frame["started_at"].max()],
        },
        index=[ALL],
    )
    table = pd.concat([per_key, total]) if len(per_key) else total
    table.index.name = by

    job_key = _account_labels(job_table[by])
    job_flags = pd.DataFrame(
        {
            "key": job_key,
            "completed": (job_table["status"] == "completed").to_numpy(),
            "failed": (job_table["status"] == "failed").to_numpy(),
            "cached": job_table["cached"].to_numpy(),
            "duration_s": job_table["duration_ms"] / 1000.0,
        }
    )
    job_stats = _job_stats(job_flags.groupby("key", observed=True, sort=True))
    job_stats.index = job_stats.index.astype("object")
    job_total = _job_stats(job_flags.groupby(np.zeros(len(job_flags), dtype=int)))
    job_total.index = [ALL] if len(job_total) else []
    job_stats = pd.concat([job_stats, job_total]) if len(job_stats) else job_total
    table = table.join(job_stats, how="left")

    balance, burn = _balances(frame, key, by_account=by == "account")
    table = table.join(balance, how="left").join(burn, how="left")

    for name in ("jobs", "jobs_completed", "jobs_failed", "cached"):
        table[name] = table[name].fillna(0).astype("int64")
    for name in ("credits_spent", "credits_added", "expected_cost"):
        table[name] = table[name].astype("Int64")
    table["balance"] = table["balance"].astype("Int64")
    table["calls"] = table["calls"].astype("int64")
    table["errors"] = table["errors"].astype("int64")
    table["success_rate"] = 1.0 - table["errors"] / table["calls"].where(table["calls"] > 0)
    return table[
        [
            "calls",
            "errors",
            "success_rate",
            "jobs",
            "jobs_completed",
            "jobs_failed",
            "cached",
            "p50_s",
            "p95_s",
            "credits_spent",
            "credits_added",
            "expected_cost",
            "balance",
            "burn_per_day",
            "first_call",
            "last_call",
        ]
    ]


def _categories_of(frame: pd.DataFrame, name: str) -> pd.CategoricalDtype:
    return cast(pd.CategoricalDtype, frame[name].dtype)


def _job_stats(grouped: DataFrameGroupBy[Any, Any]) -> pd.DataFrame:
    stats = grouped.agg(
        jobs=("completed", "size"),
        jobs_completed=("completed", "sum"),
        jobs_failed=("failed", "sum"),
        cached=("cached", "sum"),
    )
    durations = grouped["duration_s"]
    stats["p50_s"] = durations.quantile(0.50)
    stats["p95_s"] = durations.quantile(0.95)
    return stats


def _balances(
    frame: pd.DataFrame, key: pd.Series, *, by_account: bool
) -> tuple[pd.Series, pd.Series]:
    """Last reported balance per account (and their sum), and credits spent per day
    while observed, per ``key`` group."""
    order = frame["balance_order"]
    has = order.notna().to_numpy()
    part = pd.DataFrame(
        {
            "account": _account_labels(frame["account"])[has],
            "key": key[has],
            "order": order[has].to_numpy(dtype="int64"),
            "balance": frame["remaining_credits"][has].to_numpy(dtype="int64"),
            "seen": _ms(frame["finished_at"][has]),
            "spent": frame["credits_spent"][has].fillna(0).to_numpy(dtype="int64"),
        }
    )
    if part.empty:
        empty = pd.Series(dtype="Int64")
        return empty.rename("balance"), pd.Series(dtype="float64", name="burn_per_day")
    last = part.sort_values(["account", "order"]).drop_duplicates("account", keep="last")
    per_account = pd.Series(last["balance"].to_numpy(), index=last["account"].astype("object"))
    # A balance is an account's: other groupings show only the total.
    balance = per_account.copy() if by_account else pd.Series(dtype="int64")
    balance.loc[ALL] = per_account.sum()
    span = part.groupby("key", observed=True).agg(
        spent=("spent", "sum"), lo=("seen", "min"), hi=("seen", "max")
    )
    span.index = span.index.astype("object")
    span.loc[ALL] = [span["spent"].sum(), span["lo"].min(), span["hi"].max()]
    days = (span["hi"] - span["lo"]) / _MS_PER_DAY
    # A rate from a few minutes of balances is noise: it needs an hour of them.
    burn = (span["spent"] / days.where(days >= 1 / 24)).astype("float64")
    return balance.astype("Int64").rename("balance"), burn.rename("burn_per_day")


# -- credits ----------------------------------------------------------------------------


def credits(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    freq: str = "D",
    tz: str | None = None,
) -> pd.DataFrame:
    """Credits per ``freq`` period (by the time the answer arrived), indexed by period
    (and ``by``).

    ``credits_spent`` (reported balance falls), ``credits_added``, ``expected_cost``,
    ``calls``, ``cumulative_spent``; and ``balance`` at the end of each period (the sum
    of each account's last reported balance) when ``by`` is None or ``"account"``.
    """
    keys = _columns(by)
    _require(frame, keys, "credits(by=...)")
    period = time_buckets(frame["finished_at"], freq, tz)
    data = pd.DataFrame(
        {
            "period": period,
            "credits_spent": frame["credits_spent"],
            "credits_added": frame["credits_added"],
            "expected_cost": frame["expected_cost"],
        }
    )
    for key in keys:
        data[key] = frame[key]
    table = data.groupby(["period", *keys], observed=True, dropna=False, sort=True).agg(
        credits_spent=("credits_spent", "sum"),
        credits_added=("credits_added", "sum"),
        expected_cost=("expected_cost", "sum"),
        calls=("period", "size"),
    )
    if keys:
        table["cumulative_spent"] = table.groupby(level=keys, observed=True, dropna=False)[
            "credits_spent"
        ].cumsum()
    else:
        table["cumulative_spent"] = table["credits_spent"].cumsum()
    if keys in ([], ["account"]):
        table["balance"] = _balance_per_period(frame, period, by_account=bool(keys)).reindex(
            table.index
        )
    return table


def _balance_per_period(frame: pd.DataFrame, period: pd.Series, *, by_account: bool) -> pd.Series:
    order = frame["balance_order"]
    has = order.notna().to_numpy()
    periods = pd.Index(period.unique()).sort_values()
    part = pd.DataFrame(
        {
            "period": period[has],
            "account": frame["account"][has].astype("object"),
            "order": order[has].to_numpy(dtype="int64"),
            "balance": frame["remaining_credits"][has].to_numpy(dtype="int64"),
        }
    )
    if part.empty:
        index = (
            pd.MultiIndex.from_arrays([[], []], names=["period", "account"])
            if by_account
            else periods.rename("period")
        )
        return pd.Series(pd.array([pd.NA] * len(index), dtype="Int64"), index=index)
    last = part.sort_values(["account", "order"]).drop_duplicates(
        ["period", "account"], keep="last"
    )
    wide = last.pivot(index="period", columns="account", values="balance")
    # Carry each account's balance forward through the periods it was not seen in.
    wide = wide.reindex(periods).ffill()
    wide.index.name = "period"
    if by_account:
        long = cast("pd.Series[Any]", wide.stack(future_stack=True))
        long.index.names = ["period", "account"]
        return long.astype("Int64")
    return wide.sum(axis=1, min_count=1).astype("Int64")


# -- latency ----------------------------------------------------------------------------


def latency(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = ("operation", "resolution"),
    *,
    level: str = "call",
    outcome: str | Sequence[str] | None = ANSWERED,
    job_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Duration percentiles per group, with the sample size ``n`` beside them.

    ``level="call"``: each exchange's wall time, of the rows with this ``outcome`` (one or
    several; default every exchange the server answered: ok, pending and failed jobs, so a
    submit's captcha time counts; None: errors too).
    ``level="job"``: each completed job, first request to result (``by`` among the
    columns of :func:`jobs`, e.g. ``"resolution"``, ``"mode"``, ``"account"``).
    Columns: ``n``, ``p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``. A tail
    percentile of a small group is close to its maximum: read it beside ``n``.
    """
    keys = _columns(by)
    if level == "call":
        _require(frame, keys, "latency(by=...)")
        rows = frame[[*keys, "wall_ms"]]
        if outcome is not None:
            wanted = [outcome] if isinstance(outcome, str) else list(outcome)
            rows = rows.loc[frame["outcome"].isin(wanted).to_numpy(dtype=bool, na_value=False)]
        values = rows["wall_ms"]
    elif level == "job":
        table = jobs(frame) if job_table is None else job_table
        _require(table, keys, "latency(level='job', by=...)")
        rows = table.loc[(table["status"] == "completed").to_numpy()]
        values = rows["duration_ms"]
    else:
        raise ValueError(f"level={level!r}: use 'call' (each exchange) or 'job' (end to end)")
    data = pd.DataFrame({"ms": values.to_numpy(dtype="float64")})
    for key in keys:
        data[key] = rows[key].array  # an array, not a Series: no index alignment
    grouper: list[str] | np.ndarray = keys or np.zeros(len(data), dtype=int)
    grouped = data.groupby(grouper, observed=True, dropna=False, sort=True)["ms"]
    table = pd.DataFrame({"n": grouped.size()})
    # One quantile per call, not quantile([...]).unstack(): unstacking turns a missing key
    # (e.g. no resolution, as for get_account) into a "nan" label that no longer aligns.
    for q in PERCENTILES:
        table[f"p{round(q * 100)}_ms"] = grouped.quantile(q)
    table["max_ms"] = grouped.max()
    if not keys:
        table.index = pd.Index([ALL] * len(table))
    return table


# -- captcha ----------------------------------------------------------------------------


def captcha(attempts: pd.DataFrame, job_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per captcha provider: ``attempts``, ``solved``, ``solve_rate``, ``p50_ms`` and
    ``p95_ms`` (solve time of an attempt), ``total_ms``, ``share_of_latency``.

    An attempt reported by several answers about one job (the completed poll and its
    webhook) counts once. ``share_of_latency``: of the time the calls that used the
    provider took (whole jobs for async ones), the part spent in its attempts.
    """
    columns = [
        "attempts",
        "solved",
        "solve_rate",
        "p50_ms",
        "p95_ms",
        "total_ms",
        "share_of_latency",
    ]
    if attempts.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="service"))
    # An attempt's identity: its job (or, without one, its exchange) and its position.
    # Keys and the jobs' ids are factorized together (Arrow strings, no Python objects),
    # so the job durations map onto attempts through integer codes.
    key = attempts["job_id"].fillna(attempts["call_id"])
    jobs = job_table if job_table is not None and len(job_table) > 0 else None
    together = pd.concat([key, jobs["job_id"]], ignore_index=True) if jobs is not None else key
    codes, _ = pd.factorize(together)
    key_codes = codes[: len(key)]
    position = attempts["idx"].fillna(0).to_numpy(dtype="int64")
    identity = key_codes.astype("int64") * (int(position.max()) + 1) + position
    first = ~pd.Series(identity).duplicated().to_numpy()

    elapsed = attempts["wall_ms"].to_numpy(dtype="float64")
    if jobs is not None:
        # Async jobs report their attempts on a short poll: use the job's whole duration.
        whole = np.full(int(codes.max()) + 1, np.nan)
        whole[codes[len(key) :]] = jobs["duration_ms"].to_numpy(dtype="float64")
        elapsed = np.where(np.isnan(whole[key_codes]), elapsed, whole[key_codes])
    service = attempts["service"].array
    data = pd.DataFrame(
        {
            "service": service[first],
            "key": key_codes[first],
            "duration": attempts["duration_ms"].to_numpy(dtype="float64", na_value=np.nan)[first],
            "success": attempts["success"].to_numpy(dtype=bool, na_value=False)[first],
            "elapsed": elapsed[first],
        }
    )
    grouped = data.groupby("service", observed=True, sort=True)
    table = grouped.agg(
        attempts=("success", "size"),
        solved=("success", "sum"),
        total_ms=("duration", "sum"),
    )
    table["solve_rate"] = table["solved"] / table["attempts"]
    table["p50_ms"] = grouped["duration"].quantile(0.50)
    table["p95_ms"] = grouped["duration"].quantile(0.95)
    per_call = data.drop_duplicates(["service", "key"])
    spans = per_call.groupby("service", observed=True)["elapsed"].sum()
    table["share_of_latency"] = (table["total_ms"] / spans.where(spans > 0)).clip(upper=1.0)
    table.index = table.index.astype("object")
    table.index.name = "service"
    return table[columns]


# -- errors -----------------------------------------------------------------------------


def errors(
    frame: pd.DataFrame,
    by: str | Sequence[str] = "error_type",
    freq: str | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """Exchanges that failed (or will be retried), counted.

    Without ``freq``: per ``by`` group, ``count``, ``share`` (of errors),
    ``share_of_calls``, ``retried``, ``captcha_quality``, ``median_retry_after_s``,
    ``first_seen``, ``last_seen``, most frequent first. With ``freq``: counts per
    period (rows) and group (columns), for plotting.
    """
    keys = _columns(by) or ["error_type"]
    _require(frame, keys, "errors(by=...)")
    failed = frame["outcome"].isin(("error", "failed")).to_numpy()
    needed = dict.fromkeys([*keys, "will_retry", "captcha_quality", "retry_after_s", "started_at"])
    rows = frame[list(needed)].loc[failed]
    if freq is not None:
        period = time_buckets(rows["started_at"], freq, tz)
        counts = (
            pd.crosstab(period.to_numpy(), [rows[k].astype("object").fillna(UNKNOWN) for k in keys])
            if len(rows)
            else pd.DataFrame(dtype="int64")
        )
        counts.index.name = "period"
        if len(counts):
            counts.index = pd.DatetimeIndex(counts.index, name="period")
        return counts
    data = pd.DataFrame(
        {
            "retried": rows["will_retry"].fillna(False).to_numpy(dtype=bool),
            "captcha_quality": rows["captcha_quality"].fillna(False).to_numpy(dtype=bool),
            "retry_after_s": rows["retry_after_s"].to_numpy(dtype="float64"),
            "started": rows["started_at"],
        }
    )
    for key in keys:
        data[key] = rows[key].array  # an array, not a Series: no index alignment
    table = data.groupby(keys, observed=True, dropna=False, sort=False).agg(
        count=("retried", "size"),
        retried=("retried", "sum"),
        captcha_quality=("captcha_quality", "sum"),
        median_retry_after_s=("retry_after_s", "median"),
        first_seen=("started", "min"),
        last_seen=("started", "max"),
    )
    total = int(failed.sum())
    table.insert(1, "share", table["count"] / total if total else np.nan)
    table.insert(2, "share_of_calls", table["count"] / len(frame) if len(frame) else np.nan)
    return table.sort_values("count", ascending=False, kind="stable")


# -- reconcile --------------------------------------------------------------------------


def reconcile(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = "account",
    freq: str | None = None,
    tz: str | None = None,
) -> pd.DataFrame:
    """What the balances say was spent, against what the price list expects.

    Per account (and per ``freq`` period): ``reported`` (sum of balance falls),
    ``credits_added`` (rises), ``expected`` (price list, for the jobs that completed
    after the account's first reported balance, the ones the balance could show),
    ``unobserved`` (expected cost before that first balance), ``difference`` (reported
    minus expected), ``unknown`` (paid calls interrupted or cancelled before their answer
    whose fate the ledger does not know yet, see ``flowup_nb.ledger.fates``), ``agrees``
    (NA while any fate is unknown: agreement cannot be claimed), ``status``
    (``"agrees"``, ``"differs"`` or ``"unknown"``) and ``settle`` (how to settle the
    unknown ones, else empty). Spending outside this ledger (another tool, another
    notebook with another ledger, a price change) shows up as a difference.
    """
    keys = _columns(by)
    if keys not in ([], ["account"]):
        raise ValueError(
            "reconcile(by=...) takes 'account' or None: balances are per account, so a "
            "balance fall cannot be split by other columns"
        )
    account = _account_labels(frame["account"])
    finished = _ms(frame["finished_at"])
    # When each account's first balance arrived; only later costs can show in the deltas.
    codes = account.cat.codes.to_numpy()
    first = (frame["balance_order"] == 0).to_numpy(dtype=bool, na_value=False)
    seen_from = np.full(len(account.cat.categories), np.inf)
    np.minimum.at(seen_from, codes[first], finished[first].astype("float64"))
    observable = finished > seen_from[codes]
    fate = fates(frame)
    expected = frame["expected_cost"].fillna(0).to_numpy(dtype="int64") + fate.inferred_cost
    data = pd.DataFrame(
        {
            "account": account,
            "reported": frame["credits_spent"],
            "credits_added": frame["credits_added"],
            "expected": np.where(observable, expected, 0),
            "unobserved": np.where(observable, 0, expected),
            "unknown": fate.unknown.astype("int64"),
        }
    )
    group_keys = list(keys)
    if freq is not None:
        data["period"] = time_buckets(frame["finished_at"], freq, tz)
        group_keys = ["period", *group_keys]
    sums = ["reported", "credits_added", "expected", "unobserved", "unknown"]
    if group_keys:
        table = data.groupby(group_keys, observed=True, sort=True)[sums].sum()
    else:
        table = data[sums].sum().to_frame(ALL).T
    table = table.astype("Int64")
    table["difference"] = table["reported"] - table["expected"]
    undecided = (table["unknown"] > 0).to_numpy(dtype=bool)
    # Agreement about money whose fate is unknown cannot be claimed: NA, not True.
    agrees = (table["difference"] == 0).astype("boolean").where(~undecided)
    table["agrees"] = agrees
    table["status"] = np.where(
        undecided, "unknown", np.where(agrees.fillna(False), "agrees", "differs")
    )
    table["settle"] = ""
    if undecided.any():
        for label in table.index[undecided]:
            rows = fate.unknown & _in_group(data, group_keys, label)
            table.loc[label, "settle"] = fate.advice(rows)
    order = ["reported", "credits_added", "expected", "unobserved", "difference", "unknown"]
    return table[[*order, "agrees", "status", "settle"]]


def _in_group(data: pd.DataFrame, keys: list[str], label: object) -> np.ndarray:
    """Rows of ``data`` in the group ``label`` of a groupby over ``keys`` (all: no keys)."""
    if not keys:
        return np.ones(len(data), dtype=bool)
    values = label if isinstance(label, tuple) else (label,)
    mask = np.ones(len(data), dtype=bool)
    for key, value in zip(keys, values, strict=True):
        mask &= (data[key] == value).to_numpy(dtype=bool, na_value=False)
    return mask
