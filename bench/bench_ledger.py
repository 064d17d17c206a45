"""Ledger benchmarks, on SQLite and on PostgreSQL: recording overhead, frame() against
pandas.read_sql, each analysis, and LedgerView on a long history.

    .venv/bin/python -m bench.bench_ledger            # the full run (1,000,000 rows)
    .venv/bin/python -m bench.bench_ledger --rows 100000 --calls 300   # a quick look
    .venv/bin/python -m bench.bench_ledger --pg-url postgresql://me@host/db  # your server

Without --pg-url a throwaway PostgreSQL cluster is started on loopback (Debian's
``postgresql``, as the tests do; fsync on, default settings otherwise).

Targets: recording adds < 1 ms per exchange on SQLite and < 2 ms on PostgreSQL over
loopback (median, against the same calls without a ledger, run side by side);
``frame()`` of 1,000,000 rows takes at most 0.35x ``pandas.read_sql`` of the same table
(SQLite through sqlite3, PostgreSQL through psycopg); each analysis of 1,000,000 rows
< 1 s on both; with 1,000,000 earlier rows, the view open and ten forms upscaling, no
loop stall over 200 ms, median under 50 ms, the view shown within 2 s.
Results are printed and written to bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flowup_nb.api.client import FlowClient
from flowup_nb.api.exchange import CaptchaAttemptRecord, Exchange, new_call_id
from flowup_nb.api.prices import FOUR_K_PRICE
from flowup_nb.ledger import Ledger
from flowup_nb.ledger import analyses as an
from flowup_nb.ledger.schema import ATTEMPT_COLUMNS, EXCHANGE_COLUMNS

RESULTS = Path(__file__).with_name("results") / "ledger.json"
TARGET_OVERHEAD_MS = {"sqlite": 1.0, "postgresql": 2.0}
TARGET_FRAME_RATIO = 0.35
TARGET_ANALYSIS_S = 1.0
TARGET_STALL_S, TARGET_MEDIAN_STALL_S, TARGET_VIEW_S = 0.2, 0.05, 2.0
ACCOUNTS = [f"user{i}@example.com" for i in range(8)]
USERS = ["jo", "sam", "pat", "lee", "kim"]
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


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[Callable[[], str]]:
    """A factory of fresh databases: on the server of ``url``, or on a throwaway one."""
    import sys

    import psycopg

    if url:
        counter = iter(range(1_000_000))
        with psycopg.connect(url, autocommit=True) as conn:
            made: list[str] = []

            def fresh() -> str:
                name = f"flowup_bench_{next(counter)}_{int(time.time())}"
                conn.execute(f"CREATE DATABASE {name}".encode())
                made.append(name)
                return url.rsplit("/", 1)[0] + "/" + name

            try:
                yield fresh
            finally:
                for name in made:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pgcluster import start_cluster

    cluster = start_cluster(durable=True)
    try:
        names = iter(range(1_000_000))

        def fresh_local() -> str:
            name = f"bench_{next(names)}"
            cluster.admin(f"CREATE DATABASE {name}")
            return cluster.url(name)

        yield fresh_local
    finally:
        cluster.destroy()


# -- recording overhead -------------------------------------------------------------------


def bench_recording(target: str | Path, calls: int) -> dict[str, float]:
    """The same GET /accounts calls with and without a ledger, interleaved."""
    import flowup_nb.sim as simulator

    with simulator.start(seed=1, time_scale=0.0) as sim, Ledger(target) as ledger:
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
        assert not ledger.fallback_path.exists(), "records went to the fallback file"
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
        balances[mine] = 1_000_000 - np.cumsum(np.where(charge[mine], FOUR_K_PRICE, 0))
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
        "user": [USERS[u] for u in rng.integers(0, len(USERS), rows).tolist()],
        "host": [f"host-{u}" for u in rng.integers(0, 3, rows).tolist()],
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
        f"INSERT INTO exchanges ({', '.join(f'[{c}]' for c in EXCHANGE_COLUMNS)}) "
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


def copy_to_postgres(path: Path, url: str) -> None:
    """The rows of a synthesized file into a server ledger, through COPY (fast)."""
    import psycopg

    Ledger(url).close()  # the tables
    columns = ", ".join(f'"{c}"' for c in EXCHANGE_COLUMNS)
    source = sqlite3.connect(path)
    try:
        with psycopg.connect(url) as conn:
            # A history: recorded when each call ended, not now (a reader then treats the
            # rows as settled at once, as it would a real ledger's past).
            query = f"COPY exchanges ({columns}, recorded_at) FROM STDIN"
            with conn.cursor().copy(query.encode()) as copy:
                rows = f"SELECT {columns}, finished_at FROM exchanges ORDER BY rowid"
                for *values, finished_ms in source.execute(rows):
                    copy.write_row([*values, dt.datetime.fromtimestamp(finished_ms / 1000, dt.UTC)])
            attempt_columns = ", ".join(ATTEMPT_COLUMNS)
            query = f"COPY captcha_attempts ({attempt_columns}) FROM STDIN"
            with conn.cursor().copy(query.encode()) as copy:
                for row in source.execute(f"SELECT {attempt_columns} FROM captcha_attempts"):
                    copy.write_row(row)
            conn.execute(b"ANALYZE exchanges")
    finally:
        source.close()


def bench_frame(target: str | Path, repeat: int) -> tuple[dict[str, float], pd.DataFrame]:
    def fresh_frame() -> pd.DataFrame:
        # A new Ledger each time: a Ledger keeps its frame and reads only new rows after,
        # and this measures the first read, not the kept frame.
        with Ledger(target) as ledger:
            return ledger.frame()

    def read_sql() -> pd.DataFrame:
        if isinstance(target, str):
            import psycopg

            with psycopg.connect(target) as conn, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pandas: "not SQLAlchemy"
                return pd.read_sql("SELECT * FROM exchanges", conn)
        with contextlib.closing(sqlite3.connect(target)) as conn:
            return pd.read_sql("SELECT * FROM exchanges", conn)

    read_sql_s, frame_s = [], []
    for _ in range(repeat):  # side by side, alternating, so load on the machine hits both
        read_sql_s.append(_median_seconds(read_sql, 1))
        frame_s.append(_median_seconds(fresh_frame, 1))
    frame = fresh_frame()
    baseline, ours = statistics.median(read_sql_s), statistics.median(frame_s)
    return {
        "rows": len(frame),
        "read_sql_s": baseline,
        "frame_s": ours,
        "ratio": ours / baseline,
    }, frame


def bench_analyses(target: str | Path, repeat: int) -> dict[str, float]:
    """Each analysis through a Ledger whose frame is read (as in a notebook after the
    first question): the pure function plus the check for new rows."""
    with Ledger(target) as ledger:
        ledger.frame()
        attempts = ledger.captcha_attempts()
        frame = ledger.frame()
        cases: dict[str, Callable[[], Any]] = {
            "jobs()": lambda: an.jobs(frame),
            "summary()": lambda: an.summary(frame),
            "summary(by='user')": lambda: an.summary(frame, by="user"),
            "credits(freq='D')": lambda: an.credits(frame),
            "credits(by='account', freq='D', tz='America/Los_Angeles')": lambda: an.credits(
                frame, by="account", tz="America/Los_Angeles"
            ),
            "credits(by='user', freq='W')": lambda: an.credits(frame, by="user", freq="W"),
            "latency()": lambda: an.latency(frame),
            "latency(level='job', by='resolution')": lambda: an.latency(
                frame, by="resolution", level="job"
            ),
            "captcha()": lambda: an.captcha(attempts, an.jobs(frame)),
            "errors()": lambda: an.errors(frame),
            "errors(freq='D')": lambda: an.errors(frame, freq="D"),
            "reconcile()": lambda: an.reconcile(frame),
            "ledger.summary() (kept frame)": ledger.summary,
            "ledger.frame(since='30 days', users='jo')": lambda: ledger.frame(
                since=pd.Timestamp("2026-05-01", tz="UTC"), users="jo"
            ),
        }
        return {name: _median_seconds(action, repeat) for name, action in cases.items()}


# -- the dashboard on a long history ---------------------------------------------------------


def bench_view(path: Path, *, forms: int = 10, upscales: int = 3) -> dict[str, float]:
    """LedgerView on ``path``, ten forms upscaling against the simulator meanwhile; the
    lateness of a 10 ms ticker on the loop is what a one-line cell would wait."""
    import flowup_nb as fu
    import flowup_nb.sim as simulator
    from flowup_nb.widgets.ledger_view import LedgerView

    tick = 0.01
    lateness: list[float] = []
    result: dict[str, float] = {}
    ledger = Ledger(path)

    async def scenario(sim: Any) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                start = loop.time()
                await asyncio.sleep(tick)
                lateness.append(loop.time() - start - tick)

        settings = {"poll_interval": (0.005, 0.05), "retry_backoff": 0.001, "timeout": 60.0}
        clients = [
            fu.AsyncFlowClient(sim.token, base_url=sim.base_url, ledger=ledger, **settings)
            for _ in range(forms)
        ]
        upscale_forms = [fu.UpscaleForm(client, ledger=ledger) for client in clients]
        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = time.perf_counter()
        view = LedgerView(ledger, refresh_interval=2.0)
        result["view_shown_s"] = time.perf_counter() - start
        while view.refreshes == 0:
            await asyncio.sleep(0.05)
        result["view_filled_s"] = time.perf_counter() - start

        async def run(form: Any) -> None:
            await form.settle()
            for _ in range(upscales):
                form.source.value = sim.new_video_id("jo.ultra@example.com")
                form.upscale_button.click()
                await form.settle()

        await asyncio.gather(*(run(form) for form in upscale_forms))
        total = len(ledger)
        while view.counts is None or view.counts.exchanges != total:
            await asyncio.sleep(0.05)
        result["caught_up_s"] = time.perf_counter() - start
        stop.set()
        await ticking
        view.close()
        for client in clients:
            await client.aclose()

    with simulator.start(
        seed=9, time_scale=0.02, fail_rate=0.0, concurrency={"ultra": 32}, captcha_acceptance=1.0
    ) as sim:
        asyncio.run(scenario(sim))
    ledger.close()
    result |= {
        "ticks": float(len(lateness)),
        "max_stall_s": max(lateness),
        "p99_stall_s": float(np.percentile(lateness, 99)),
        "median_stall_s": statistics.median(lateness),
    }
    return result


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000, help="calls for the overhead")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", help="a PostgreSQL server to use (a database per step)")
    parser.add_argument("--skip-view", action="store_true")
    args = parser.parse_args()

    results: dict[str, Any] = {"recording": {}, "frame": {}, "analyses": {}}
    with tempfile.TemporaryDirectory() as tmp, postgres(args.pg_url) as fresh_database:
        workdir = Path(tmp)
        targets: dict[str, Callable[[], str | Path]] = {
            "sqlite": lambda: workdir / f"rec-{time.monotonic_ns()}.sqlite",
            "postgresql": fresh_database,
        }
        for backend, make in targets.items():
            recording = bench_recording(make(), args.calls)
            results["recording"][backend] = recording
            print(f"{backend}: recording overhead, median of {args.calls} calls each:")
            for key, value in recording.items():
                print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")
            target_ms = TARGET_OVERHEAD_MS[backend]
            met = recording["overhead_ms"] < target_ms
            print(
                f"  overhead {recording['overhead_ms']:.3f} ms (< {target_ms} ms: {_verdict(met)})"
            )

        path = workdir / "million.sqlite"
        start = time.perf_counter()
        synthesize(path, args.rows)
        print(f"\nsynthesized {args.rows:,} rows in {time.perf_counter() - start:.1f} s")
        url = fresh_database()
        start = time.perf_counter()
        copy_to_postgres(path, url)
        print(f"copied them to PostgreSQL in {time.perf_counter() - start:.1f} s")
        for backend, target in (("sqlite", path), ("postgresql", url)):
            frame_result, _ = bench_frame(target, args.repeat)
            results["frame"][backend] = frame_result
            ratio = frame_result["ratio"]
            print(
                f"{backend}: frame() {frame_result['frame_s']:.2f} s, read_sql "
                f"{frame_result['read_sql_s']:.2f} s, ratio {ratio:.2f} "
                f"(target <= {TARGET_FRAME_RATIO}: {_verdict(ratio <= TARGET_FRAME_RATIO)})"
            )
            analyses = bench_analyses(target, args.repeat)
            results["analyses"][backend] = analyses
            print(f"\n| {backend}: analysis on {args.rows:,} rows | median s |\n|---|---|")
            for name, seconds in analyses.items():
                print(f"| `{name}` | {seconds:.3f} |")
            slowest = max(analyses.values())
            print(
                f"slowest {slowest:.3f} s (target < {TARGET_ANALYSIS_S} s each: "
                f"{_verdict(slowest < TARGET_ANALYSIS_S)})\n"
            )
        if not args.skip_view:
            view = bench_view(path)
            results["view"] = view
            print(f"LedgerView on {args.rows:,} rows, ten forms upscaling:")
            for key, value in view.items():
                print(f"  {key}: {value:.3f}")
            met = (
                view["max_stall_s"] < TARGET_STALL_S
                and view["median_stall_s"] < TARGET_MEDIAN_STALL_S
                and view["view_shown_s"] < TARGET_VIEW_S
            )
            print(f"  (stall < 200 ms, median < 50 ms, shown < 2 s: {_verdict(met)})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
