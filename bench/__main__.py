"""Run every benchmark of this directory, one after the other: ``python -m bench``.

Each ``bench_*.py`` runs in its own interpreter with its default (full) settings, so
one benchmark's memory and threads cannot skew the next one's numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    modules = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    failed = []
    for module in modules:
        print(f"\n=== bench.{module} ===", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{module}"], check=False).returncode:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
