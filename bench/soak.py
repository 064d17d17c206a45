"""Soak: many upscales through the client and the batch layer under a seeded fault profile.

    .venv/bin/python -m bench.soak --n 1000 --rate 0.2 --seed 7     # the issue's run
    .venv/bin/python -m bench.soak --n 100                           # a quick look
    .venv/bin/python -m bench.soak --no-search                       # what the search prevents

The simulator draws a fault for ``--rate`` of its API responses (the four 429s, both
503s, dropped connections, truncated bodies, slow responses, malformed JSON). The N
upscales use distinct fresh videos over the three paid accounts, mixed 1080p/4K on the
Ultra ones, and go three ways: 40% ``client.upscale`` (sync mode), 20%
``submit_upscale`` + ``wait``, 40% ``AsyncFlowClient.upscale_many``. Every exchange lands
in one ledger. The outcome table is printed as Markdown; the invariants are:

- results lost (an upscale that ended in neither a result nor a typed ``fu.FlowError``): 0;
- double charges (credits the simulator charged beyond the 4K price per distinct 4K
  video it completed): 0. The simulator charges a video and resolution once whatever
  happens, so this figure alone cannot show a duplicate; hence the next one:
- duplicate executions (upscales that ran in full on the server more than once for one
  video and resolution, from ``sim.executions()``): reported as a figure; 4K ones must be
  0 (the client looks for the job of a lost answer before resending a 4K upscale);
- ledger rows == the simulator's API request count (a dropped connection is counted by
  both: the simulator saw the request, the client recorded an exchange without status;
  the batch's intent rows, written before a request leaves, are not requests).

``tests/reliability/test_soak.py`` runs a smaller soak of the same shape and asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from flowup_nb.api.prices import FOUR_K_PRICE
from flowup_nb.sim.faults import PROFILE_API_KINDS

JO, SAM, PAT = "jo.ultra@example.com", "sam.ultra@example.com", "pat.pro@example.com"
# The fault kinds the simulator's profile draws on API routes.
PROFILE_KINDS = PROFILE_API_KINDS
# The default scale keeps the longest announced cooldown (the model quota's "until UTC
# midnight", up to 24 h of service time) under ~17 s, so it is ridden out, not raised.
DEFAULT_TIME_SCALE = 0.0002
_OPERATIONS_OF_UPSCALES = ("upscale", "submit_upscale", "get_job")
# Ledger rows that are not HTTP requests to the API: media downloads, and the intents a
# batch writes before each submission.
_NOT_API_REQUESTS = ("download", "intent")
# 4K videos with a result in hand, asked for again after the soak: every run checks that
# a repeat is a free cached answer, not only the runs where a paid job lost its answer.
_REPEATS_OF_RESULTS = 5


@dataclass(frozen=True)
class Item:
    """One upscale of the soak: a fresh source video, its resolution, and the way it goes."""

    source_id: str
    resolution: str
    account: str
    way: str  # sync | submit_wait | batch


@dataclass
class Ending:
    """How one upscale ended: a result, a typed error, or (a bug) something else."""

    item: Item
    result: Any = None
    error: BaseException | None = None

    @property
    def kind(self) -> str:
        import flowup_nb as fu

        if self.result is not None and self.error is None:
            return "result"
        if isinstance(self.error, fu.FlowError):
            return "typed_error"
        return "lost"


@dataclass
class SoakOutcome:
    n: int
    rate: float
    seed: int
    time_scale: float
    seconds: float
    endings: list[Ending]
    stats: dict[str, Any]
    completed_4k_sources: set[str]
    ledger_rows: int
    ledger_rows_by_endpoint: dict[str, int]
    ledger_rows_without_status: int  # no answer arrived: drops, and cut-off answers
    retried_exchanges: int
    survivors: int  # upscales that met at least one fault and still got their result
    by_way: dict[str, Counter[str]] = field(default_factory=dict)
    # Upscales that ran in full on the server, per (source, resolution): sim.executions().
    executions: dict[tuple[str, str], int] = field(default_factory=dict)
    # Requests to the load statistics: the client looking for the job of a lost answer.
    job_stats_requests: int = 0
    # After the faults: each 4K video paid for but not in hand, and a few in hand, asked
    # for once more.
    recovered: list[Any] = field(default_factory=list)  # their results (or last errors)
    repeated: list[Any] = field(default_factory=list)  # the repeats of results in hand
    recovery_credits: int = 0  # what the repeats cost (a cached repeat is free)
    # The batch's failed items run once more by a second upscale_many: (id, status).
    batch_rerun: list[tuple[str, str]] = field(default_factory=list)

    # -- the figures -----------------------------------------------------------------

    @property
    def sim_requests(self) -> int:
        return sum(v for k, v in self.stats["requests"].items() if k != "media")

    @property
    def faults_by_kind(self) -> dict[str, int]:
        return {k: int(v) for k, v in sorted(self.stats["faults_injected"].items()) if v}

    @property
    def unanswered_faults(self) -> int:
        """Faults after which no HTTP status reaches the client: the connection closed
        before (drop) or during (truncate) the answer."""
        fired = self.stats["faults_injected"]
        return int(fired.get("drop", 0) + fired.get("truncate", 0))

    @property
    def typed_errors(self) -> Counter[str]:
        return Counter(type(e.error).__name__ for e in self.endings if e.kind == "typed_error")

    @property
    def results(self) -> int:
        return sum(e.kind == "result" for e in self.endings)

    @property
    def lost(self) -> list[Ending]:
        return [e for e in self.endings if e.kind == "lost"]

    @property
    def credits_charged(self) -> int:
        return int(sum(self.stats["credits_charged"].values()))

    @property
    def double_charged_credits(self) -> int:
        """Credits charged beyond the price of each distinct 4K video completed once."""
        return self.credits_charged - FOUR_K_PRICE * len(self.completed_4k_sources)

    @property
    def duplicate_executions(self) -> dict[str, int]:
        """Runs beyond the first of one video and resolution, per resolution."""
        extra: Counter[str] = Counter()
        for (_, resolution), runs in self.executions.items():
            extra[resolution] += runs - 1
        return {resolution: extra[resolution] for resolution in ("1080p", "4K")}

    @property
    def duplicate_cost_if_billed(self) -> int:
        """What the duplicate 4K runs would cost on a service that bills every execution
        (``sim.start(bill_every_execution=True)``)."""
        return FOUR_K_PRICE * self.duplicate_executions["4K"]

    @property
    def paid_without_result(self) -> int:
        """4K videos the server completed (and charged) whose call ended in a typed error:
        not lost (the ledger holds the job id; ``client.resume`` or a free cached repeat
        fetches it), but worth knowing."""
        return len(self.orphans)

    @property
    def orphans(self) -> list[Item]:
        return orphans(self.endings, self.completed_4k_sources, self.batch_rerun)

    @property
    def rerun_done(self) -> set[str]:
        return {source for source, status in self.batch_rerun if status == "done"}

    def markdown(self) -> str:
        faults = self.faults_by_kind
        rows = [
            ("upscales (sync / submit+wait / upscale_many)", self._ways()),
            ("requests sent (simulator, API routes)", str(self.sim_requests)),
            ("faults injected", f"{sum(faults.values())}: {_pairs(faults)}"),
            ("faulted exchanges retried by the client", str(self.retried_exchanges)),
            ("upscales that met a fault and still got their result", str(self.survivors)),
            ("results", str(self.results)),
            (
                "typed errors surfaced",
                f"{sum(self.typed_errors.values())}: "
                f"{_pairs(dict(sorted(self.typed_errors.items())))}",
            ),
            ("**results lost** (must be 0)", str(len(self.lost))),
            (
                f"credits charged / {FOUR_K_PRICE} x distinct 4K completed",
                f"{self.credits_charged} / {FOUR_K_PRICE * len(self.completed_4k_sources)}",
            ),
            ("**double charges** (credits, must be 0)", str(self.double_charged_credits)),
            (
                "upscales run in full on the server (`sim.executions()`): 1080p / 4K",
                f"{self._runs('1080p')} / {self._runs('4K')}",
            ),
            (
                "**duplicate executions** (runs beyond the first): 1080p / 4K (4K must be 0)",
                f"{self.duplicate_executions['1080p']} / {self.duplicate_executions['4K']}",
            ),
            (
                "what the duplicate 4K runs would cost if every execution were billed",
                f"{self.duplicate_cost_if_billed} credits",
            ),
            (
                "load-statistics requests (looking for a lost answer's job)",
                str(self.job_stats_requests),
            ),
            (
                "4K paid but the call ended in a typed error (recoverable)",
                str(self.paid_without_result),
            ),
            (
                "of those, recovered by a repeat after the soak (cached, credits spent)",
                f"{len(self.recovered)} "
                f"(cached {sum(bool(getattr(r, 'cached', False)) for r in self.recovered)}"
                f", {self.recovery_credits} credits)",
            ),
            (
                "4K results in hand asked for again (cached)",
                f"{len(self.repeated)} "
                f"({sum(bool(getattr(r, 'cached', False)) for r in self.repeated)})",
            ),
            (
                "**ledger rows / simulator requests** (must match)",
                f"{self.ledger_rows} / {self.sim_requests}",
            ),
            (
                "ledger rows without a status / drops + truncations injected",
                f"{self.ledger_rows_without_status} / {self.unanswered_faults}",
            ),
            (
                "batch items failed, run again by a 2nd upscale_many (faults on): done",
                f"{len(self.batch_rerun)}: {len(self.rerun_done)}",
            ),
            ("wall time", f"{self.seconds:.1f} s"),
        ]
        lines = [
            f"Soak: n={self.n}, rate={self.rate}, seed={self.seed}, time_scale={self.time_scale}",
            "",
            "| figure | value |",
            "|---|---|",
            *(f"| {name} | {value} |" for name, value in rows),
        ]
        return "\n".join(lines)

    def _runs(self, resolution: str) -> int:
        return sum(n for (_, res), n in self.executions.items() if res == resolution)

    def _ways(self) -> str:
        parts = []
        for way in ("sync", "submit_wait", "batch"):
            counts = self.by_way.get(way, Counter())
            parts.append(f"{sum(counts.values())} ({counts['result']} ok)")
        return " / ".join(parts)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


# -- the run -------------------------------------------------------------------------


def plan_items(sim: Any, n: int) -> list[Item]:
    """N fresh videos over the paid accounts; 4K on Ultra only, and on sam.ultra (2500
    credits) few enough that its holds never run out."""
    items = []
    for i in range(n):
        account = (JO, SAM, PAT)[i % 3]
        four_k = (account == JO and i % 2 == 0) or (account == SAM and i % 8 == 1)
        way = ("sync", "sync", "submit_wait", "batch", "batch")[i % 5]
        items.append(Item(sim.new_video_id(account), "4K" if four_k else "1080p", account, way))
    return items


def client_settings(time_scale: float) -> dict[str, Any]:
    # Short backoffs and polls, and patience for every cooldown the profile announces
    # (the model quota's, until UTC midnight, is the longest).
    return {
        "max_retries": 4,
        "retry_backoff": 0.002,
        "max_retry_wait": 86400.0 * time_scale + 5.0,
        "poll_interval": (0.005, 0.05),
        "timeout": 30.0,
        "upscale_timeout": 60.0,
    }


def run_soak(
    n: int = 1000,
    rate: float = 0.2,
    seed: int = 7,
    time_scale: float = DEFAULT_TIME_SCALE,
    *,
    workdir: Path | None = None,
    search: bool = True,
) -> SoakOutcome:
    """The soak. ``search=False`` turns off the client's look for a lost 4K answer's job
    before resending it (for this run only), to show what that search prevents."""
    if n < 5:
        raise ValueError(f"n must be at least 5 (one upscale per way and account), got {n}")
    if search:
        return _soak(n, rate, seed, time_scale, workdir)
    from flowup_nb.api._base import ClientCore

    looks = ClientCore.look_before_resend
    ClientCore.look_before_resend = lambda self, call, step: False  # type: ignore[method-assign]
    try:
        return _soak(n, rate, seed, time_scale, workdir)
    finally:
        ClientCore.look_before_resend = looks  # type: ignore[method-assign]


def _soak(n: int, rate: float, seed: int, time_scale: float, workdir: Path | None) -> SoakOutcome:
    import flowup_nb.sim as simulator

    with TemporaryDirectory(prefix="flowup-soak-") as tmp:
        ledger_path = Path(workdir or tmp) / "soak.sqlite"
        with simulator.start(seed=seed, time_scale=time_scale) as sim:
            items = plan_items(sim, n)
            sim.set_fault_profile(rate=rate, seed=seed)
            started = time.perf_counter()
            rerun: list[tuple[str, str]] = []
            endings, exchanges = _run_items(sim, items, ledger_path, time_scale, rerun)
            seconds = time.perf_counter() - started
            sim.clear_faults()
            completed_4k = {
                job["request"]["mediaGenerationId"]
                for job in sim.jobs()
                if job["status"] == "completed" and job["request"]["resolution"] == "4K"
            }
            executions = sim.executions()  # before the repeats: they run nothing new
            charged_before = _charged(sim)
            recovered, repeated = _recover(
                sim, endings, completed_4k, rerun, ledger_path, time_scale
            )
            recovery_credits = _charged(sim) - charged_before
            stats = sim.stats()
        outcome = _outcome(
            n,
            rate,
            seed,
            time_scale,
            seconds,
            endings,
            exchanges,
            stats,
            completed_4k,
            ledger_path,
        )
    outcome.recovered = recovered
    outcome.repeated = repeated
    outcome.executions = executions
    outcome.batch_rerun = rerun
    outcome.recovery_credits = recovery_credits
    return outcome


def _charged(sim: Any) -> int:
    return int(sum(sim.stats()["credits_charged"].values()))


def orphans(
    endings: list[Ending], completed_4k: set[str], rerun: list[tuple[str, str]]
) -> list[Item]:
    """4K videos the server completed and charged whose upscale ended in an error and
    was not done by the batch's second run."""
    done_again = {source for source, status in rerun if status == "done"}
    return [
        e.item
        for e in endings
        if e.kind != "result"
        and e.item.source_id in completed_4k
        and e.item.source_id not in done_again
    ]


def _recover(
    sim: Any,
    endings: list[Ending],
    completed_4k: set[str],
    rerun: list[tuple[str, str]],
    ledger_path: Path,
    time_scale: float,
) -> tuple[list[Any], list[Any]]:
    """Ask again, with the faults off, for each 4K video the server completed and charged
    whose call still ended in an error (e.g. a truncated 201, then a failed retry), and
    for a few 4K videos already in hand: the server's cache must hand them over for free.
    Returns (the recovered results, the repeats' results)."""
    import flowup_nb as fu

    lost_in_hand = orphans(endings, completed_4k, rerun)
    in_hand = [e.item for e in endings if e.kind == "result" and e.item.resolution == "4K"][
        :_REPEATS_OF_RESULTS
    ]
    with (
        fu.Ledger(ledger_path) as ledger,
        fu.FlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, **client_settings(time_scale)
        ) as client,
    ):
        recovered = [_ask_again(client, item) for item in lost_in_hand]
        repeated = [_ask_again(client, item) for item in in_hand]
    return recovered, repeated


def _ask_again(client: Any, item: Item, tries: int = 5) -> Any:
    """The item's result, asked for until it comes: with the faults off, only the
    service's own chances remain (a rejected captcha, say), and none of them charges."""
    import flowup_nb as fu

    error: fu.FlowError | None = None
    for _ in range(tries):
        try:
            return client.upscale(item.source_id, item.resolution)
        except fu.FlowError as exc:
            error = exc
            time.sleep(0.05)
    return error


def _run_items(
    sim: Any, items: list[Item], ledger_path: Path, time_scale: float, rerun: list[tuple[str, str]]
) -> tuple[list[Ending], list[Any]]:
    exchanges: list[Any] = []  # list.append is atomic: observers on many threads share it
    endings: list[Ending] = []
    settings = client_settings(time_scale)
    # One thread per account for the single calls: one job at a time per account keeps
    # below the tier limits, so every 429 seen is an injected one. The batch runs beside
    # them on its own account-aware scheduler.
    singles = [i for i in items if i.way != "batch"]
    threads = [
        threading.Thread(
            target=_run_singles,
            args=(
                sim,
                [i for i in singles if i.account == account],
                ledger_path,
                settings,
                exchanges,
                endings,
            ),
            name=f"soak-{account}",
        )
        for account in (JO, SAM, PAT)
    ]
    for thread in threads:
        thread.start()
    try:
        batch = [i for i in items if i.way == "batch"]
        endings.extend(asyncio.run(_run_batch(sim, batch, ledger_path, settings, exchanges, rerun)))
    finally:
        for thread in threads:
            thread.join()
    return endings, exchanges


def _run_singles(
    sim: Any,
    items: list[Item],
    ledger_path: Path,
    settings: dict[str, Any],
    exchanges: list[Any],
    endings: list[Ending],
) -> None:
    import flowup_nb as fu

    with (
        fu.Ledger(ledger_path) as ledger,
        fu.FlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **settings) as client,
    ):
        client.subscribe(exchanges.append)
        for item in items:
            try:
                if item.way == "sync":
                    result = client.upscale(item.source_id, item.resolution)
                else:
                    job = client.submit_upscale(item.source_id, item.resolution)
                    result = client.wait(job, timeout=120.0)
                endings.append(Ending(item, result=result))
            except Exception as exc:  # every ending is judged later: typed or lost
                endings.append(Ending(item, error=exc))


async def _run_batch(
    sim: Any,
    items: list[Item],
    ledger_path: Path,
    settings: dict[str, Any],
    exchanges: list[Any],
    rerun: list[tuple[str, str]],
) -> list[Ending]:
    import flowup_nb as fu

    by_key = {(i.source_id, i.resolution): i for i in items}
    with fu.Ledger(ledger_path) as ledger:
        async with fu.AsyncFlowClient(
            sim.token, base_url=sim.base_url, ledger=ledger, **settings
        ) as client:
            client.subscribe(exchanges.append)
            try:
                frame = await client.upscale_many(
                    list(by_key),
                    concurrency=8,
                    max_pause=120.0,
                    timeout=120.0,
                    progress=False,
                )
            except Exception as exc:  # the whole batch failing loses every item in it
                return [
                    Ending(i, error=exc)
                    if isinstance(exc, fu.FlowError)
                    else Ending(i, error=RuntimeError(f"batch crashed: {exc!r}"))
                    for i in items
                ]
            # What a user does next: run the failed ones again (faults still on). Their
            # first endings stand for the invariants; this only counts how many come.
            failed = [(r.id, r.resolution) for r in frame.itertuples() if r.status != "done"]
            if failed:
                again = await client.upscale_many(
                    failed, concurrency=8, max_pause=120.0, timeout=120.0, progress=False
                )
                rerun.extend((str(r.id), str(r.status)) for r in again.itertuples())
    endings = []
    seen = set()
    for row in frame.itertuples():
        key = (row.id, row.resolution)
        seen.add(key)
        if row.status == "done" and row.result is not None:
            endings.append(Ending(by_key[key], result=row.result))
        elif row.status == "failed" and row.error is not None:
            endings.append(Ending(by_key[key], error=row.error))
        else:
            endings.append(Ending(by_key[key], error=RuntimeError(f"no ending: {row.status}")))
    endings += [
        Ending(item, error=RuntimeError("missing from the batch's frame"))
        for key, item in by_key.items()
        if key not in seen
    ]
    return endings


def _outcome(
    n: int,
    rate: float,
    seed: int,
    time_scale: float,
    seconds: float,
    endings: list[Ending],
    exchanges: list[Any],
    stats: dict[str, Any],
    completed_4k: set[str],
    ledger_path: Path,
) -> SoakOutcome:
    import flowup_nb as fu

    with fu.Ledger(ledger_path) as ledger:
        frame = ledger.frame()
    api = frame[~frame["operation"].isin(_NOT_API_REQUESTS).to_numpy()]
    faulted = {
        e.source_id
        for e in exchanges
        if e.outcome == "error" and e.operation in _OPERATIONS_OF_UPSCALES and e.source_id
    }
    by_way: dict[str, Counter[str]] = {}
    for ending in endings:
        by_way.setdefault(ending.item.way, Counter())[ending.kind] += 1
    return SoakOutcome(
        n=n,
        rate=rate,
        seed=seed,
        time_scale=time_scale,
        seconds=seconds,
        endings=endings,
        stats=stats,
        completed_4k_sources=completed_4k,
        ledger_rows=len(api),
        ledger_rows_by_endpoint={str(k): int(v) for k, v in api["endpoint"].value_counts().items()},
        ledger_rows_without_status=int(api["http_status"].isna().sum()),
        retried_exchanges=sum(1 for e in exchanges if e.will_retry),
        job_stats_requests=int(stats["requests"].get("job_stats", 0)),
        survivors=sum(1 for e in endings if e.kind == "result" and e.item.source_id in faulted),
        by_way=by_way,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=1000, help="upscales (default 1000)")
    parser.add_argument("--rate", type=float, default=0.2, help="fault rate (default 0.2)")
    parser.add_argument("--seed", type=int, default=7, help="simulator and fault seed")
    parser.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE)
    parser.add_argument(
        "--no-search",
        action="store_true",
        help="resend a lost 4K answer without looking for its job first (shows duplicates)",
    )
    args = parser.parse_args(argv)
    outcome = run_soak(args.n, args.rate, args.seed, args.time_scale, search=not args.no_search)
    print(outcome.markdown())
    ok = (
        not outcome.lost
        and outcome.double_charged_credits == 0
        and outcome.duplicate_executions["4K"] == 0
        and outcome.ledger_rows == outcome.sim_requests
    )
    if not ok:
        print("\nINVARIANT BROKEN", file=sys.stderr)
        for ending in outcome.lost[:10]:
            print(f"lost: {ending.item} {ending.error!r}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
