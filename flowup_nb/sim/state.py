"""The simulated service's state: accounts, videos, jobs, the upscale cache, and its clock.

Everything mutable lives here, behind one lock. Jobs carry a plan (when they start, when
they finish, whether they fail); `settle()` applies every step whose time has come, in time
order, charging credits, filling the cache and queueing webhooks. A scheduler thread calls
it when the next step is due, and every request calls it first, so what a client reads is
always up to date even between scheduler ticks.
"""

from __future__ import annotations

import base64
import copy
import logging
import random
import threading
from collections import Counter
from typing import Any

from flowup_nb.sim import errors
from flowup_nb.sim.accounts import (
    DEFAULT_CONCURRENCY,
    GENERATION_MODELS,
    Account,
    default_accounts,
)
from flowup_nb.sim.captcha import CaptchaOutcome
from flowup_nb.sim.clock import SimClock
from flowup_nb.sim.ids import UPSAMPLED_SUFFIX, IdFactory, job_id, media_id
from flowup_nb.sim.load_stats import WINDOW_SECONDS, load_stats
from flowup_nb.sim.media import MediaStore
from flowup_nb.sim.records import Job, Video, media_item, operation_item
from flowup_nb.sim.webhooks import WebhookDispatcher

__all__ = ["SimState"]

log = logging.getLogger(__name__)

SAMPLE_VIDEOS_PER_ACCOUNT = 3
# A guess: the notes' one claim about retention says 7 days, then 410.
JOB_RETENTION_SECONDS = 7 * 86400.0  # service seconds a finished job's record is kept

_FAILURES = (
    (
        "Video upscaling failed",
        "Google returned MEDIA_GENERATION_STATUS_FAILED: Internal error encountered.",
        {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"},
    ),
    (
        "Video upscaling failed",
        "Google returned MEDIA_GENERATION_STATUS_FAILED: The operation was aborted.",
        {"code": 500, "message": "The operation was aborted.", "status": "ABORTED"},
    ),
)


class SimState:
    def __init__(
        self,
        *,
        seed: int | str,
        clock: SimClock,
        media: MediaStore,
        webhooks: WebhookDispatcher,
        fail_rate: float,
        concurrency: dict[str, int] | None = None,
        acceptance: dict[str, float] | None = None,
        bill_every_execution: bool = False,
    ) -> None:
        self.clock = clock
        self.media = media
        self.webhooks = webhooks
        self.fail_rate = fail_rate
        self.concurrency = {**DEFAULT_CONCURRENCY, **(concurrency or {})}
        self.acceptance = acceptance  # per-provider overrides of the captcha acceptance rate
        # Charge every upscale that runs, not only the first per (video, resolution): what a
        # duplicate would cost if the real service charged it.
        self.bill_every_execution = bill_every_execution
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        # Separate streams, so that e.g. a captcha draw never shifts a job's duration.
        self.rng_durations = random.Random(f"{seed}:durations")
        self.rng_captcha = random.Random(f"{seed}:captcha")
        self.rng_outcomes = random.Random(f"{seed}:outcomes")
        self.ids = IdFactory(random.Random(f"{seed}:ids"))
        self.accounts: dict[str, Account] = {a.email: a for a in default_accounts()}
        self.videos: dict[str, Video] = {}  # source videos, by mediaGenerationId
        self.samples: dict[str, list[str]] = {email: [] for email in self.accounts}
        self.outputs: dict[tuple[str, str], Video] = {}  # the upscale cache
        self.jobs: dict[str, Job] = {}
        self.active: list[Job] = []
        self.reserved: Counter[str] = Counter()  # slots held while a captcha is solved
        self._seq = 0
        self._last_job_ms = 0
        self.stopping = False
        self.counters: dict[str, Any] = {
            "requests": Counter(),
            "responses": Counter(),
            "jobs_created": 0,
            "upscale_submissions": 0,
            "generations": 0,
            "cache_hits": 0,
            "credits_charged": Counter(),
            "captcha_attempts": {},
            "media_requests": 0,
            "media_requests_with_authorization": 0,
            "media_bytes_sent": 0,
        }
        for account in self.accounts.values():
            for _ in range(SAMPLE_VIDEOS_PER_ACCOUNT if account.paid else 1):
                self.samples[account.email].append(
                    self.new_source_video(account.email).media_generation_id
                )

    # -- videos ------------------------------------------------------------------------
    def new_source_video(
        self,
        email: str,
        *,
        model: str = "veo_3_1_t2v_fast",
        aspect: str = "landscape",
        prompt: str | None = "A serene mountain landscape at sunset",
        seed: int | None = None,
    ) -> Video:
        with self.lock:
            account = self.accounts.get(email)
            if account is None:
                raise KeyError(
                    f"no simulated account {email!r}; use one of {', '.join(self.accounts)}"
                )
            name = self.ids.uuid()
            video = Video(
                media_generation_id=media_id(account.user_id, email, name),
                name=name,
                email=email,
                variant="source",
                model=model,
                aspect=aspect,
                created=self.clock.now(),
                project_id=self.ids.uuid(),
                workflow_id=self.ids.uuid(),
                seed=self.rng_outcomes.randrange(100000) if seed is None else seed,
                prompt=prompt,
            )
            self._publish(video, name)
            self.videos[video.media_generation_id] = video
            return video

    def _publish(self, video: Video, object_name: str) -> None:
        self.media.add_video(object_name, video.variant)
        video.video_url = self.media.url(f"/video/{object_name}")
        video.thumbnail_url = self.media.url(f"/image/{object_name}")

    def _upscaled_video(self, job: Job, source: Video) -> Video:
        name = source.name + UPSAMPLED_SUFFIX
        video = Video(
            media_generation_id=job.source_id + UPSAMPLED_SUFFIX,  # type: ignore[operator]
            name=name,
            email=source.email,
            variant=job.resolution,  # type: ignore[arg-type]
            model=Video.upsampler_model(job.resolution),  # type: ignore[arg-type]
            aspect=source.aspect,
            created=job.finish_at,
            project_id=source.project_id,
            workflow_id=source.workflow_id,
            source_id=source.media_generation_id,
        )
        # Both resolutions share the id; the 4K object gets its own path on the media host.
        self._publish(video, name if job.resolution == "1080p" else f"{name}_4k")
        return video

    # -- jobs --------------------------------------------------------------------------
    def next_job_id(self, account: Account) -> str:
        ms = max(int(self.clock.now() * 1000), self._last_job_ms + 1)
        self._last_job_ms = ms
        return job_id(ms, account.user_id, account.email)

    def add_job(self, job: Job) -> None:
        """Store a job planned by a route, queue its `created` webhook, wake the scheduler."""
        self.jobs[job.job_id] = job
        job.updated = job.created
        if not job.terminal:
            self.active.append(job)
        self.counters["jobs_created"] += 1
        self._notify(job)
        self.changed.notify_all()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def executing(self, email: str) -> int:
        return (
            sum(1 for j in self.active if j.email == email and j.executing) + self.reserved[email]
        )

    def settle(self) -> None:
        """Apply every planned step that is due, in time order."""
        now = self.clock.now()
        due: list[tuple[float, int, int, Job]] = []
        for job in self.active:
            if job.status == "created" and job.start_at <= now:
                due.append((job.start_at, job.seq, 0, job))
            if job.finish_at <= now:
                due.append((job.finish_at, job.seq, 1, job))
        if not due:
            return
        due.sort(key=lambda d: d[:3])
        for at, _seq, step, job in due:
            if step == 0:
                job.status, job.updated = "started", at
                self._notify(job)
            else:
                self._finish(job, at)
        self.active = [j for j in self.active if not j.terminal]
        self.changed.notify_all()

    def next_due(self) -> float | None:
        times = [j.start_at if j.status == "created" else j.finish_at for j in self.active]
        return min(times) if times else None

    def _finish(self, job: Job, at: float) -> None:
        if job.status == "created":  # both steps due at once: started comes first
            job.status, job.updated = "started", at
            self._notify(job)
        account = self.accounts[job.email]
        account.held -= job.hold
        if job.will_fail:
            self._fail(job, account, at)
        elif job.kind == "upscale":
            self._complete_upscale(job, account)
        else:
            self._complete_generation(job, account, at)
        job.updated = at
        self._notify(job)

    def _fail(self, job: Job, account: Account, at: float) -> None:
        error, details, google = _FAILURES[self.rng_outcomes.randrange(len(_FAILURES))]
        if job.kind == "generate":
            error = "Video generation failed"
        job.status, job.error, job.error_details, job.code = "failed", error, details, 500
        job.response = {"captcha": job.captcha.full(), "error": dict(google)}
        account.events.append((at, "failed"))

    def _charge(self, job: Job, account: Account, amount: int) -> None:
        account.credits -= amount
        job.charged = amount
        self.counters["credits_charged"][account.email] += amount

    def _complete_upscale(self, job: Job, account: Account) -> None:
        key = (job.source_id, job.resolution)
        if job.cached:
            job.response = self.cached_body(job, account)
        else:
            video = self.outputs.get(key)  # type: ignore[arg-type]
            if video is None:
                video = self._upscaled_video(job, self.videos[job.source_id])  # type: ignore[index]
                self.outputs[key] = video  # type: ignore[index]
                self._charge(job, account, job.cost)
            elif self.bill_every_execution:
                self._charge(job, account, job.cost)
            # else a twin finished first: that one paid, this one is free.
            job.response = {
                "jobId": job.job_id,
                "operations": [operation_item(video)],
                "media": [media_item(video)],
                "remainingCredits": account.credits,
                "captcha": job.captcha.full(),
            }
        job.status = "completed"

    def cached_body(self, job: Job, account: Account) -> dict[str, Any]:
        raw = self.media.video_bytes(job.resolution)  # type: ignore[arg-type]
        return {
            "jobId": job.job_id,
            "operations": [
                {
                    "mediaGenerationId": job.source_id + UPSAMPLED_SUFFIX,  # type: ignore[operator]
                    "rawBytes": base64.b64encode(raw).decode("ascii"),
                    "status": "MEDIA_GENERATION_STATUS_SUCCESSFUL",
                }
            ],
            "remainingCredits": account.credits,
            "captcha": job.captcha.full(),
        }

    def _complete_generation(self, job: Job, account: Account, at: float) -> None:
        model = GENERATION_MODELS[job.model]  # type: ignore[index]
        videos = []
        for i in range(job.count):
            v = self.new_source_video(
                account.email,
                model=model.key,
                aspect=job.aspect,
                prompt=job.prompt,
                seed=job.seed + i,
            )
            v.created = at
            videos.append(v)
        self._charge(job, account, job.cost)
        job.response = {
            "jobId": job.job_id,
            "operations": [operation_item(v) for v in videos],
            "media": [media_item(v) for v in videos],
            "remainingCredits": account.credits,
            "captcha": job.captcha.full(),
        }
        job.status = "completed"

    def _notify(self, job: Job) -> None:
        if job.reply_url:
            self.webhooks.enqueue(job.reply_url, job.record())

    def wait_terminal(self, job: Job) -> None:
        """Block (releasing the lock) until `job` completes or fails."""
        with self.lock:
            while True:
                self.settle()
                if job.terminal:
                    return
                self._wait_until(job.start_at if job.status == "created" else job.finish_at)

    def wait_until(self, t: float) -> None:
        """Block until the simulated clock reaches `t` (advance() shortens the wait)."""
        with self.lock:
            while self.clock.now() < t:
                self.settle()
                self._wait_until(t)

    def _wait_until(self, t: float) -> None:
        if self.stopping:
            raise errors.service_unavailable()
        self.changed.wait(max(0.0, min(t - self.clock.now(), 1.0)))

    # -- captcha bookkeeping -----------------------------------------------------------
    def count_captcha(self, outcome: CaptchaOutcome) -> None:
        table = self.counters["captcha_attempts"]
        for attempt in outcome.attempts:
            row = table.setdefault(attempt.service, {"attempts": 0, "successes": 0})
            row["attempts"] += 1
            row["successes"] += int(attempt.success)

    # -- quarantine and load balancing -------------------------------------------------
    def quarantine(self, account: Account, reason: str, cooldown: float, scope: str = "*") -> None:
        account.quarantine[scope] = (self.clock.now() + cooldown, reason)
        account.events.append((self.clock.now(), "rate_limited"))

    def quarantined(self, account: Account, model: str | None = None) -> tuple[float, str] | None:
        """(remaining cooldown, reason) when the account may not take this request."""
        now = self.clock.now()
        for scope in ("*", model):
            entry = account.quarantine.get(scope) if scope else None
            if entry and entry[0] > now:
                return entry[0] - now, entry[1]
        return None

    def window_start(self) -> float:
        """Where the last 15 service minutes begin: the balancer's memory, the statistics'."""
        return self.clock.now() - self.clock.kept_for(WINDOW_SECONDS)

    def score(self, account: Account) -> float:
        since = self.window_start()
        recent = [kind for t, kind in account.events if t >= since]
        return (
            self.executing(account.email)
            + 10 * recent.count("failed")
            + 20 * recent.count("rate_limited")
        )

    # -- registry ----------------------------------------------------------------------
    def expired(self, job: Job) -> bool:
        """A finished job's record leaves the registry once the retention has passed."""
        retention = self.clock.kept_for(JOB_RETENTION_SECONDS)
        return job.terminal and self.clock.now() >= job.updated + retention

    def load_stats(self, option: str) -> dict[str, Any]:
        with self.lock:
            self.settle()
            return load_stats(
                (j for j in self.jobs.values() if not self.expired(j)),
                self.accounts.values(),
                now=self.clock.now(),
                since=self.window_start(),
                option=option,
                time_scale=self.clock.time_scale,
            )

    def set_health(self, email: str, health: str) -> None:
        if not isinstance(health, str) or not health.strip():
            raise ValueError(f'health is "OK" or the error text the service shows (got {health!r})')
        with self.lock:
            account = self.accounts.get(email)
            if account is None:
                raise KeyError(
                    f"no simulated account {email!r}; use one of {', '.join(self.accounts)}"
                )
            account.health = health

    # -- ground truth ------------------------------------------------------------------
    def executions(self) -> dict[tuple[str, str], int]:
        """Upscales that ran in full (completed, not cached), per (source id, resolution)."""
        with self.lock:
            self.settle()
            return dict(
                Counter(
                    (j.source_id, j.resolution)  # type: ignore[misc]
                    for j in self.jobs.values()
                    if j.kind == "upscale" and not j.cached and j.status == "completed"
                )
            )

    def stats(self) -> dict[str, Any]:
        with self.lock:
            self.settle()
            out = copy.deepcopy(self.counters)
            out["requests"] = dict(out["requests"])
            out["responses"] = dict(out["responses"])
            out["credits_charged"] = dict(out["credits_charged"])
            out["jobs_active"] = len(self.active)
            out["jobs_by_status"] = dict(Counter(j.status for j in self.jobs.values()))
        return out

    def job_records(self) -> list[dict[str, Any]]:
        with self.lock:
            self.settle()
            return [j.record() for j in self.jobs.values()]

    def account_list(self) -> list[dict[str, Any]]:
        with self.lock:
            self.settle()
            return [a.public() for a in self.accounts.values()]

    def sample_ids(self, email: str | None) -> list[str]:
        with self.lock:
            if email is None:
                return [i for e, ids in self.samples.items() if self.accounts[e].paid for i in ids]
            if email not in self.accounts:
                raise KeyError(
                    f"no simulated account {email!r}; use one of {', '.join(self.accounts)}"
                )
            return list(self.samples[email])
