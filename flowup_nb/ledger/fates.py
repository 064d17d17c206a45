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
        ended_jobs = frame["job_id"][frame["job_status"].isin(_ENDED).to_numpy()]
        submitted &= ~frame["job_id"].isin(set(ended_jobs)).to_numpy()
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
    # Only the rows about the open calls' videos: few, whatever the ledger's size.
    sources = set(frame["source_id"].iloc[rows])
    about = np.flatnonzero(frame["source_id"].isin(sources).to_numpy())
    part = frame.iloc[about]
    source = part["source_id"].astype("object").to_numpy()
    resolution = part["resolution"].astype("object").to_numpy()
    started = part["started_at"].to_numpy(dtype="datetime64[ns]")
    finished = part["finished_at"].to_numpy(dtype="datetime64[ns]")
    done = completing_rows(frame)[about]
    cached = part["cached"].to_numpy(dtype=bool, na_value=False)
    failed = (part["job_status"] == "failed").to_numpy(dtype=bool, na_value=False)
    ended_jobs = set(part["job_id"][part["job_status"].isin(_ENDED).to_numpy()])
    job_id = part["job_id"].astype("object").to_numpy()
    reply_ref = part["reply_ref"].astype("object").to_numpy()
    failed_refs = {ref for ref in reply_ref[failed] if isinstance(ref, str)}
    completions: dict[tuple[str, str], list[tuple[np.datetime64, bool, int]]] = {}
    failures: dict[tuple[str, str], list[np.datetime64]] = {}
    for k in np.flatnonzero(done | failed):
        key = (source[k], resolution[k])
        if done[k]:
            completions.setdefault(key, []).append((finished[k], bool(cached[k]), int(about[k])))
        else:
            failures.setdefault(key, []).append(finished[k])
    position = {int(row): i for i, row in enumerate(about)}
    charged: set[tuple[str, str]] = set()
    for row in sorted((int(r) for r in rows), key=lambda r: started[position[r]]):
        i = position[row]
        key = (source[i], resolution[i])
        if isinstance(job_id[i], str) and job_id[i] in ended_jobs:
            continue  # its own job was seen ending
        seen = sorted(completions.get(key, ()))
        if not seen:
            if isinstance(reply_ref[i], str) and reply_ref[i] in failed_refs:
                continue
            ref_less = not isinstance(reply_ref[i], str) and not isinstance(job_id[i], str)
            if ref_less and any(at >= started[i] for at in failures.get(key, ())):
                continue
            unknown[row] = True
            continue
        if key in charged or any(not is_cached for _, is_cached, _ in seen):
            continue  # a run of it carries the price, or the price was inferred already
        if seen[0][0] >= started[i]:
            # Only cached answers, all after the open call: its job was the run.
            inferred[seen[0][2]] += UPSCALE_PRICES[key[1]]
            charged.add(key)
        # Else a cached answer came before it: the server had the video, the call was free.


def _generations(frame: pd.DataFrame, rows: np.ndarray, unknown: np.ndarray) -> None:
    balances = np.flatnonzero(frame["remaining_credits"].notna().to_numpy())
    account = frame["account"].astype("object").to_numpy()
    finished = frame["finished_at"].to_numpy(dtype="datetime64[ns]")
    started = frame["started_at"].to_numpy(dtype="datetime64[ns]")
    later = np.timedelta64(int(GENERATION_SETTLES_AFTER * 1000), "ms")
    for row in rows:
        same = balances[account[balances] == account[row]]
        unknown[row] = not (finished[same] >= started[row] + later).any()
