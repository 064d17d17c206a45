"""Wait benchmark: polls per job and how late a job's end is seen, on the simulator's clock.

    .venv/bin/python -m bench.bench_wait                      # spreads 6 to 12, 200 jobs each
    .venv/bin/python -m bench.bench_wait --spreads 8 --jobs 100

One client waits for ``--jobs`` 1080p upscales one after the other, on a simulator at the
real service's pace (jobs of 30.5-62 s) whose clock each wait moves forward by its sleeps
instead of sleeping: the figures are those of the poll plan alone, free of the machine's
load, and the same on every run (seeded). The first jobs are polled on the client's
default schedule (nothing learnt yet); the rest on the plan learnt from them. The delay
is the time from a job's end on the server to the poll that saw it, as a share of the
job's time. Targets: at most 4 polls per job, ends seen within 10 % of the job's time.
Results are printed as Markdown and written to bench/results/wait.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results") / "wait.json"
EMAIL = "jo.ultra@example.com"
TOKEN = "03AFcWeA-user-provided-token"  # a solved captcha: no provider solve to sleep through
COLD = 3  # jobs before the plan has learnt anything (its minimum sample)


def wait_on_sim_clock(
    sim: Any, client: Any, owner: str, *, timeout: float = 3600
) -> tuple[int, float, float]:
    """Submit one upscale for ``owner`` and wait for it with the simulator's clock moved
    by each Sleep step instead of slept: (polls, the job's time, how late its end was
    seen), all on the simulator's clock. Shared with tests/api/test_wait_engine.py."""
    from flowup_nb.api.waiting import Poll, Sleep, job_duration, wait_steps

    job = client.submit_upscale(sim.new_video_id(owner), captcha_token=TOKEN)
    clock = [0.0]
    steps = wait_steps(
        job.job_id, timeout=timeout, plan=client.poll_plan, initial=job, clock=lambda: clock[0]
    )
    polls, reply = 0, None
    try:
        while True:
            step = steps.send(reply)
            reply = None
            if isinstance(step, Sleep):
                sim.advance(step.seconds)
                clock[0] += step.seconds
            elif isinstance(step, Poll):
                polls += 1
                reply = client.get_job(job.job_id)
    except StopIteration:
        pass
    record = client.get_job(job.job_id)
    took = job_duration(record.created, record.updated)
    assert took is not None
    return polls, took, clock[0] - took


def _wait_one(sim: Any, client: Any) -> tuple[int, float]:
    """(polls, delay as a share of the job's time) of one submitted-then-waited job."""
    polls, took, lag = wait_on_sim_clock(sim, client, EMAIL)
    return polls, lag / took


def _one_spread(spread: int, jobs: int, seed: int) -> dict[str, Any]:
    import flowup_nb as fu
    import flowup_nb.sim as simulator

    with (
        simulator.start(seed=seed, time_scale=1.0, fail_rate=0.0) as sim,
        fu.FlowClient(sim.token, base_url=sim.base_url) as client,
    ):
        client.poll_plan.spread = spread
        runs = [_wait_one(sim, client) for _ in range(jobs)]
    cold, learnt = runs[:COLD], runs[COLD:]
    return {
        "spread": spread,
        "jobs": jobs,
        "cold_polls_per_job": statistics.fmean(p for p, _ in cold),
        "cold_delay": statistics.fmean(d for _, d in cold),
        "polls_per_job": statistics.fmean(p for p, _ in learnt),
        "delay": statistics.fmean(d for _, d in learnt),
        "worst_delay": max(d for _, d in learnt),
        "all_polls_per_job": statistics.fmean(p for p, _ in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spreads", default="6,7,8,9,10,12")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rows = [_one_spread(int(s), args.jobs, args.seed) for s in args.spreads.split(",")]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    print(f"\n{args.jobs} jobs one after the other, seed {args.seed}\n")
    print("| spread | polls/job | end seen after (mean) | worst | first 3 jobs: polls, delay |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['spread']} | {r['polls_per_job']:.2f} | {r['delay']:.1%} | "
            f"{r['worst_delay']:.1%} | {r['cold_polls_per_job']:.1f}, {r['cold_delay']:.1%} |"
        )


if __name__ == "__main__":
    main()
