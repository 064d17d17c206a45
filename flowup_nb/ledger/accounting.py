"""Derived money columns: credits spent from reported balances, expected cost from prices.

Computed when a frame is read, never stored, so two kernels writing the same ledger at
once cannot get them wrong, and a price-list fix applies to every past row.

Credits spent. The server reports ``remainingCredits`` after some calls. Per account,
the balance rows are put in the order the server answered them: by ``finished_at``
(the moment the answer arrived), ties by insertion order. Calls that overlapped in time
may have been answered by the server in a different order than they arrived here, so
within each run of overlapping calls the rows are ordered by balance, highest first (a
balance only falls while credits are being spent). Each row's spend is the previous
balance minus its own: ``credits_spent`` holds the falls (>= 0) and ``credits_added``
the rises (top-ups, >= 0), so summing ``credits_spent`` never nets a purchase against a
cost. The first balance an account shows in the frame has no previous one: its spend is
unknown (NA) unless a balance from before the frame's window seeds it.

Expected cost. From the price list (``flowup_nb.api.prices``), on the one row that carries
a job's completion (a sync answer, or the first completed poll or webhook of an async
job), so a job polled and notified twice is still counted once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flowup_nb.api.prices import UPSCALE_PRICES, generation_price

__all__ = ["add_balance_columns", "add_expected_cost", "completing_rows", "fill_from_job"]

_COMPLETING_OPERATIONS = ("upscale", "generate_video", "get_job", "webhook")


def fill_from_job(frame: pd.DataFrame, column: str) -> None:
    """Fill ``column`` on rows that lack it from other rows of the same job (in place).

    A poll or webhook may not repeat the account or resolution its submit carried.
    """
    values = frame[column]
    need = values.isna() & frame["job_id"].notna()
    if not need.any():
        return
    known = frame.loc[values.notna() & frame["job_id"].notna(), ["job_id", column]]
    if known.empty:
        return
    mapping = known.drop_duplicates("job_id").set_index("job_id")[column]
    filled = frame.loc[need, "job_id"].map(mapping)
    if isinstance(values.dtype, pd.CategoricalDtype):
        filled = filled.astype(values.dtype)
    frame.loc[need, column] = filled


def add_balance_columns(
    frame: pd.DataFrame,
    started_ms: np.ndarray,
    finished_ms: np.ndarray,
    insertion: np.ndarray,
    seeds: dict[str, int] | None = None,
    universe: pd.DataFrame | None = None,
) -> None:
    """Add ``credits_spent``, ``credits_added`` and ``balance_order`` (in place).

    ``balance_order``: the 0-based position of a balance row in its account's server
    order (NA on rows without a balance), so analyses can take first and last balances.

    ``universe``: when the frame holds only some people's rows, every balance row of the
    same accounts and window (columns ``seq``, ``account``, ``remaining_credits``,
    ``started_ms``, ``finished_ms``): a balance fall belongs to the call that saw it, and
    the balance before it may have been reported to a colleague.
    """
    if universe is None:
        arrays = _balance_arrays(
            frame["account"], frame["remaining_credits"], started_ms, finished_ms, insertion, seeds
        )
    else:
        found = _balance_arrays(
            universe["account"],
            universe["remaining_credits"],
            universe["started_ms"].to_numpy(dtype="int64"),
            universe["finished_ms"].to_numpy(dtype="int64"),
            universe["seq"].to_numpy(dtype="int64"),
            seeds,
        )
        where = pd.Index(universe["seq"].to_numpy(dtype="int64")).get_indexer(insertion)
        present = where >= 0
        arrays = tuple(  # type: ignore[assignment]
            np.where(present, a[where], np.zeros(1, dtype=a.dtype)) for a in found
        )
    spent, added, order_out, known, has_balance = arrays
    frame["credits_spent"] = pd.arrays.IntegerArray(spent, ~known)
    frame["credits_added"] = pd.arrays.IntegerArray(added, ~known)
    frame["balance_order"] = pd.arrays.IntegerArray(order_out, ~has_balance)


def _balance_arrays(
    account: pd.Series,
    balance: pd.Series,
    started_ms: np.ndarray,
    finished_ms: np.ndarray,
    insertion: np.ndarray,
    seeds: dict[str, int] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(spent, added, order, known, has_balance), one value per row; see above."""
    n = len(account)
    spent = np.zeros(n, dtype="int64")
    added = np.zeros(n, dtype="int64")
    order_out = np.zeros(n, dtype="int64")
    known = np.zeros(n, dtype=bool)  # a delta could be computed
    has_balance = np.zeros(n, dtype=bool)

    rows: np.ndarray = np.flatnonzero((balance.notna() & account.notna()).to_numpy())
    if len(rows):
        codes = account.cat.codes.to_numpy()[rows]
        bal = balance.to_numpy(dtype="int64", na_value=0)[rows]
        start = started_ms[rows]
        finish = finished_ms[rows]
        seq = insertion[rows]

        by_answer = np.lexsort((seq, finish, codes))
        codes, bal, start, finish, seq, rows = (
            a[by_answer] for a in (codes, bal, start, finish, seq, rows)
        )
        new_account = np.empty(len(rows), dtype=bool)
        new_account[0] = True
        new_account[1:] = codes[1:] != codes[:-1]
        # Sorted by finish, a row overlaps an earlier one iff it started before the
        # previous row finished.
        new_run = new_account.copy()
        new_run[1:] |= start[1:] >= finish[:-1]
        run = np.cumsum(new_run)
        by_balance = np.lexsort((seq, finish, -bal, run))
        codes, bal, rows = codes[by_balance], bal[by_balance], rows[by_balance]

        previous = np.empty(len(rows), dtype="int64")
        previous[1:] = bal[:-1]
        first = np.empty(len(rows), dtype=bool)
        first[0] = True
        first[1:] = codes[1:] != codes[:-1]
        have_previous = ~first
        if seeds:
            names = account.cat.categories
            seed_of_code = np.array([seeds.get(name, -1) for name in names], dtype="int64")
            seeded = first & (seed_of_code[codes] >= 0)
            previous[seeded] = seed_of_code[codes[seeded]]
            have_previous |= seeded
        delta = previous - bal
        spent[rows] = np.where(have_previous, np.maximum(delta, 0), 0)
        added[rows] = np.where(have_previous, np.maximum(-delta, 0), 0)
        known[rows] = have_previous
        has_balance[rows] = True
        starts = np.flatnonzero(first)
        position = np.arange(len(rows)) - np.repeat(starts, np.diff(np.append(starts, len(rows))))
        order_out[rows] = position
    return spent, added, order_out, known, has_balance


def add_expected_cost(frame: pd.DataFrame, finished_ms: np.ndarray) -> None:
    """Add ``expected_cost`` (Int64, credits by the price list; 0 when nothing is due)."""
    cost = np.zeros(len(frame), dtype="int64")
    completing = completing_rows(frame)
    rows = np.flatnonzero(completing)
    if len(rows):
        # Jobs as integer codes (-1: no job): every per-job step below is numpy.
        job_codes, job_ids = pd.factorize(frame["job_id"])
        rows = _first_per_job(job_codes, rows, finished_ms)
        kind = _job_kind(frame, job_codes, len(job_ids), rows)

        def at_rows(name: str) -> np.ndarray:
            values = frame[name].take(rows).astype(object)
            return np.asarray(values.where(values.notna(), None), dtype=object)

        resolution = at_rows("resolution")
        cached = frame["cached"].take(rows).to_numpy(dtype=bool, na_value=False)

        upscale = kind == _UPSCALE
        for res, price in UPSCALE_PRICES.items():
            due = upscale & ~cached & (resolution == res)
            cost[rows[due]] = price

        generation = kind == _GENERATION
        if generation.any():
            ultra_accounts = _ultra_accounts(frame, completing)
            ultra = pd.Series(at_rows("account")).isin(ultra_accounts).to_numpy()
            keys = pd.DataFrame({"model": at_rows("model"), "ultra": ultra})[generation]
            for (model_name, is_ultra), index in keys.groupby(
                ["model", "ultra"], dropna=False
            ).groups.items():
                price = generation_price(
                    None if pd.isna(model_name) else str(model_name), ultra=bool(is_ultra)
                )
                cost[rows[np.asarray(index)]] = price
    frame["expected_cost"] = pd.array(cost, dtype="Int64")


def completing_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows that carry a finished result: a sync answer, a completed poll or webhook."""
    status = frame["job_status"]
    return (
        (frame["outcome"] == "ok").to_numpy(dtype=bool, na_value=False)
        & frame["operation"].isin(_COMPLETING_OPERATIONS).to_numpy()
        & (status.isna() | (status == "completed")).to_numpy(dtype=bool, na_value=False)
    )


def _first_per_job(job_codes: np.ndarray, rows: np.ndarray, finished_ms: np.ndarray) -> np.ndarray:
    """``rows`` without the later completing answers of a job already counted."""
    by_finish = rows[np.argsort(finished_ms[rows], kind="stable")]
    codes = job_codes[by_finish]
    keep = codes < 0  # rows of no job are each their own
    _, first = np.unique(codes, return_index=True)
    keep[first] = True
    return np.sort(by_finish[keep])


_UPSCALE, _GENERATION = 0, 1


def _job_kind(
    frame: pd.DataFrame, job_codes: np.ndarray, jobs: int, rows: np.ndarray
) -> np.ndarray:
    """_UPSCALE, _GENERATION or -1 for each of ``rows``: from its operation, else from
    the first row of its job that says (the submit), else from its model or resolution."""
    operation = frame["operation"]
    by_operation = np.where(
        operation.isin(("upscale", "submit_upscale")).to_numpy(),
        _UPSCALE,
        np.where(
            (operation == "generate_video").to_numpy(dtype=bool, na_value=False), _GENERATION, -1
        ),
    )
    kind = by_operation[rows]
    need = (kind < 0) & (job_codes[rows] >= 0)
    if need.any():
        telling = np.flatnonzero((by_operation >= 0) & (job_codes >= 0))
        per_job = np.full(jobs, -1)
        told, first = np.unique(job_codes[telling], return_index=True)
        per_job[told] = by_operation[telling[first]]
        kind[need] = per_job[job_codes[rows[need]]]
    still = kind < 0
    if still.any():
        model = frame["model"].take(rows[still]).astype(object)
        resolution = frame["resolution"].take(rows[still])
        named = (model.notna() | resolution.notna()).to_numpy()
        upsampler = (model.str.contains("upsampl", na=False) | resolution.notna()).to_numpy()
        kind[still] = np.where(named, np.where(upsampler, _UPSCALE, _GENERATION), -1)
    return np.asarray(kind)


def _ultra_accounts(frame: pd.DataFrame, completing: np.ndarray) -> set[str]:
    """Accounts known to be on Ultra: they completed a 4K upscale (only Ultra may)."""
    four_k = completing & (frame["resolution"] == "4K").to_numpy(dtype=bool, na_value=False)
    return set(frame["account"].to_numpy(dtype=object)[four_k]) - {None}
