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
``updated - created``. The ideal makespan is ceil(N/C) * mean(T). Targets (issue 6):
makespan at most 1.10x the ideal for N = 200, at most 6 polls per job when polling, 0 with
webhooks. Results are printed as Markdown and written to bench/results/batch.json.
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
TARGET_RATIO = 1.10
TARGET_POLLS = 6.0


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


def _job_seconds(sim: Any) -> list[float]:
    seconds = []
    for job in sim.jobs():
        created = datetime.fromisoformat(job["created"].replace("Z", "+00:00"))
        updated = datetime.fromisoformat(job["updated"].replace("Z", "+00:00"))
        captcha_ms = ((job.get("response") or {}).get("captcha") or {}).get("durationMs") or 0
        seconds.append((updated - created).total_seconds() + captcha_ms / 1000.0)
    return seconds


def _one_run(way: str, n: int, concurrency: int, scale: float, seed: int, tmp: Path) -> dict:
    import flowup_nb as fu
    import flowup_nb.sim as simulator

    with simulator.start(seed=seed, time_scale=scale, fail_rate=0.0, captcha_acceptance=1.0) as sim:
        ids = [sim.new_video_id(EMAIL) for _ in range(n)]
        with (
            fu.Ledger(tmp / f"{way}-{seed}.sqlite") as ledger,
            _client(sim, scale, ledger) as client,
        ):
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
    args = parser.parse_args()

    import pandas  # noqa: F401  # imported once up front, as in any notebook: not timed

    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):
            ways = ["poll", "webhook", "naive"]
            for way in ways if index % 2 == 0 else ways[::-1]:
                n = args.naive_n if way == "naive" else args.n
                result = _one_run(way, n, args.concurrency, args.time_scale, 100 + index, Path(tmp))
                runs.append(result)
                print(json.dumps(result), flush=True)

    def median(way: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["way"] == way)

    naive_per_video = median("naive", "makespan_s") / args.naive_n
    summary = {
        "args": vars(args),
        "runs": runs,
        "poll_ratio": median("poll", "ratio_to_ideal"),
        "webhook_ratio": median("webhook", "ratio_to_ideal"),
        "poll_polls_per_job": median("poll", "polls_per_job"),
        "webhook_polls_per_job": median("webhook", "polls_per_job"),
        "naive_makespan_for_n_s": naive_per_video * args.n,
        "speedup_over_naive": naive_per_video * args.n / median("poll", "makespan_s"),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nN={args.n}, C={args.concurrency}, time_scale={args.time_scale}\n")
    print("| way | makespan s | mean job T s | ideal s | ratio | polls/job | 429s |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['way']} (n={r['n']}) | {r['makespan_s']:.2f} | {r['mean_job_s']:.3f} | "
            f"{r['ideal_s']:.2f} | {r['ratio_to_ideal']:.3f} | {r['polls_per_job']:.2f} | "
            f"{r['responses_429']} |"
        )
    ok = summary["poll_ratio"] <= TARGET_RATIO and summary["webhook_ratio"] <= TARGET_RATIO
    print(
        f"\nmakespan / ideal: polling {summary['poll_ratio']:.3f}, webhooks "
        f"{summary['webhook_ratio']:.3f} (target <= {TARGET_RATIO}: {'met' if ok else 'NOT met'})"
    )
    print(
        f"polls per job: polling {summary['poll_polls_per_job']:.2f} (target <= {TARGET_POLLS}), "
        f"webhooks {summary['webhook_polls_per_job']:.2f} (target 0)"
    )
    print(
        f"naive loop, scaled to N: {summary['naive_makespan_for_n_s']:.1f} s; "
        f"upscale_many is {summary['speedup_over_naive']:.1f}x faster"
    )


if __name__ == "__main__":
    main()
