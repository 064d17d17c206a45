"""``make demo``: JupyterLab on the quickstart notebook, or a walk-through in the terminal.

    python -m flowup_nb.demo              # JupyterLab on notebooks/01_quickstart.ipynb
    python -m flowup_nb.demo --script     # no browser: generate -> upscale -> download

Without ``USEAPI_TOKEN`` both use the embedded simulator (no account, no credits).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
QUICKSTART = "01_quickstart.ipynb"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flowup_nb.demo",
        description="Open the quickstart notebook in JupyterLab, or walk through an upscale "
        "in the terminal (--script). Uses the embedded simulator when USEAPI_TOKEN is unset.",
    )
    parser.add_argument("--script", action="store_true", help="terminal walk-through, no browser")
    parser.add_argument("--port", type=int, default=0, help="JupyterLab port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--source", help="--script: the mediaGenerationId to upscale")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="--script on the real API: generate a video first (this spends credits)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("flowup-demo"), help="--script: where to save videos"
    )
    args = parser.parse_args(argv)
    if args.script:
        return walk_through(source=args.source, generate=args.generate, out=args.out)
    return open_lab(port=args.port, open_browser=not args.no_browser)


# -- JupyterLab -----------------------------------------------------------------------


def open_lab(*, port: int = 0, open_browser: bool = True) -> int:
    if not (NOTEBOOKS / QUICKSTART).exists():
        print(
            f"flowup-nb demo: {NOTEBOOKS / QUICKSTART} is missing. The notebooks come with the "
            "source repository (clone it and run `make demo`), or try "
            "`python -m flowup_nb.demo --script`.",
            file=sys.stderr,
        )
        return 2
    if importlib.util.find_spec("jupyterlab") is None:
        print(
            "flowup-nb demo: JupyterLab is not installed. Install it with "
            "`pip install 'flowup-nb[lab]'` (`make demo` does), or try "
            "`python -m flowup_nb.demo --script`.",
            file=sys.stderr,
        )
        return 2
    port = port or _free_port(8888)
    # A token of our own, so the URL printed here is the one that opens the notebook.
    lab_token = secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{port}/lab/tree/{QUICKSTART}?token={lab_token}"
    if os.environ.get("USEAPI_TOKEN", "").strip():
        print("flowup-nb demo: USEAPI_TOKEN is set: the notebook talks to the real API.")
    else:
        print(
            "flowup-nb demo: USEAPI_TOKEN is not set: the notebook uses the embedded "
            "simulator (no account, no real credits)."
        )
    print(f"flowup-nb demo: JupyterLab on {url}", flush=True)
    env = dict(os.environ)
    # The kernel imports flowup_nb from this checkout even when it is not installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        QUICKSTART,
        f"--ServerApp.root_dir={NOTEBOOKS}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={lab_token}",
        f"--ServerApp.open_browser={open_browser}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses it
    # Become JupyterLab (no child process): Ctrl-C and signals reach the server itself.
    os.chdir(NOTEBOOKS)
    os.execve(sys.executable, command, env)
    return 0  # not reached


def _free_port(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


# -- the terminal walk-through ----------------------------------------------------------


def walk_through(*, source: str | None, generate: bool, out: Path) -> int:
    import flowup_nb as fu

    step = _Steps()
    with fu.connect() as client:
        on_simulator = client.simulator is not None
        step("connected", "embedded simulator" if on_simulator else f"real API {client.base_url}")

        if source is None and on_simulator:
            source = client.simulator.sample_ids()[0]
            step("picked", f"a sample video of the simulator: {_short(source)}")
        elif source is None and generate:
            generated = client.generate_video("A serene mountain landscape at sunset")
            source = generated.media_generation_id
            step("generated", f"{_short(source)} (credits left: {generated.remaining_credits})")
        elif source is None:
            print(
                "On the real API pass --source <mediaGenerationId>, or --generate to make a "
                "video first (that spends credits).",
                file=sys.stderr,
            )
            return 2

        started = time.monotonic()
        result = client.upscale(source, "1080p", captcha_retry=5)
        step(
            "upscaled",
            f"1080p in {time.monotonic() - started:.1f} s, job {result.job_id}, "
            f"{_captcha(result)}, credits left: {result.remaining_credits}",
        )
        out.mkdir(parents=True, exist_ok=True)
        path = client.download(result, out / "upscaled-1080p.mp4")
        step("downloaded", f"{path} ({path.stat().st_size / 1024:.0f} kB)")

        job = client.submit_upscale(source, "1080p", captcha_retry=5)
        step("submitted", f"the same upscale in async mode: job {job.job_id} ({job.status})")
        again = client.wait(job, on_update=lambda j: step("  job", j.status))
        how = "cached: free, the video came back inline" if again.cached else "not cached"
        step("done", f"{how} ({len(again.raw_bytes or b'')} bytes)")
        path = client.download(again, out / "upscaled-1080p-again.mp4")
        step("saved", f"{path} ({path.stat().st_size / 1024:.0f} kB)")

    ledger = fu.Ledger()
    frame = ledger.frame()
    mine = frame[frame["session_id"] == client.session_id]
    step("ledger", f"{len(mine)} exchanges of this run in {ledger.path} (fu.Ledger() to analyse)")
    return 0


class _Steps:
    """Numbered lines: what happened, in order."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, what: str, detail: Any) -> None:
        if what.startswith(" "):
            print(f"     {what.strip()}: {detail}", flush=True)
            return
        self.count += 1
        print(f"{self.count:>2}. {what}: {detail}", flush=True)


def _short(media_id: str) -> str:
    return media_id if len(media_id) <= 48 else media_id[:22] + "…" + media_id[-20:]


def _captcha(result: Any) -> str:
    captcha = result.captcha
    if captcha is None:
        return "no captcha data"
    attempts = len(captcha.attempts) or 1
    seconds = (captcha.duration_ms or 0) / 1000
    return f"captcha by {captcha.service} in {seconds:.1f} s ({attempts} attempt(s))"


if __name__ == "__main__":
    sys.exit(main())
