"""``fu.sim.history()``: a month of ledger history, made by real upscales on the simulator.

Nothing here writes a row: the real client sends real requests to the embedded simulator,
and its ledger records each exchange, as it would for a user. What this module adds is the
calendar: bursts of work at working hours across ``days`` virtual days, with the
simulator's clock (which the client reads, see ``connect(simulator=...)``) moved forward
between bursts by ``advance()``. The simulator's real failures come with it: failed jobs,
captcha rejections, throttles, and a modest fault profile (dropped connections, 503s,
429s, truncated answers). Every row is tagged ``simulated``.

It lives in the composition root because it drives the client, the ledger and the
simulator together; ``flowup_nb.sim.history`` is a lazy door to it (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flowup_nb.api.client import AsyncFlowClient
from flowup_nb.api.errors import FlowError, InputError
from flowup_nb.connecting import simulator_settings
from flowup_nb.ledger import Ledger
from flowup_nb.runloop import run_sync

if TYPE_CHECKING:
    from flowup_nb.sim.handle import SimHandle

__all__ = ["HISTORY_TAG", "history"]

HISTORY_TAG = "simulated"
DAY = 86_400.0
# Who works, and how much: the simulator's paid accounts (docs/simulator.md). The free
# account has no credits and no videos of its own, so a user would not use it here.
_ACCOUNTS: tuple[tuple[str, float], ...] = (
    ("jo.ultra@example.com", 0.5),
    ("sam.ultra@example.com", 0.3),
    ("pat.pro@example.com", 0.2),
)
_ULTRA = frozenset({"jo.ultra@example.com", "sam.ultra@example.com"})
# At this scale a 1080p upscale takes a few tenths of a second of wall time, so a month of
# bursts runs in well under a minute on a laptop (docs/simulator.md has the figure).
_TIME_SCALE = 0.002
_FAULT_RATE = 0.03
_FAIL_RATE = 0.03


@dataclass(frozen=True, slots=True)
class _Job:
    account: str
    resolution: str
    asynchronous: bool
    repeat: bool  # ask again for a video upscaled before: the server's free cached hit


def history(
    days: int = 30,
    *,
    path: str | os.PathLike[str] | None = None,
    jobs_per_day: int = 6,
    seed: int = 7,
    fault_rate: float = _FAULT_RATE,
    simulator: SimHandle | None = None,
    replace: bool = False,
) -> Ledger:
    """Run ``days`` virtual days of upscales on the simulator and return their ledger.

    About ``jobs_per_day`` upscales a working day (fewer at weekends), in one to three
    bursts at working hours, over three accounts: sync and async jobs, 1080p and 4K (4K
    on the Ultra accounts), a few repeats of earlier videos. ``path``: the ledger file to
    create (default: a fresh ``history.sqlite`` in a new temporary folder, shown by the
    returned ledger's ``path``); an existing ledger file is refused unless ``replace``.
    ``seed`` makes the calendar and the simulator repeatable. ``fault_rate``: the share of
    requests the simulator answers with a random fault (0 for none).

    Without ``simulator`` a private one is started with its clock set ``days`` ago, so the
    history ends about now, and stopped at the end. With one, the history starts at its
    clock's current time and moves it ``days`` ahead; its fault profile is set for the run
    and cleared after.
    """
    _check(days, jobs_per_day, fault_rate)
    target = _target(path, replace)
    start = _midnight(time.time() - days * DAY)
    own = simulator is None
    if simulator is None:
        # From its module, not the package: the package's history() door leads here.
        from flowup_nb.sim.handle import SimHandle

        simulator = SimHandle(
            seed=seed, time_scale=_TIME_SCALE, fail_rate=_FAIL_RATE, start_at=start
        )
    else:
        start = _midnight(simulator.now())
        if start < simulator.now():
            start += DAY
    ledger = Ledger(target)
    try:
        if fault_rate:
            simulator.set_fault_profile(rate=fault_rate, seed=seed)
        run_sync(_run(simulator, ledger, _calendar(days, jobs_per_day, seed, start)))
    except BaseException:
        ledger.close()
        raise
    finally:
        if own:
            simulator.stop()
        else:
            simulator.clear_faults()
    return ledger


def _check(days: object, jobs_per_day: object, fault_rate: object) -> None:
    for name, value in (("days", days), ("jobs_per_day", jobs_per_day)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a whole number >= 1, e.g. 30 (got {value!r})")
    if isinstance(fault_rate, bool) or not isinstance(fault_rate, int | float):
        raise InputError(f"fault_rate must be a number from 0 to 0.5 (got {fault_rate!r})")
    if not 0 <= fault_rate <= 0.5:
        raise InputError(f"fault_rate must be from 0 to 0.5, e.g. 0.03 (got {fault_rate!r})")


def _target(path: str | os.PathLike[str] | None, replace: bool) -> Path:
    if path is None:
        return Path(tempfile.mkdtemp(prefix="flowup-history-")) / "history.sqlite"
    target = Path(path).expanduser()
    if target.exists():
        if not replace:
            raise InputError(
                f"{target} exists: pass replace=True to make a new history there, or "
                f"another path (a history is never mixed into an existing ledger)"
            )
        for stale in (target, *target.parent.glob(target.name + "*")):
            stale.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _midnight(epoch: float) -> float:
    return epoch - epoch % DAY


def _calendar(
    days: int, jobs_per_day: int, seed: int, start: float
) -> list[tuple[float, list[_Job]]]:
    """(when, jobs) bursts, in time order: the same for the same arguments."""
    rng = random.Random(seed)
    accounts, weights = zip(*_ACCOUNTS, strict=True)
    bursts: list[tuple[float, list[_Job]]] = []
    for day in range(days):
        weekend = (int((start + day * DAY) // DAY) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        count = max(1, round(rng.gauss(jobs_per_day * (0.3 if weekend else 1.0), 1.5)))
        sizes = _split(count, rng.randint(1, 3), rng)
        hours = sorted(rng.uniform(8.0, 21.0) for _ in sizes)
        for hour, size in zip(hours, sizes, strict=True):
            jobs = []
            for _ in range(size):
                account = rng.choices(accounts, weights)[0]
                four_k = account in _ULTRA and rng.random() < 0.3
                jobs.append(
                    _Job(
                        account=account,
                        resolution="4K" if four_k else "1080p",
                        asynchronous=rng.random() < 0.5,
                        repeat=rng.random() < 0.1,
                    )
                )
            bursts.append((start + day * DAY + hour * 3600.0, jobs))
    return bursts


def _split(count: int, parts: int, rng: random.Random) -> list[int]:
    parts = min(parts, count)
    cuts = sorted(rng.sample(range(1, count), parts - 1)) if parts > 1 else []
    return [b - a for a, b in zip([0, *cuts], [*cuts, count], strict=True)]


async def _run(
    simulator: SimHandle, ledger: Ledger, bursts: list[tuple[float, list[_Job]]]
) -> None:
    settings = simulator_settings(simulator)
    async with AsyncFlowClient(ledger=ledger, tags=(HISTORY_TAG,), **settings) as client:
        done: dict[tuple[str, str], list[str]] = {}
        for when, jobs in bursts:
            ahead = when - simulator.now()
            if ahead > 0:
                simulator.advance(ahead)
            # One job at a time per account: a user's habit, and under every tier's limit
            # (the simulator's own throttles still come, from its fault profile).
            locks = {account: asyncio.Lock() for account, _ in _ACCOUNTS}
            await asyncio.gather(
                *(_one(client, simulator, job, locks[job.account], done) for job in jobs)
            )


async def _one(
    client: AsyncFlowClient,
    simulator: SimHandle,
    job: _Job,
    lock: asyncio.Lock,
    done: dict[tuple[str, str], list[str]],
) -> None:
    earlier = done.get((job.account, job.resolution), [])
    video = earlier[-1] if job.repeat and earlier else simulator.new_video_id(job.account)
    async with lock:
        try:
            if job.asynchronous:
                submitted = await client.submit_upscale(video, job.resolution)
                await client.wait(submitted, timeout=60.0)
            else:
                await client.upscale(video, job.resolution)
        except FlowError:
            return  # the ledger has the failure: that is part of the history
    done.setdefault((job.account, job.resolution), []).append(video)
