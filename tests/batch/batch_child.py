"""A batch in a process of its own, for the crash tests: ``python batch_child.py IDS_FILE``.

The simulator's URL and token come in FLOWUP_BASE_URL and USEAPI_TOKEN, the ledger in
FLOWUP_LEDGER. Prints one line per status when it finishes (if it is not killed first).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import flowup_nb as fu

FAST = {"poll_interval": (0.005, 0.05), "retry_backoff": 0.001, "max_retry_wait": 0.05}


def main() -> None:
    entries = [tuple(pair) for pair in json.loads(Path(sys.argv[1]).read_text())]
    with fu.Ledger() as ledger, fu.FlowClient(ledger=ledger, **FAST) as client:
        frame = client.upscale_many(entries, concurrency=4, progress=False)
    print(json.dumps(frame["status"].value_counts().to_dict()))


if __name__ == "__main__":
    main()
