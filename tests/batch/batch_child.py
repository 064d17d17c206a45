"""A batch in a process of its own, for the crash tests: ``python batch_child.py IDS_FILE``.

The simulator's URL and token come in FLOWUP_BASE_URL and USEAPI_TOKEN, the ledger in
FLOWUP_LEDGER. Prints, when it finishes (if it is not killed first), one JSON line: the
rows per status and per origin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import flowup_nb as fu

# The crash tests run the simulator at time_scale 0.01: polls on that clock (the default
# schedule scaled), which also scales the batch's grace for a request becoming a job.
FAST = {"poll_interval": (0.01, 0.12), "retry_backoff": 0.001, "max_retry_wait": 0.05}


def main() -> None:
    entries = [tuple(pair) for pair in json.loads(Path(sys.argv[1]).read_text())]
    with fu.Ledger() as ledger, fu.FlowClient(ledger=ledger, **FAST) as client:
        frame = client.upscale_many(entries, concurrency=4, progress=False)
    counts = {
        "status": frame["status"].value_counts().to_dict(),
        "origin": {k: v for k, v in frame["origin"].value_counts().to_dict().items() if v},
    }
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
