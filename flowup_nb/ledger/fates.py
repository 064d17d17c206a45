"""Paid calls whose fate the ledger does not know, so that no analysis claims agreement.

Two kinds of rows leave a paid upscale's fate open:

- a call a KeyboardInterrupt or a cancellation ended before its answer was read (outcome
  ``interrupted`` or ``cancelled``, see docs/reliability.md): the server may have run it
  and charged it;
- a submit whose job was never seen finished (its 201 arrived, no completed or failed
  record since): the job may be running, or have run and been charged.

Such an upscale of (video, resolution) is settled by:

- a row of its own job saying it completed or failed (a poll, a webhook, the adoption
  by ``client.resume()``);
- a completed upscale of the same video and resolution after it (a repeat, a resumed
  wait on the job found again). The service charges a video and resolution once and
  answers every later request from its cache, so a completion that ran (not cached)
  carries the price itself, while one that came from the cache, with no run of that
  upscale anywhere in the ledger and none before the open call, proves that the open
  call's job ran and was charged: its price is counted at that cached answer
  (``inferred_cost``);
- for an interrupted sync upscale (which has no replyRef and no job id), a job of the
  same video and resolution that failed after it.

An interrupted generation has nothing to be matched by; it is settled by the first
balance of its account reported more than :data:`GENERATION_SETTLES_AFTER` seconds
later (the service gives up on a generation after 10 minutes, so by then its charge, if
any, is in the balance and shows as a difference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from flowup_nb.api.prices import UPSCALE_PRICES
from flowup_nb.ledger.accounting import completing_rows

__all__ = ["ENDED_BY_CALLER", "GENERATION_SETTLES_AFTER", "SETTLE_ADVICE", "Fates", "fates"]

ENDED_BY_CALLER = ("interrupted", "cancelled")
GENERATION_SETTLES_AFTER = 600.0
_PRICED = [resolution for resolution, price in UPSCALE_PRICES.items() if price > 0]
_ENDED = ("completed", "failed")
SETTLE_ADVICE = (
    "paid upscales interrupted before their answer, or never seen finished: run "
    "client.resume() (it finds and waits for their jobs), or ask the same upscale again "
    "(free: cached)"
)
_GENERATION_ADVICE = (
    "a generation interrupted before its answer: its charge shows in a balance reported "
    "10 minutes later (client.get_account)"
)


@dataclass(frozen=True)
class Fates:
    """Per row of a frame: ``unknown`` (a paid call whose fate is not known) and
    ``inferred_cost`` (credits an open call's job was charged, counted at the cached
    answer that proves it ran); ``generation`` marks the unknown generations."""

    unknown: np.ndarray
    inferred_cost: np.ndarray
    generation: np.ndarray

    def advice(self, rows: np.ndarray | None = None) -> str:
        """How to settle the unknown rows (all of them, or those of ``rows``)."""
        unknown = self.unknown if rows is None else self.unknown & rows
        parts = []
        if (unknown & ~self.generation).any():
            parts.append(SETTLE_ADVICE)
        if (unknown & self.generation).any():
            parts.append(_GENERATION_ADVICE)
        return "; ".join(parts)


def fates(frame: pd.DataFrame) -> Fates:
    """The fate of every row's call, as far as the ledger knows (see the module doc)."""
    n = len(frame)
    unknown = np.zeros(n, dtype=bool)
    inferred = np.zeros(n, dtype="int64")
    generation = np.zeros(n, dtype=bool)
    operation = frame["operation"]
    ended = frame["outcome"].isin(ENDED_BY_CALLER).to_numpy(dtype=bool, na_value=False)
    priced = frame["resolution"].isin(_PRICED).to_numpy(dtype=bool, na_value=False)
    interrupted = ended & priced & operation.isin(("upscale", "submit_upscale")).to_numpy()
    submitted = (
        priced
        & (operation == "submit_upscale").to_numpy(dtype=bool, na_value=False)
        & frame["job_id"].notna().to_numpy()
        & ~ended
        & frame["outcome"].isin(("ok", "pending")).to_numpy(dtype=bool, na_value=False)
    )
    if submitted.any():
        # Most submitted jobs were seen finishing: only the others are looked at closely.
        candidates = np.flatnonzero(submitted)
        ended_jobs = frame["job_id"][frame["job_status"].isin(_ENDED).to_numpy()]
        seen_ending = _isin(frame["job_id"].iloc[candidates], ended_jobs)
        submitted[candidates[seen_ending]] = False
    open_rows = np.flatnonzero(interrupted | submitted)
    if len(open_rows):
        _upscales(frame, open_rows, unknown, inferred)
    gens = np.flatnonzero(ended & (operation == "generate_video").to_numpy(bool, na_value=False))
    if len(gens):
        _generations(frame, gens, unknown)
        generation[gens] = unknown[gens]
    return Fates(unknown, inferred, generation)


def _upscales(
    frame: pd.DataFrame, rows: np.ndarray, unknown: np.ndarray, inferred: np.ndarray
) -> None:
    # Only the rows about the open calls' videos, and only vectorised steps: a ledger
    # may hold many rows of few videos, and many open calls.
    done_all = completing_rows(frame)
    failed_all = (frame["job_status"] == "failed").to_numpy(dtype=bool, na_value=False)
    telling = np.flatnonzero(done_all | failed_all)
    sources = frame["source_id"].iloc[rows]
    about = telling[_isin(frame["source_id"].iloc[telling], sources)]
    needed = ["source_id", "resolution", "finished_at", "cached", "job_status", "job_id"]
    part = frame[[*needed, "reply_ref"]].iloc[about]
    keys = ["source", "resolution"]
    facts = pd.DataFrame(
        {
            "source": part["source_id"].astype("object").to_numpy(),
            "resolution": part["resolution"].astype("object").to_numpy(),
            "at": part["finished_at"].to_numpy(dtype="datetime64[ns]"),
            "row": about,
            "run": ~part["cached"].to_numpy(dtype=bool, na_value=False),
        }
    )
    done = facts[done_all[about]]
    completed = done.sort_values("at", kind="stable").groupby(keys, sort=False)
    per_key = completed.agg(first_at=("at", "first"), first_row=("row", "first"))
    per_key["ran"] = completed["run"].any()
    failed_mask = (part["job_status"] == "failed").to_numpy(dtype=bool, na_value=False)
    last_failure = facts[failed_mask].groupby(keys)["at"].max().rename("failed_at")
    failed_refs = part["reply_ref"][failed_mask].dropna()
    ended_jobs = part["job_id"][part["job_status"].isin(_ENDED).to_numpy()].dropna()

    calls = pd.DataFrame(
        {
            "source": frame["source_id"].iloc[rows].astype("object").to_numpy(),
            "resolution": frame["resolution"].iloc[rows].astype("object").to_numpy(),
            "started": frame["started_at"].iloc[rows].to_numpy(dtype="datetime64[ns]"),
            "job_id": frame["job_id"].iloc[rows].astype("object").to_numpy(),
            "reply_ref": frame["reply_ref"].iloc[rows].astype("object").to_numpy(),
            "row": rows,
        }
    )
    calls = calls.join(per_key, on=keys).join(last_failure, on=keys)
    own_job_ended = _isin(frame["job_id"].iloc[rows], ended_jobs)
    completed_once = calls["first_at"].notna()  # the service caches it: free from then on
    its_job_failed = _isin(frame["reply_ref"].iloc[rows], failed_refs)
    ref_less = calls["reply_ref"].isna() & calls["job_id"].isna()
    failed_after = ref_less & (calls["failed_at"] >= calls["started"])
    settled = own_job_ended | completed_once | its_job_failed | failed_after
    unknown[calls["row"][~settled].to_numpy()] = True
    # Only cached answers, the first after an open call: that call's job was the run.
    proven = calls[
        completed_once & ~calls["ran"].astype(bool) & (calls["first_at"] >= calls["started"])
    ]
    first = proven.drop_duplicates(keys)
    for resolution, first_row in zip(first["resolution"], first["first_row"], strict=True):
        inferred[int(first_row)] += UPSCALE_PRICES[str(resolution)]


def _isin(values: pd.Series, wanted: pd.Series) -> np.ndarray:
    """``values.isin(wanted)`` as a bool array, hashed by Arrow for Arrow strings: pandas
    converts each wanted value to a Python object first, which costs more than the rest of
    reconcile() on a large ledger."""
    try:
        haystack = pa.array(values.array)
        needles = pa.array(wanted.array).cast(haystack.type)
    except (TypeError, pa.ArrowException):
        return values.isin(wanted).to_numpy(dtype=bool, na_value=False)
    found = pc.fill_null(pc.is_in(haystack, value_set=needles), False)
    return np.asarray(found, dtype=bool)


def _generations(frame: pd.DataFrame, rows: np.ndarray, unknown: np.ndarray) -> None:
    balances = np.flatnonzero(frame["remaining_credits"].notna().to_numpy())
    account = frame["account"].astype("object").to_numpy()
    finished = frame["finished_at"].to_numpy(dtype="datetime64[ns]")
    started = frame["started_at"].to_numpy(dtype="datetime64[ns]")
    later = np.timedelta64(int(GENERATION_SETTLES_AFTER * 1000), "ms")
    for row in rows:
        same = balances[account[balances] == account[row]]
        unknown[row] = not (finished[same] >= started[row] + later).any()
