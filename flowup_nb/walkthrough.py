"""The terminal walk-through of ``flowup-nb demo --script``: connect, upscale, download,
the same upscale in async mode (cached, so free), and what the ledger recorded."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowup_nb.api.client import FlowClient

__all__ = ["walk_through"]


def walk_through(*, source: str | None, generate: bool, out: Path) -> int:
    import flowup_nb as fu
    from flowup_nb.api.models import UpscaleResult

    step = _Steps()
    with fu.connect() as client:
        step(
            "connected",
            "embedded simulator" if client.simulator is not None else f"real API {client.base_url}",
        )
        source = source or _pick_source(client, generate, step)
        if source is None:
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
        if not isinstance(again, UpscaleResult):  # an upscale job ends in an upscale result
            raise TypeError(f"job {job.job_id} ended in a {type(again).__name__}")
        how = "cached: free, the video came back inline" if again.cached else "not cached"
        step("done", f"{how} ({len(again.raw_bytes or b'')} bytes)")
        path = client.download(again, out / "upscaled-1080p-again.mp4")
        step("saved", f"{path} ({path.stat().st_size / 1024:.0f} kB)")

    ledger = fu.Ledger()
    frame = ledger.frame()
    mine = frame[frame["session_id"] == client.session_id]
    step("ledger", f"{len(mine)} exchanges of this run in {ledger.path} (fu.Ledger() to analyse)")
    return 0


def _pick_source(client: FlowClient, generate: bool, step: _Steps) -> str | None:
    """A video to upscale: a sample on the simulator; on the real API, a new generation
    only when asked (it spends credits)."""
    if client.simulator is not None:
        source: str = client.simulator.sample_ids()[0]
        step("picked", f"a sample video of the simulator: {_short(source)}")
        return source
    if not generate:
        return None
    generated = client.generate_video("A serene mountain landscape at sunset")
    made = generated.media_generation_id
    if made is not None:
        step("generated", f"{_short(made)} (credits left: {generated.remaining_credits})")
    return made


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
