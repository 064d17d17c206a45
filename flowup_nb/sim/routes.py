"""What each API route does: validation, account rules, captcha, jobs, answers.

Each handler takes the parsed body (or path parameter) and returns ``(status, body,
headers)``, or raises SimError with a documented error. HTTP plumbing lives in server.py.
"""

from __future__ import annotations

import time
from typing import Any

from flowup_nb.sim import errors
from flowup_nb.sim.accounts import GENERATION_MODELS, PAYGATE_TIER, UPSCALE_COST, Account
from flowup_nb.sim.bodies import as_bool, as_int, optional_str, reply_params
from flowup_nb.sim.captcha import CaptchaOutcome, check_captcha_params, plan_captcha, solve
from flowup_nb.sim.clock import iso
from flowup_nb.sim.ids import JOB_ID_PATTERN, parse_media_id
from flowup_nb.sim.load_stats import parse_options
from flowup_nb.sim.records import Job, Video
from flowup_nb.sim.state import SimState

__all__ = ["Reply", "Routes"]

Reply = tuple[int, dict[str, Any], dict[str, str]]

SYNC_TIMEOUT = 600.0  # service seconds a sync request waits before its 408
QUEUE_SECONDS = (0.5, 2.0)  # time a job spends in "created" (a guess)
UPSCALE_SECONDS = {"1080p": (30.0, 60.0), "4K": (120.0, 300.0)}
SLOW_JOB_SECONDS = 20 * 60.0
CACHED_ASYNC_SECONDS = (0.5, 1.0)  # queue, run: an async cached repeat still shows its states

_FREE_TIER = "Video upscaling requires a paid Google AI subscription or remaining credits"
_ID_HINT = (
    "expected user:<userId>-email:<hex email>-video:<id>, "
    "as POST /videos returns in media[].mediaGenerationId"
)
_ASPECTS = ("landscape", "portrait")


def _echo(body: dict[str, Any], fields: tuple[str, ...], **filled: Any) -> dict[str, Any]:
    """The request as the job record echoes it: known fields only, captchaToken masked."""
    out = {k: body[k] for k in fields if body.get(k) is not None}
    out.update(filled)
    if "captchaToken" in out:
        out["captchaToken"] = str(out["captchaToken"])[:6] + "..."
    return out


_UPSCALE_FIELDS = (
    "async", "mediaGenerationId", "resolution", "email", "replyUrl", "replyRef",
    "captchaToken", "captchaRetry", "captchaOrder",
)  # fmt: skip
_GENERATE_FIELDS = (
    "async", "prompt", "model", "aspectRatio", "count", "seed", "email", "replyUrl", "replyRef",
    "captchaToken", "captchaRetry", "captchaOrder",
)  # fmt: skip


def _or_default(value: Any, default: str) -> Any:
    """A field left out (or sent empty) takes its default; any other value is checked."""
    return default if value is None or value == "" else value


class Routes:
    def __init__(self, state: SimState) -> None:
        self.state = state

    # -- POST /videos/upscale ----------------------------------------------------------
    def upscale(self, body: dict[str, Any], job_fault: str | None = None) -> Reply:
        st = self.state
        source_id = body.get("mediaGenerationId")
        if source_id is None or source_id == "":
            raise errors.bad_request("mediaGenerationId is required; " + _ID_HINT)
        if not isinstance(source_id, str):
            raise errors.bad_request(f"mediaGenerationId must be a string; {_ID_HINT}")
        ref = parse_media_id(source_id)
        if ref is None:
            raise errors.bad_request(f"mediaGenerationId {source_id!r} is not valid; {_ID_HINT}")
        if ref.kind != "video":
            raise errors.bad_request(
                "mediaGenerationId names an image; only videos can be upscaled"
            )
        resolution = body.get("resolution")
        if resolution is None or resolution == "":
            resolution = "1080p"
        if not isinstance(resolution, str) or resolution not in UPSCALE_COST:
            raise errors.bad_request(f'resolution must be "1080p" or "4K" (got {resolution!r})')
        is_async = as_bool(body.get("async"), "async")
        reply_url, _reply_ref = reply_params(body)
        check_captcha_params(body)
        self._check_email(body, ref.email)
        if ref.upsampled:
            raise errors.bad_request(
                f"mediaGenerationId {source_id!r} is already an upscaled video; "
                "upscale its source (the id without _upsampled)"
            )
        upsampler = Video.upsampler_model(resolution)
        with st.lock:
            st.settle()
            st.counters["upscale_submissions"] += 1
            account = st.accounts.get(ref.email)
            if account is None:
                raise errors.account_not_found(ref.email)
            self._check_health(account)
            source = st.videos.get(source_id)
            if source is None or source.email != account.email or ref.user_id != account.user_id:
                raise errors.video_not_found(source_id)
            if not account.paid:
                raise errors.payment_required(_FREE_TIER)
            if resolution == "4K" and account.tier != "ultra":
                raise errors.bad_request(
                    f"4K upscaling requires a Google AI Ultra subscription and account "
                    f"{account.email} is {account.tier}: use resolution 1080p, "
                    "or a video from an Ultra account"
                )
            self._check_quarantine(account, upsampler)
            plan = plan_captcha(body, account.email, account.providers)
            cached = (source_id, resolution) in st.outputs
            cost = 0 if cached else UPSCALE_COST[resolution]
            if cost > account.available:
                raise errors.payment_required(
                    f"Not enough credits: 4K upscaling costs {cost} credits and account "
                    f"{account.email} has {account.available} available; add credits, "
                    "or upscale to 1080p (free)"
                )
            if not cached:
                self._check_concurrency(account)
            self._reserve(account, hold=cost, reserve=not cached)
        outcome = self._solve_captcha(account, plan, hold=cost, reserve=not cached)
        with st.lock:
            st.settle()
            # The cache may have filled while the captcha was solved.
            was_cached = cached
            cached = cached or (source_id, resolution) in st.outputs
            now = st.clock.now()
            if cached:
                queue, run = CACHED_ASYNC_SECONDS if is_async else (0.0, 0.0)
            else:
                queue = st.rng_durations.uniform(*QUEUE_SECONDS)
                run = st.rng_durations.uniform(*UPSCALE_SECONDS[resolution])
                if job_fault == "slow_job":
                    run = SLOW_JOB_SECONDS
            fails = st.rng_outcomes.random() < st.fail_rate or job_fault == "job_fail"
            job = Job(
                job_id=st.next_job_id(account),
                kind="upscale",
                email=account.email,
                request=_echo(body, _UPSCALE_FIELDS, resolution=resolution, **{"async": is_async}),
                created=now,
                start_at=now + st.clock.scaled(queue),
                finish_at=now + st.clock.scaled(queue + run),
                service_seconds=queue + run,
                captcha=outcome,
                seq=st.next_seq(),
                will_fail=fails and not cached,
                cached=cached,
                reply_url=reply_url,
                hold=cost if not cached else 0,
                cost=cost if not cached else 0,
                source_id=source_id,
                resolution=resolution,
            )
            # The job takes over the held credits and the slot (a cached repeat needs neither).
            self._release(account, hold=cost if cached else 0, reserve=not was_cached)
            if cached:
                st.counters["cache_hits"] += 1
            job.response = {"captcha": outcome.summary()}
            st.add_job(job)
        return self._answer(job, is_async)

    # -- POST /videos ------------------------------------------------------------------
    def generate(self, body: dict[str, Any], job_fault: str | None = None) -> Reply:
        st = self.state
        prompt = optional_str(body, "prompt", max_len=10000)
        if prompt is None or not prompt.strip():
            raise errors.bad_request("prompt is required: describe the video to generate")
        model_name = _or_default(body.get("model"), "veo-3.1-fast")
        model = GENERATION_MODELS.get(model_name) if isinstance(model_name, str) else None
        if model is None:
            raise errors.bad_request(
                f"model must be one of {', '.join(GENERATION_MODELS)} (got {model_name!r})"
            )
        aspect = _or_default(body.get("aspectRatio"), "landscape")
        if not isinstance(aspect, str) or aspect not in _ASPECTS:
            raise errors.bad_request(
                f'aspectRatio must be "landscape" or "portrait" (got {aspect!r})'
            )
        count = as_int(body.get("count"), "count", 1, 4, 1)
        seed = as_int(body.get("seed"), "seed", 0, 2**31 - 1, 0)
        is_async = as_bool(body.get("async"), "async")
        reply_url, _reply_ref = reply_params(body)
        check_captcha_params(body)
        email = optional_str(body, "email", max_len=320)
        with st.lock:
            st.settle()
            st.counters["generations"] += 1
            if email is not None:
                account = st.accounts.get(email)
                if account is None:
                    raise errors.account_not_found(email)
                self._check_health(account)
                if not account.paid:
                    raise errors.payment_required(
                        "Video generation requires a paid Google AI subscription"
                    )
                self._check_quarantine(account, model.key)
            else:
                account = self._balance(model.key, lambda a: model.cost_for(a.tier) * count)
            cost = model.cost_for(account.tier) * count
            if cost > account.available:
                raise errors.payment_required(
                    f"Not enough credits: {count} x {model.name} costs {cost} credits and account "
                    f"{account.email} has {account.available} available"
                )
            plan = plan_captcha(body, account.email, account.providers)
            self._check_concurrency(account)
            self._reserve(account, hold=cost, reserve=True)
        outcome = self._solve_captcha(account, plan, hold=cost, reserve=True)
        with st.lock:
            st.settle()
            now = st.clock.now()
            queue = st.rng_durations.uniform(*QUEUE_SECONDS)
            run = st.rng_durations.uniform(*model.run_seconds)
            if job_fault == "slow_job":
                run = SLOW_JOB_SECONDS
            fails = st.rng_outcomes.random() < st.fail_rate or job_fault == "job_fail"
            job = Job(
                job_id=st.next_job_id(account),
                kind="generate",
                email=account.email,
                request=_echo(body, _GENERATE_FIELDS, model=model.name, **{"async": is_async}),
                created=now,
                start_at=now + st.clock.scaled(queue),
                finish_at=now + st.clock.scaled(queue + run),
                service_seconds=queue + run,
                captcha=outcome,
                seq=st.next_seq(),
                will_fail=fails,
                reply_url=reply_url,
                hold=cost,
                cost=cost,
                model=model.name,
                count=count,
                aspect=aspect,
                prompt=prompt,
                seed=seed,
            )
            self._release(account, hold=0, reserve=True)  # the job now holds the slot
            job.response = {"captcha": outcome.summary()}
            st.add_job(job)
        return self._answer(job, is_async)

    # -- GET /jobs/{jobId} -------------------------------------------------------------
    def get_job(self, raw_id: str) -> Reply:
        if "%" in raw_id or not JOB_ID_PATTERN.match(raw_id):
            raise errors.bad_request(
                "Invalid job ID format: send the jobId exactly as returned "
                "(raw, not percent-encoded), e.g. "
                "j1737312345678v-u12345-email:jo@example.com-bot:google-flow"
            )
        with self.state.lock:
            self.state.settle()
            job = self.state.jobs.get(raw_id)
            if job is None:
                raise errors.job_not_found(raw_id)
            if self.state.expired(job):
                raise errors.job_expired(raw_id)
            return 200, job.record(), {}

    # -- GET /jobs?options= ------------------------------------------------------------
    def job_stats(self, options: list[str] | None) -> Reply:
        return 200, self.state.load_stats(parse_options(options)), {}

    # -- GET /accounts, /accounts/{email} ----------------------------------------------
    def get_account(self, email: str) -> Reply:
        st = self.state
        with st.lock:
            st.settle()
            account = st.accounts.get(email)
            if account is None:
                raise errors.account_not_found(email)
            now = st.clock.now()
            body = {
                "created": iso(now - 30 * 86400),
                "sessionData": {
                    "user": {"name": account.email.split("@")[0], "email": account.email},
                    "expires": iso(now + 3600),
                },
                "project": {
                    "projectId": f"sim-project-{account.user_id}",
                    "projectTitle": "Flow simulator",
                },
                "nextRefresh": {"scheduledFor": iso(now + 3000)},
                "health": account.health,
            }
            if account.healthy:  # a broken session can tell neither credits nor models
                body["credits"] = {
                    "credits": account.credits,
                    "userPaygateTier": PAYGATE_TIER[account.tier],
                }
                body["models"] = {
                    "videoModels": [
                        {
                            "key": m.key,
                            "displayName": m.display_name,
                            "creditCost": m.cost_for(account.tier),
                            "paygateTier": PAYGATE_TIER["pro"],
                        }
                        for m in GENERATION_MODELS.values()
                    ]
                }
            return 200, body, {}

    def list_accounts(self) -> Reply:
        st = self.state
        with st.lock:
            now = st.clock.now()
            body = {
                a.email: {
                    "created": iso(now - 30 * 86400),
                    "health": a.health,
                    "project": {
                        "projectId": f"sim-project-{a.user_id}",
                        "projectTitle": "Flow simulator",
                    },
                }
                for a in st.accounts.values()
            }
            return 200, body, {}

    # -- shared steps ------------------------------------------------------------------
    @staticmethod
    def _check_email(body: dict[str, Any], referenced: str) -> None:
        email = body.get("email")
        if email is None:
            return
        if not isinstance(email, str):
            raise errors.bad_request("email must be a string")
        if email != referenced:
            raise errors.bad_request(
                f"Email mismatch: body has '{email}', references have '{referenced}'"
            )

    @staticmethod
    def _check_health(account: Account) -> None:
        if not account.healthy:
            raise errors.account_reconnect(account.email, account.health)

    def _check_quarantine(self, account: Account, model: str) -> None:
        hit = self.state.quarantined(account, model)
        if hit is not None:
            remaining, reason = hit
            raise errors.rate_limited(reason, remaining, self.state.clock.now())

    def _check_concurrency(self, account: Account) -> None:
        """One job too many throttles the account and quarantines it (lock held)."""
        st = self.state
        if st.executing(account.email) >= st.concurrency[account.tier]:
            cooldown = st.clock.scaled(errors.COOLDOWN_SECONDS[errors.REASON_THROTTLED])
            st.quarantine(account, errors.REASON_THROTTLED, cooldown)
            raise errors.rate_limited(errors.REASON_THROTTLED, cooldown, st.clock.now())

    def _balance(self, model: str, price: Any) -> Account:
        """The load balancer: lowest score among accounts that can take the job (lock held)."""
        st = self.state
        candidates: list[Account] = []
        skipped: list[dict[str, str]] = []
        waits: list[float] = []
        unhealthy: list[Account] = []
        for account in st.accounts.values():
            if not account.paid or account.available < price(account):
                continue
            if not account.healthy:
                unhealthy.append(account)
                skipped.append({"email": account.email, "reason": account.health, "model": model})
                continue
            hit = st.quarantined(account, model)
            if hit is not None:
                waits.append(hit[0])
                skipped.append({"email": account.email, "reason": hit[1], "model": model})
            else:
                candidates.append(account)
        if not candidates:
            if waits:
                raise errors.no_eligible_account(min(waits), st.clock.now(), skipped, model)
            if unhealthy:
                raise errors.account_reconnect(unhealthy[0].email, unhealthy[0].health)
            raise errors.payment_required("No account has the credits for this generation")
        return min(candidates, key=st.score)  # min() keeps table order on ties

    def _reserve(self, account: Account, *, hold: int, reserve: bool) -> None:
        """Hold the credits and a concurrency slot while the captcha is solved (lock held),
        in the same critical section as the checks, so parallel requests cannot overbook."""
        account.held += hold
        if reserve:
            self.state.reserved[account.email] += 1

    def _solve_captcha(
        self, account: Account, plan: Any, *, hold: int, reserve: bool
    ) -> CaptchaOutcome:
        """Solve before the job exists. On failure release what `_reserve` took; on success
        the caller hands the slot and credits over to the job it creates."""
        st = self.state
        with st.lock:
            outcome = solve(
                plan, st.rng_captcha, st.clock.time_scale, st.ids.uuid, acceptance=st.acceptance
            )
            st.count_captcha(outcome)
        ok = False
        try:
            if outcome.total_ms > 0:
                time.sleep(outcome.total_ms / 1000)
            ok = outcome.success
        finally:
            if not ok:
                with st.lock:
                    self._release(account, hold=hold, reserve=reserve)
        if not outcome.success:
            raise errors.captcha_rejected(len(outcome.attempts), outcome.full())
        return outcome

    def _release(self, account: Account, *, hold: int, reserve: bool) -> None:
        account.held -= hold
        if reserve:
            self.state.reserved[account.email] -= 1

    def _answer(self, job: Job, is_async: bool) -> Reply:
        st = self.state
        if is_async:
            with st.lock:
                record = job.record()
                # The 201 is the record as created, whatever happened since.
                record.update(status="created", updated=iso(job.created))
                record["response"] = {"captcha": job.captcha.summary()}
                (
                    record.pop("error", None),
                    record.pop("errorDetails", None),
                    record.pop("code", None),
                )
            return 201, record, {}
        if job.service_seconds > SYNC_TIMEOUT:
            st.wait_until(job.created + st.clock.scaled(SYNC_TIMEOUT))
            raise errors.polling_timeout(job.job_id)
        st.wait_terminal(job)
        with st.lock:
            if job.status == "failed":
                raise errors.job_failed(
                    job.job_id, job.error or "", job.error_details or "", job.response["error"]
                )
            return 200, dict(job.response), {}
