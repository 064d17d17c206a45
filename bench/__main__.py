"""Run every benchmark of this directory, one after the other: ``python -m bench``.

    python -m bench            # full sizes: the numbers of docs/benchmarks.md (long)
    python -m bench --quick    # small sizes, a first look in under 3 minutes

Each ``bench_*.py`` runs in its own interpreter, so one benchmark's memory and threads
cannot skew the next one's numbers. Quick numbers are noisier and not comparable to the
full runs: read them as "it works, and roughly this"; they are written to
``bench/results/quick/`` and leave the full runs' results as they were.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"  # git-ignored: made here, so a fresh clone can run the benchmarks

# The smaller sizes of --quick, per benchmark (each accepts these options).
QUICK: dict[str, list[str]] = {
    "bench_batch": ["--n", "40", "--naive-n", "10"],
    "bench_client": ["--calls", "200", "--rounds", "3", "--mb", "50", "--download-rounds", "3"],
    "bench_ledger": ["--rows", "100000", "--calls", "200", "--repeat", "1"],
    "bench_wait": ["--spreads", "8", "--jobs", "60"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a first look")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    modules = sorted(path.stem for path in HERE.glob("bench_*.py"))
    failed = []
    for module in modules:
        options = QUICK.get(module, []) if args.quick else []
        print(f"\n=== bench.{module} {' '.join(options)}".rstrip() + " ===", flush=True)
        command = [sys.executable, "-m", f"bench.{module}", *options]
        full_results = _saved_results()
        if subprocess.run(command, cwd=HERE.parent, check=False).returncode:
            failed.append(module)
        if args.quick:
            _keep_apart(full_results)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _saved_results() -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in RESULTS.glob("*.json")}


def _keep_apart(full_results: dict[Path, bytes]) -> None:
    """A quick run's results go to results/quick/; the full run's stay where they were."""
    quick = RESULTS / "quick"
    quick.mkdir(exist_ok=True)
    for path in RESULTS.glob("*.json"):
        if full_results.get(path) != path.read_bytes():
            path.replace(quick / path.name)
    for path, content in full_results.items():
        if not path.exists():
            path.write_bytes(content)


if __name__ == "__main__":
    sys.exit(main())
