"""Run the simulator standalone: python -m flowup_nb.sim --port 8787 --seed 7 --time-scale 0.1"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from flowup_nb.sim import DEFAULT_TIME_SCALE, start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowup_nb.sim", description="The embedded Google Flow API simulator."
    )
    parser.add_argument("--port", type=int, default=0, help="API port (default: any free port)")
    parser.add_argument("--media-port", type=int, default=0, help="media host port (default: any)")
    parser.add_argument("--seed", default=None, help="seed for reproducible runs (default: random)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"multiplier on every duration of the real service (default {DEFAULT_TIME_SCALE})",
    )
    parser.add_argument("--fail-rate", type=float, default=0.02, help="share of jobs that fail")
    parser.add_argument(
        "--bill-every-execution",
        action="store_true",
        help="charge every upscale that runs, not only the first per (video, resolution)",
    )
    args = parser.parse_args(argv)
    seed: int | str | None = args.seed
    if isinstance(seed, str) and seed.lstrip("-").isdigit():
        seed = int(seed)
    try:
        sim = start(
            seed=seed,
            time_scale=args.time_scale,
            port=args.port,
            media_port=args.media_port,
            fail_rate=args.fail_rate,
            bill_every_execution=args.bill_every_execution,
        )
    except (OSError, ValueError, TypeError) as exc:
        print(f"flowup_nb.sim: cannot start: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    # Ctrl-C is quiet from the banner's first line: whoever reads it may send SIGINT at once.
    with sim, contextlib.suppress(KeyboardInterrupt):
        print(f"Google Flow simulator (seed {sim.seed}, time scale {sim.time_scale})")
        print(f"base URL:   {sim.base_url}")
        print(f"media base: {sim.media_base}")
        print(f"token:      {sim.token}")
        if args.bill_every_execution:
            print("billing:    every execution (not only the first per video and resolution)")
        print(f"try:        export FLOWUP_BASE_URL={sim.base_url} USEAPI_TOKEN={sim.token}")
        print("Ctrl-C to stop.", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
