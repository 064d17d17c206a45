"""A separate process that records exchanges into a ledger (for the concurrency tests).

    python ledger_writer.py PATH PREFIX COUNT [--echo]

Opens the ledger, prints "ready", waits for a line on stdin, then records COUNT
exchanges with call ids PREFIX-0, PREFIX-1, ...; with --echo it prints each id once its
record() has returned (committed).
"""

from __future__ import annotations

import sys
import time

from flowup_nb.api.exchange import CaptchaAttemptRecord, Exchange
from flowup_nb.ledger import Ledger


def main() -> None:
    path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    echo = "--echo" in sys.argv[4:]
    ledger = Ledger(path)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        now = time.time()
        ledger.record(
            Exchange(
                call_id=f"{prefix}-{i}",
                session_id=prefix,
                operation="get_job",
                method="GET",
                endpoint="/jobs/{jobId}",
                started_at=now,
                finished_at=now + 0.01,
                outcome="pending",
                http_status=200,
                job_id=f"job-{prefix}-{i // 10}",
                job_status="started",
                captcha_attempts=(CaptchaAttemptRecord("CapSolver", f"t{i}", 800, True),),
            )
        )
        if echo:
            print(f"{prefix}-{i}", flush=True)
    ledger.close()


if __name__ == "__main__":
    main()
