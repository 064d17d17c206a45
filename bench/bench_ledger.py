"""Ledger benchmarks: recording overhead, frame() against pandas.read_sql, each analysis.

    .venv/bin/python -m bench.bench_ledger            # the full run (1,000,000 rows)
    .venv/bin/python -m bench.bench_ledger --rows 100000 --calls 300

Targets (issue 4): recording adds < 1 ms per exchange (median, against the same calls
without a ledger, run side by side); ``frame()`` of 1,000,000 rows takes at most 1.5x
``pandas.read_sql`` of the same table; each analysis of 1,000,000 rows < 1 s.
Results are printed as a Markdown table and written to bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowup_nb.api.client import FlowClient
from flowup_nb.api.exchange import CaptchaAttemptRecord, Exchange, new_call_id
from flowup_nb.ledger import Ledger
from flowup_nb.ledger import analyses as an
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS

RESULTS = Path(__file__).with_name("results") / "ledger.json"
TARGET_OVERHEAD_MS = 1.0
TARGET_FRAME_RATIO = 1.5
TARGET_ANALYSIS_S = 1.0
ACCOUNTS = [f"user{i}@example.com" for i in range(8)]
PROVIDERS = ["CapSolver", "AntiCaptcha", "2Captcha", "YesCaptcha", "SolveCaptcha"]
ERRORS = [
    ("RateLimitError", 429, "PUBLIC_ERROR_USER_REQUESTS_THROTTLED"),
    ("ServiceUnavailableError", 503, None),
    ("CaptchaRejectedError", 403, None),
    ("APITimeoutError", None, "no answer"),
    ("PollingTimeoutError", 408, None),
]


def _median_seconds(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- recording overhead -------------------------------------------------------------------


def bench_recording(calls: int, workdir: Path) -> dict[str, float]:
    """The same GET /accounts calls with and without a ledger, interleaved."""
    import flowup_nb.sim as simulator

    with simulator.start(seed=1, time_scale=0.0) as sim, Ledger(workdir / "rec.sqlite") as ledger:
        with_ledger = FlowClient(sim.token, base_url=sim.base_url, ledger=ledger)
        without = FlowClient(sim.token, base_url=sim.base_url)
        email = "jo.ultra@example.com"
        for client in (with_ledger, without):  # warm the connections
            for _ in range(20):
                client.get_account(email)
        timed: dict[str, list[float]] = {"with": [], "without": []}
        for i in range(calls):
            order = (("with", with_ledger), ("without", without))
            for name, client in order if i % 2 else order[::-1]:
                start = time.perf_counter()
                client.get_account(email)
                timed[name].append(time.perf_counter() - start)
        with_ledger.close()
        without.close()

        # record() alone, on a typical upscale Exchange with two captcha attempts.
        now = time.time()
        alone = []
        for _ in range(calls):
            exchange = Exchange(
                call_id=new_call_id(),
                session_id="bench",
                operation="upscale",
                method="POST",
                endpoint="/videos/upscale",
                started_at=now,
                finished_at=now + 40.0,
                outcome="ok",
                mode="sync",
                http_status=200,
                account=email,
                resolution="4K",
                remaining_credits=18710,
                job_id="j-bench",
                result_id="r",
                video_url="https://x",
                captcha_service="CapSolver",
                captcha_ms=9000,
                captcha_attempts=(
                    CaptchaAttemptRecord("CapSolver", "t1", 4000, False, "e"),
                    CaptchaAttemptRecord("CapSolver", "t2", 5000, True),
                ),
            )
            start = time.perf_counter()
            ledger.record(exchange)
            alone.append(time.perf_counter() - start)
    with_ms = statistics.median(timed["with"]) * 1000
    without_ms = statistics.median(timed["without"]) * 1000
    return {
        "calls": calls,
        "call_with_ledger_ms": with_ms,
        "call_without_ledger_ms": without_ms,
        "overhead_ms": with_ms - without_ms,
        "record_alone_ms": statistics.median(alone) * 1000,
    }


# -- a million rows ---------------------------------------------------------------------------


def synthesize(path: Path, rows: int, seed: int = 7) -> None:
    """A ledger shaped like real use: jobs of submit + polls, sync upscales, errors,
    retries, balances falling per account, captcha attempts on upscales."""
    rng = np.random.default_rng(seed)
    Ledger(path).close()  # the schema
    t0 = 1_767_225_600_000  # 2026-01-01T00:00Z
    started = np.sort(t0 + rng.integers(0, 180 * 86_400_000, rows))
    operation = rng.choice(
        ["upscale", "submit_upscale", "get_job", "get_account", "download"],
        rows,
        p=[0.35, 0.1, 0.45, 0.05, 0.05],
    )
    resolution = rng.choice(["1080p", "4K"], rows, p=[0.7, 0.3])
    account_index = rng.integers(0, len(ACCOUNTS), rows)
    wall = np.where(
        operation == "upscale",
        np.where(
            resolution == "4K", rng.uniform(120e3, 300e3, rows), rng.uniform(30e3, 60e3, rows)
        ),
        rng.uniform(50, 800, rows),
    )
    is_error = rng.random(rows) < 0.06
    error_index = rng.integers(0, len(ERRORS), rows)
    cached = (operation == "upscale") & (rng.random(rows) < 0.1)
    job_number = np.cumsum(np.isin(operation, ["upscale", "submit_upscale"]))
    job_status = np.where(
        operation == "get_job", np.where(rng.random(rows) < 0.3, "completed", "started"), None
    )
    completed = (~is_error) & ((operation == "upscale") | (job_status == "completed"))
    has_balance = completed | (operation == "get_account")
    charge = completed & (resolution == "4K") & ~cached
    balances = np.full(rows, -1, dtype="int64")
    for a in range(len(ACCOUNTS)):
        mine = account_index == a
        balances[mine] = 1_000_000 - np.cumsum(np.where(charge[mine], 50, 0))
    attempt = np.where(rng.random(rows) < 0.05, 1, 0)

    def text(values: np.ndarray) -> list[Any]:
        return [None if v is None else str(v) for v in values.tolist()]

    call_ids = [f"{i:012x}{seed:04x}" for i in range(rows)]
    columns: dict[str, list[Any]] = {
        "call_id": call_ids,
        "session_id": [f"s{i // 5000}" for i in range(rows)],
        "started_at": started.tolist(),
        "finished_at": (started + wall.astype("int64")).tolist(),
        "wall_ms": wall.round(3).tolist(),
        "endpoint": text(
            np.select(
                [operation == "get_job", operation == "get_account", operation == "download"],
                ["/jobs/{jobId}", "/accounts/{email}", "{videoUrl}"],
                "/videos/upscale",
            ).astype(object)
        ),
        "mode": text(
            np.where(
                operation == "upscale",
                "sync",
                np.where(operation == "submit_upscale", "async", None),
            )
        ),
        "attempt": attempt.tolist(),
        "job_id": [
            f"j{n}-bench" if op in ("upscale", "submit_upscale", "get_job") else None
            for n, op in zip(job_number.tolist(), operation.tolist(), strict=True)
        ],
        "account": [ACCOUNTS[a] for a in account_index.tolist()],
        "source_id": [None] * rows,
        "resolution": text(
            np.where(np.isin(operation, ["get_account", "download"]), None, resolution).astype(
                object
            )
        ),
        "http_status": [
            None if e and ERRORS[k][1] is None else (ERRORS[k][1] if e else 200)
            for e, k in zip(is_error.tolist(), error_index.tolist(), strict=True)
        ],
        "outcome": text(
            np.where(is_error, "error", np.where(job_status == "started", "pending", "ok")).astype(
                object
            )
        ),
        "error_type": [
            ERRORS[k][0] if e else None
            for e, k in zip(is_error.tolist(), error_index.tolist(), strict=True)
        ],
        "error_reason": [
            ERRORS[k][2] if e else None
            for e, k in zip(is_error.tolist(), error_index.tolist(), strict=True)
        ],
        "retry_after_s": np.where(is_error & (error_index == 0), 60.0, np.nan).tolist(),
        "captcha_quality": [0] * rows,
        "cached": np.where(operation == "upscale", cached.astype(int), -1).tolist(),
        "remaining_credits": balances.tolist(),
        "captcha_service": text(
            np.where(operation == "upscale", rng.choice(PROVIDERS, rows), None).astype(object)
        ),
        "captcha_ms": rng.integers(3000, 40000, rows).tolist(),
        "captcha_attempts": [1] * rows,
        "captcha_failures": [0] * rows,
        "result_id": [None] * rows,
        "video_url": [None] * rows,
        "tags": [None] * rows,
        "operation": operation.tolist(),
        "method": text(
            np.where(np.isin(operation, ["upscale", "submit_upscale"]), "POST", "GET").astype(
                object
            )
        ),
        "job_status": text(job_status.astype(object)),
        "will_retry": (is_error & (error_index < 2)).astype(int).tolist(),
        "model": [None] * rows,
        "bytes_received": [None] * rows,
        "reply_ref": [None] * rows,
        "error_message": [None] * rows,
    }
    for name in ("remaining_credits", "cached"):
        columns[name] = [
            None if v < 0 or not keep else v
            for v, keep in zip(
                columns[name],
                (has_balance if name == "remaining_credits" else operation == "upscale").tolist(),
                strict=True,
            )
        ]
    columns["retry_after_s"] = [None if v != v else v for v in columns["retry_after_s"]]
    upscale_rows = np.flatnonzero(operation == "upscale")
    attempts = [
        (call_ids[i], 0, str(rng_service), f"t{i}", int(ms), int(ok), None)
        for i, rng_service, ms, ok in zip(
            upscale_rows.tolist(),
            rng.choice(PROVIDERS, len(upscale_rows)).tolist(),
            rng.integers(2000, 40000, len(upscale_rows)).tolist(),
            (rng.random(len(upscale_rows)) < 0.7).tolist(),
            strict=True,
        )
    ]
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executemany(
        f"INSERT INTO exchanges ({', '.join(EXCHANGE_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(EXCHANGE_COLUMNS))})",
        zip(*(columns[name] for name in EXCHANGE_COLUMNS), strict=True),
    )
    conn.executemany(
        f"INSERT INTO captcha_attempts ({', '.join(ATTEMPT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(ATTEMPT_COLUMNS))})",
        attempts,
    )
    conn.commit()
    conn.close()


def bench_frame(path: Path, repeat: int) -> tuple[dict[str, float], pd.DataFrame]:
    import sqlite3

    def fresh_frame() -> pd.DataFrame:
        # A new Ledger each time: a Ledger keeps its frame until the next write, and
        # this measures the read, not the cache.
        with Ledger(path) as ledger:
            return ledger.frame()

    conn = sqlite3.connect(path)
    read_sql, frame_s = [], []
    for _ in range(repeat):  # side by side, alternating, so load on the machine hits both
        read_sql.append(_median_seconds(lambda: pd.read_sql("SELECT * FROM exchanges", conn), 1))
        frame_s.append(_median_seconds(fresh_frame, 1))
    conn.close()
    frame = fresh_frame()
    baseline, ours = statistics.median(read_sql), statistics.median(frame_s)
    return {
        "rows": len(frame),
        "read_sql_s": baseline,
        "frame_s": ours,
        "ratio": ours / baseline,
    }, frame


def bench_analyses(path: Path, frame: pd.DataFrame, repeat: int) -> dict[str, float]:
    with Ledger(path) as ledger:
        attempts = ledger.captcha_attempts()
    cases: dict[str, Callable[[], Any]] = {
        "jobs()": lambda: an.jobs(frame),
        "summary()": lambda: an.summary(frame),
        "credits(freq='D')": lambda: an.credits(frame),
        "credits(by='account', freq='D', tz='America/Los_Angeles')": lambda: an.credits(
            frame, by="account", tz="America/Los_Angeles"
        ),
        "latency()": lambda: an.latency(frame),
        "latency(level='job', by='resolution')": lambda: an.latency(
            frame, by="resolution", level="job"
        ),
        "captcha()": lambda: an.captcha(attempts, an.jobs(frame)),
        "errors()": lambda: an.errors(frame),
        "errors(freq='D')": lambda: an.errors(frame, freq="D"),
        "reconcile()": lambda: an.reconcile(frame),
    }
    return {name: _median_seconds(action, repeat) for name, action in cases.items()}


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000, help="calls for the overhead")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        recording = bench_recording(args.calls, workdir)
        print(f"recording overhead, median of {args.calls} calls each, interleaved:")
        for key, value in recording.items():
            print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
        print(
            f"overhead {recording['overhead_ms']:.3f} ms per exchange "
            f"(target < {TARGET_OVERHEAD_MS} ms: {_verdict(recording['overhead_ms'] < 1.0)})"
        )

        path = workdir / "million.sqlite"
        start = time.perf_counter()
        synthesize(path, args.rows)
        print(f"\nsynthesized {args.rows:,} rows in {time.perf_counter() - start:.1f} s")
        frame_result, frame = bench_frame(path, args.repeat)
        ratio = frame_result["ratio"]
        print(
            f"frame(): {frame_result['frame_s']:.2f} s, read_sql: "
            f"{frame_result['read_sql_s']:.2f} s, ratio {ratio:.2f} "
            f"(target <= {TARGET_FRAME_RATIO}: {_verdict(ratio <= TARGET_FRAME_RATIO)})"
        )
        analyses = bench_analyses(path, frame, args.repeat)
    print(f"\n| analysis on {len(frame):,} rows | median s |\n|---|---|")
    for name, seconds in analyses.items():
        print(f"| `{name}` | {seconds:.3f} |")
    slowest = max(analyses.values())
    print(
        f"slowest {slowest:.3f} s (target < {TARGET_ANALYSIS_S} s each: "
        f"{_verdict(slowest < TARGET_ANALYSIS_S)})"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"recording": recording, "frame": frame_result, "analyses": analyses}, indent=2)
    )


if __name__ == "__main__":
    main()
