"""A separate process that records exchanges into a ledger (for the concurrency tests).

    python ledger_writer.py TARGET PREFIX COUNT [--echo] [--pause-at N ...]
                            [--retry-after SECONDS] [--open-only]

TARGET is a file path or a postgresql:// URL. Opens the ledger, prints "ready", waits
for a line on stdin, then records COUNT exchanges with call ids PREFIX-0, PREFIX-1, ...;
with --echo it prints each id once its record() has returned. Before the record numbered
by each --pause-at it prints "paused N" and waits for another line (the test does
something to the server meanwhile). At the end it prints "done" and closes the ledger.
Every warning is printed to stderr, so a test can tell a record went to the fallback.
With --open-only it opens the ledger at the go line, prints "opened" and exits.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from flowup_nb.api.exchange import CaptchaAttemptRecord, Exchange
from flowup_nb.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("prefix")
    parser.add_argument("count", type=int)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--pause-at", type=int, action="append", default=[])
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--open-only", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("always")
    if args.open_only:
        print("ready", flush=True)
        sys.stdin.readline()
        Ledger(args.target).close()
        print("opened", flush=True)
        return
    ledger = Ledger(args.target, retry_after=args.retry_after)
    print("ready", flush=True)
    sys.stdin.readline()
    pauses = set(args.pause_at)
    for i in range(args.count):
        if i in pauses:
            print(f"paused {i}", flush=True)
            sys.stdin.readline()
        now = time.time()
        ledger.record(
            Exchange(
                call_id=f"{args.prefix}-{i}",
                session_id=args.prefix,
                operation="get_job",
                method="GET",
                endpoint="/jobs/{jobId}",
                started_at=now,
                finished_at=now + 0.01,
                outcome="pending",
                http_status=200,
                job_id=f"job-{args.prefix}-{i // 10}",
                job_status="started",
                captcha_attempts=(CaptchaAttemptRecord("CapSolver", f"t{i}", 800, True),),
            )
        )
        if args.echo:
            print(f"{args.prefix}-{i}", flush=True)
    print("done", flush=True)
    ledger.close()


if __name__ == "__main__":
    main()
