"""`fu.calibrate()` and `python -m flowup_nb.calibrate`: hold the simulator against the
real service, shape by shape. See docs/calibration.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from flowup_nb._version import __version__
from flowup_nb.api.errors import FlowError, InputError
from flowup_nb.api.policy import (
    DEFAULT_BASE_URL,
    validate_base_url,
    validate_job_id,
    validate_media_generation_id,
    validate_token,
)
from flowup_nb.calibration.diff import Difference, compare
from flowup_nb.calibration.probe import Answer, Prober
from flowup_nb.calibration.redact import Redactor
from flowup_nb.calibration.service import run_service
from flowup_nb.calibration.twin import run_twin

__all__ = [
    "DEFAULT_OUT",
    "CalibrationReport",
    "add_arguments",
    "calibrate",
    "main",
    "run",
]

DEFAULT_OUT = "flowup-calibration.json"
DESCRIPTION = (
    "Ask the service (USEAPI_TOKEN, FLOWUP_BASE_URL) the toolkit's read-only calls, record "
    "the shape of every answer (never a token, cookie, email, id, URL or prompt) into a JSON "
    "file you can share, and print how the embedded simulator's answers to the same calls "
    "differ. Nothing spends credits: --upscale adds one free 1080p upscale."
)
_FREE = "1080p"
_AGAINST_SIM_SEED = 7


@dataclass
class CalibrationReport:
    """What a calibration found: the recorded shapes of both sides and their differences."""

    service: list[Answer]
    simulator: list[Answer]
    differences: list[Difference]
    simulator_seed: int
    target: str  # "default", "custom" or "simulator": where the "service" side was
    notes: list[str] = field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the simulator answered every call with the service's shapes."""
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": f"flowup-nb {__version__} calibrate",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "service": {"target": self.target, "calls": [a.record() for a in self.service]},
            "simulator": {
                "seed": self.simulator_seed,
                "calls": [a.record() for a in self.simulator],
            },
            "differences": [d.record() for d in self.differences],
            "notes": self.notes,
        }

    def text(self) -> str:
        """The differences, grouped by call, as printed."""
        if not self.differences:
            return (
                f"No differences: the simulator answered all {len(self.service)} calls "
                "with the service's statuses, fields, types and values."
            )
        lines = [f"{len(self.differences)} difference(s), service vs simulator:"]
        lines.extend(f"  {d}" for d in self.differences)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"CalibrationReport(calls={len(self.service)}, "
            f"differences={len(self.differences)}, path={self.path!r})"
        )


def calibrate(
    *,
    upscale: str | None = None,
    job_ids: Sequence[str] = (),
    out: str | os.PathLike[str] | None = DEFAULT_OUT,
    token: str | None = None,
    base_url: str | None = None,
    resolution: str = _FREE,
    generate: str | None = None,
    against_sim: bool = False,
    ledger: str | os.PathLike[str] | None = None,
    echo: TextIO | bool = True,
) -> CalibrationReport:
    """Record the shapes of the service's answers and compare them with the simulator's.

    Read-only by default: ``GET /accounts``, ``GET /accounts/{email}`` for each account,
    ``GET /jobs?options=`` summary, executing and history, and ``GET /jobs/{jobId}`` for
    ``job_ids`` (else the last few jobs of the ledger, else a few the statistics name).
    ``upscale`` adds one sync 1080p upscale (free) of that video. 4K (``resolution``) and
    ``generate`` spend credits and are refused before any request.

    The shapes go to ``out`` (None: no file) and the calls and differences are printed
    (``echo``: True for stdout, False for nothing, or a text stream). ``against_sim``
    calibrates a second simulator instead of the service: no token needed, and the
    differences should be none. ``ledger`` is the ledger file to take job ids from
    (default: ``$FLOWUP_LEDGER`` or the per-user file).
    """
    _refuse_spending(generate, resolution)
    if upscale is not None:
        upscale = validate_media_generation_id(upscale)
    if isinstance(job_ids, str):
        raise InputError("job_ids must be a list of job ids, e.g. job_ids=[job.job_id]")
    jobs = [validate_job_id(j) for j in job_ids]
    out_path = _out_path(out)
    if against_sim:
        if token is not None or base_url is not None:
            raise InputError("against_sim=True calibrates a simulator: leave out token/base_url")
        return _against_sim(upscale, jobs, out_path, echo)
    token = validate_token(token if token is not None else os.environ.get("USEAPI_TOKEN"))
    env_base = os.environ.get("FLOWUP_BASE_URL", "").strip()
    base = validate_base_url(base_url or env_base or DEFAULT_BASE_URL)
    target = "default" if base == DEFAULT_BASE_URL else "custom"
    ledger_path = _ledger_path(ledger)
    return _run(base, token, target, upscale, jobs, ledger_path, out_path, echo)


def _refuse_spending(generate: object, resolution: object) -> None:
    if generate is not None:
        raise InputError(
            "calibration never generates a video (a generation spends credits): name an "
            "existing video with upscale=... (a free 1080p upscale), or nothing (read-only)"
        )
    if resolution == _FREE:
        return
    wants_4k = isinstance(resolution, str) and resolution.strip().lower() in (
        "4k",
        "2160p",
        "2160",
        "uhd",
    )
    if wants_4k:
        raise InputError(
            "calibration never spends credits and a 4K upscale costs 50: use resolution "
            "'1080p' (free), or leave it out"
        )
    raise InputError(f"calibration upscales at '1080p' only (free); got resolution {resolution!r}")


def _out_path(out: str | os.PathLike[str] | None) -> Path | None:
    if out is None:
        return None
    path = Path(out).expanduser()
    if path.is_dir():
        return path / DEFAULT_OUT
    if not path.parent.is_dir():
        raise InputError(f"the folder for out={os.fspath(out)!r} does not exist: create it first")
    return path


def _ledger_path(ledger: str | os.PathLike[str] | None) -> Path | None:
    if ledger is not None:
        return Path(ledger).expanduser()
    try:
        from flowup_nb.ledger.paths import default_ledger_path

        return default_ledger_path()
    except Exception:  # best effort: the ledger is only a source of job ids
        return None


def _run(
    base: str,
    token: str,
    target: str,
    upscale: str | None,
    jobs: list[str],
    ledger: Path | None,
    out: Path | None,
    echo: TextIO | bool,
) -> CalibrationReport:
    say = _printer(echo)
    say(
        "Calibration: asking the service (read-only"
        + (", one free 1080p upscale" if upscale else "")
        + ")"
    )
    with Prober(base, token, Redactor(token)) as prober:
        service = run_service(
            prober, upscale=upscale, job_ids=jobs, ledger=ledger, progress=_progress(say, "service")
        )
    for note in service.notes:
        say(f"  ({note})")
    say("Asking the embedded simulator the same calls, in the same situation")
    twin = run_twin(service.answers, _progress(say, "simulator"))
    for answer in (*service.answers, *twin.answers):
        answer.raw = None  # the report keeps shapes only, in memory too
    report = CalibrationReport(
        service=service.answers,
        simulator=twin.answers,
        differences=compare(service.answers, twin.answers),
        simulator_seed=twin.seed,
        target=target,
        notes=service.notes,
    )
    if out is not None:
        out.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        report.path = out
        say(f"Shapes written to {out} (no tokens, cookies, emails, ids, URLs or prompts).")
    say(report.text())
    return report


def _against_sim(
    upscale: str | None, jobs: list[str], out: Path | None, echo: TextIO | bool
) -> CalibrationReport:
    """Calibrate a second simulator (another seed) as if it were the service."""
    import httpx

    from flowup_nb import sim as simulator

    with simulator.start(
        seed=_AGAINST_SIM_SEED, time_scale=0.01, fail_rate=0.0, captcha_acceptance=1.0
    ) as service:
        if not jobs:
            # A job of its own, as a user's ledger would have.
            with httpx.Client(
                base_url=service.base_url,
                headers={"Authorization": f"Bearer {service.token}"},
                timeout=60.0,
            ) as client:
                answer = client.post(
                    "/videos/upscale", json={"mediaGenerationId": service.sample_ids()[0]}
                )
                jobs = [answer.json()["jobId"]]
        if upscale is None:
            upscale = service.sample_ids()[1]
        return _run(service.base_url, service.token, "simulator", upscale, jobs, None, out, echo)


def _printer(echo: TextIO | bool) -> Callable[[str], None]:
    def say(line: str) -> None:
        if echo is True:
            print(line, flush=True)
        elif echo is not False:
            print(line, file=echo, flush=True)

    return say


def _progress(say: Callable[[str], None], side: str) -> Callable[[Answer], None]:
    def show(answer: Answer) -> None:
        say(f"  {side:<9} {answer.call:<32} {answer.status}")

    return show


# -- the command ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upscale",
        metavar="ID",
        help="also upscale this video (its mediaGenerationId) once, sync, at 1080p (free)",
    )
    parser.add_argument(
        "--job",
        metavar="JOB_ID",
        nargs="+",
        action="extend",
        default=[],
        help="job ids to look up (default: the last few in your ledger)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        default=DEFAULT_OUT,
        help=f"the JSON file to write (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--against-sim",
        action="store_true",
        help="calibrate a second simulator instead of the service (no token; expect no diff)",
    )
    parser.add_argument(
        "--ledger", metavar="FILE", help="the ledger to take job ids from (default: yours)"
    )
    parser.add_argument(
        "--resolution",
        default=_FREE,
        help="1080p only: 4K spends credits and is refused",
    )
    parser.add_argument(
        "--generate",
        metavar="PROMPT",
        help="refused: a generation spends credits (listed so that asking says why)",
    )


def run(args: argparse.Namespace) -> int:
    """Exit status as diff(1): 0 no differences, 1 differences, 2 trouble."""
    try:
        report = calibrate(
            upscale=args.upscale,
            job_ids=args.job,
            out=args.out,
            resolution=args.resolution,
            generate=args.generate,
            against_sim=args.against_sim,
            ledger=args.ledger,
        )
    except FlowError as exc:
        print(f"flowup-nb calibrate: {exc}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowup_nb.calibrate", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
