"""Batch benchmark: upscale_many against the ideal makespan, and against a naive loop.

    .venv/bin/python -m bench.bench_batch                         # the full run (N=200)
    .venv/bin/python -m bench.bench_batch --n 40 --naive-n 20     # a quick look

On the simulator (jobs on one Ultra account, whose limit is 4 running jobs) with every
duration scaled by ``--time-scale``, N fresh videos are upscaled at 1080p three ways:

- ``upscale_many(ids, concurrency=C)`` polling (the learnt poll plan);
- the same with a ``WebhookReceiver`` (deliveries instead of polls);
- a naive loop of ``client.upscale(id)`` (sync mode, one after the other): what a user
  writes without the toolkit. It runs ``--naive-n`` videos and its time is scaled to N.

The job time T is measured on the simulator's own records, per job: the captcha solve
(``captcha.durationMs``, during which the server already holds the account's slot) plus
``updated - created``. The ideal makespan is ceil(N/C) * mean(T). The detection delay of a
job is the time from its end on the server (``updated``) to the first poll (or delivery)
that saw it, as a share of its ``updated - created``. Targets: makespan at most 1.05x the
ideal for N = 200 with polling, at most 4 polls per job, 0 with webhooks; ends seen within
10 % of the job's time. Results are printed as Markdown and written to
bench/results/batch.json (the directory is created if missing).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results") / "batch.json"
EMAIL = "jo.ultra@example.com"
TARGET_RATIO = 1.05
TARGET_POLLS = 4.0
TARGET_DELAY = 0.10


def _client(sim: Any, scale: float, ledger: Any) -> Any:
    from flowup_nb.api.client import FlowClient
    from flowup_nb.api.policy import PollSchedule

    # What fu.connect() gives on a simulator: the real service's waits, on its clock.
    return FlowClient(
        sim.token,
        base_url=sim.base_url,
        ledger=ledger,
        poll_interval=PollSchedule().scaled(scale),
        retry_backoff=5.0 * scale,
        max_retry_wait=120.0 * scale,
        upscale_timeout=660.0 * scale + 5.0,
    )


class _Tee:
    """The ledger, and a list of every exchange it records (webhook deliveries too)."""

    def __init__(self, ledger: Any, sink: list[Any]) -> None:
        self.path, self._ledger, self._sink = ledger.path, ledger, sink

    def record(self, exchange: Any) -> None:
        self._sink.append(exchange)
        self._ledger.record(exchange)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _job_seconds(sim: Any) -> list[float]:
    seconds = []
    for job in sim.jobs():
        captcha_ms = ((job.get("response") or {}).get("captcha") or {}).get("durationMs") or 0
        ran = (_when(job["updated"]) - _when(job["created"])).total_seconds()
        seconds.append(ran + captcha_ms / 1000.0)
    return seconds


def _detection_delays(sim: Any, seen: dict[str, float]) -> list[float]:
    """Per job: (first sight of its end - its end on the server) / its server time."""
    delays = []
    for job in sim.jobs():
        created, updated = _when(job["created"]), _when(job["updated"])
        if job["jobid"] in seen:
            ran = (updated - created).total_seconds()
            delays.append((seen[job["jobid"]] - updated.timestamp()) / ran)
    return delays


def _ends_seen(exchanges: list[Any]) -> dict[str, float]:
    """When the client first saw each job done (a poll's answer, or a webhook delivery)."""
    seen: dict[str, float] = {}
    for exchange in exchanges:
        if exchange.job_id and exchange.job_status in ("completed", "failed"):
            seen.setdefault(exchange.job_id, exchange.finished_at)
    return seen


def _one_run(
    way: str, n: int, concurrency: int, scale: float, seed: int, tmp: Path, spread: int | None
) -> dict:
    import flowup_nb as fu
    import flowup_nb.sim as simulator

    with simulator.start(seed=seed, time_scale=scale, fail_rate=0.0, captcha_acceptance=1.0) as sim:
        ids = [sim.new_video_id(EMAIL) for _ in range(n)]
        exchanges: list[Any] = []
        with (
            fu.Ledger(tmp / f"{way}-{seed}.sqlite") as ledger,
            _client(sim, scale, _Tee(ledger, exchanges)) as client,
        ):
            if spread is not None:
                client.poll_plan.spread = spread
            start = time.perf_counter()
            if way == "naive":
                for source in ids:
                    client.upscale(source)
            elif way == "webhook":
                with fu.WebhookReceiver() as receiver:
                    frame = client.upscale_many(
                        ids, concurrency=concurrency, webhook=receiver, progress=False
                    )
            else:
                frame = client.upscale_many(ids, concurrency=concurrency, progress=False)
            makespan = time.perf_counter() - start
        if way != "naive":
            assert set(frame["status"]) == {"done"}, frame["error"].dropna().tolist()
        stats = sim.stats()
        job_seconds = _job_seconds(sim)
        delays = _detection_delays(sim, _ends_seen(exchanges))
    mean_t = statistics.fmean(job_seconds)
    slots = 1 if way == "naive" else concurrency
    ideal = math.ceil(n / slots) * mean_t
    return {
        "way": way,
        "n": n,
        "concurrency": slots,
        "makespan_s": makespan,
        "mean_job_s": mean_t,
        "ideal_s": ideal,
        "ratio_to_ideal": makespan / ideal,
        "polls_per_job": stats["requests"].get("jobs", 0) / n,
        "detection_delay": statistics.fmean(delays) if delays else None,
        "submissions": stats["upscale_submissions"],
        "responses_429": stats["responses"].get(429, 0),
    }


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=0.005)
    parser.add_argument("--naive-n", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ways", default="poll,webhook,naive", help="comma-separated subset")
    parser.add_argument("--spread", type=int, default=None, help="the poll plan's spread")
    args = parser.parse_args()

    import pandas  # noqa: F401  # imported once up front, as in any notebook: not timed

    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):
            ways = args.ways.split(",")
            for way in ways if index % 2 == 0 else ways[::-1]:
                n = args.naive_n if way == "naive" else args.n
                result = _one_run(
                    way, n, args.concurrency, args.time_scale, 100 + index, Path(tmp), args.spread
                )
                runs.append(result)
                print(json.dumps(result), flush=True)

    def median(way: str, key: str) -> float:
        values = [r[key] for r in runs if r["way"] == way and r[key] is not None]
        return statistics.median(values) if values else math.nan

    naive_per_video = median("naive", "makespan_s") / args.naive_n
    summary = {
        "args": vars(args),
        "runs": runs,
        "poll_ratio": median("poll", "ratio_to_ideal"),
        "webhook_ratio": median("webhook", "ratio_to_ideal"),
        "poll_polls_per_job": median("poll", "polls_per_job"),
        "webhook_polls_per_job": median("webhook", "polls_per_job"),
        "poll_detection_delay": median("poll", "detection_delay"),
        "webhook_detection_delay": median("webhook", "detection_delay"),
        "naive_makespan_for_n_s": naive_per_video * args.n,
        "speedup_over_naive": naive_per_video * args.n / median("poll", "makespan_s"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    _report(args, runs, summary)


def _report(args: argparse.Namespace, runs: list[dict], summary: dict) -> None:
    print(f"\nN={args.n}, C={args.concurrency}, time_scale={args.time_scale}\n")
    print("| way | makespan s | mean job T s | ideal s | ratio | polls/job | end seen | 429s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        delay = r["detection_delay"]
        shown = "-" if delay is None else f"{delay:.1%} of its time"
        print(
            f"| {r['way']} (n={r['n']}) | {r['makespan_s']:.2f} | {r['mean_job_s']:.3f} | "
            f"{r['ideal_s']:.2f} | {r['ratio_to_ideal']:.3f} | {r['polls_per_job']:.2f} | "
            f"{shown} | {r['responses_429']} |"
        )
    ratio = summary["poll_ratio"]
    print(
        f"\nmakespan / ideal: polling {ratio:.3f} (target <= {TARGET_RATIO}: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}), webhooks "
        f"{summary['webhook_ratio']:.3f}"
    )
    polls = summary["poll_polls_per_job"]
    print(
        f"polls per job: polling {polls:.2f} (target <= {TARGET_POLLS}: "
        f"{'met' if polls <= TARGET_POLLS else 'NOT met'}), webhooks "
        f"{summary['webhook_polls_per_job']:.2f} (target 0)"
    )
    delay = summary["poll_detection_delay"]
    print(
        f"end of a job seen after (mean, share of its time): polling {delay:.1%} (target <= "
        f"{TARGET_DELAY:.0%}: {'met' if delay <= TARGET_DELAY else 'NOT met'}), webhooks "
        f"{summary['webhook_detection_delay']:.1%}"
    )
    print(
        f"naive loop, scaled to N: {summary['naive_makespan_for_n_s']:.1f} s; "
        f"upscale_many is {summary['speedup_over_naive']:.1f}x faster"
    )


if __name__ == "__main__":
    main()
