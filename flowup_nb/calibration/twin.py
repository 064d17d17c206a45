"""The simulator's side: the same calls, asked of a fresh embedded simulator put in the
situation the service was in.

For every answer the service gave, the twin run makes the matching call: an account that
was not healthy is mirrored by an unhealthy simulated account; a job record is mirrored
by a simulated job in the same state (completed, failed, running, a cached repeat,
expired: 410, never issued: 404) whose request echoes the same fields; an error status
the simulator can produce is scripted as its documented fault just before the call. A
status it cannot produce is left to show up as a status difference.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowup_nb import sim as simulator
from flowup_nb.calibration.probe import (
    ACCOUNT,
    ACCOUNTS,
    JOB,
    STATS,
    UPSCALE,
    Answer,
    CalibrationError,
    Call,
    Prober,
)
from flowup_nb.calibration.redact import Redactor

__all__ = ["TWIN_SEED", "TwinRun", "run_twin"]

TWIN_SEED = 20260
# Fast enough for a few upscales in seconds, slow enough that a "running" job (the
# simulator's 20-minute slow job: 12 s here) outlives the calls that read it.
_TIME_SCALE = 0.01
_SETUP_TIMEOUT = 120.0  # real seconds a setup job may take before the run gives up

JO = "jo.ultra@example.com"  # runs the finished jobs; always healthy
SAM = "sam.ultra@example.com"  # runs the jobs that stay running
# The accounts that may play an unhealthy one, in order, and all but JO in healthy order.
_SICK_ORDER = (SAM, "pat.pro@example.com", "lee.free@example.com")
_OTHERS = ("pat.pro@example.com", "lee.free@example.com", SAM)
_NEVER_ISSUED = "j1700000000000v-u1-email:nobody@example.com-bot:google-flow"
_BAD_JOB_ID = "not-a-job-id"

# Request fields a job record may echo, with a value the simulator accepts. At most one
# captcha option is sent: they are mutually exclusive.
_FILL: dict[str, Any] = {
    "replyRef": "calibration",
    "replyUrl": "http://127.0.0.1:9/calibration",  # the discard port: delivery just fails
    "captchaRetry": 3,
    "captchaOrder": "CapSolver",
    "captchaToken": "calibration-captcha-token-0000",
    "model": "veo-3.1-fast",
    "aspectRatio": "landscape",
    "count": 1,
    "seed": 1,
}
_CAPTCHA_OPTIONS = ("captchaRetry", "captchaOrder", "captchaToken")

# An error status -> the simulator's scripted fault with that status's documented body.
_FAULT_BY_STATUS = {
    400: "400",
    401: "401",
    402: "402",
    403: "403_captcha",
    404: "404",
    408: "408",
    429: "429_throttled",
    500: "500",
    503: "503_unavailable",
    596: "596_reconnect",
}
_FAULT_BY_KIND = {
    "no_eligible_account": "429_no_eligible_account",
    "PUBLIC_ERROR_USER_QUOTA_REACHED": "429_quota",
    "PUBLIC_ERROR_PER_MODEL_DAILY_QUOTA_REACHED": "429_model_quota",
    "PUBLIC_ERROR_UNUSUAL_ACTIVITY_TOO_MUCH_TRAFFIC": "429_unusual_activity",
    "captcha_service": "503_captcha_service",
}
_ROUTE_OF = {ACCOUNTS: "accounts", ACCOUNT: "accounts", UPSCALE: "upscale", JOB: "jobs"}


@dataclass
class TwinRun:
    answers: list[Answer]
    seed: int


def run_twin(service: list[Answer], progress: Callable[[Answer], None]) -> TwinRun:
    with (
        simulator.start(
            seed=TWIN_SEED, time_scale=_TIME_SCALE, fail_rate=0.0, captcha_acceptance=1.0
        ) as sim,
        Prober(sim.base_url, sim.token, Redactor(sim.token)) as prober,
    ):
        twin = _Twin(sim, prober)
        twin.prepare(service)
        answers = []
        for answer in service:
            mirrored = twin.ask(answer)
            answers.append(mirrored)
            progress(mirrored)
    return TwinRun(answers, TWIN_SEED)


class _Twin:
    def __init__(self, sim: simulator.SimHandle, prober: Prober) -> None:
        self.sim = sim
        self.prober = prober
        self.jobs: dict[str, str] = {}  # situation (as JSON) -> simulated job id
        self.expired: str | None = None
        self.completed = ""
        self.upscale_source = ""
        self.accounts_asked = 0
        self.sick: dict[str, str] = {}  # health text -> the simulated account showing it

    # -- the situation -----------------------------------------------------------------
    def prepare(self, service: list[Answer]) -> None:
        lookups = [a for a in service if a.call == JOB]
        if any(a.status == 410 for a in lookups):
            self.expired = self._job({"record": "completed"})
            self.sim.advance(self.sim.job_retention_seconds + 1.0)
        # Always one finished job (for the history) and one running (for `executing`).
        self.completed = self._job({"record": "completed"})
        for answer in lookups:
            if answer.status == 200:
                self._job_for(answer.situation)
        self._job({"record": "started"})
        upscales = [a for a in service if a.call == UPSCALE]
        self.upscale_source = self.sim.new_video_id(JO)
        if any(a.status == 200 and a.situation.get("cached") for a in upscales):
            self._submit("/videos/upscale", {"mediaGenerationId": self.upscale_source})
        for answer in service:
            text = answer.situation.get("health") if answer.call == ACCOUNT else None
            if isinstance(text, str) and text not in self.sick:
                # More distinct texts than accounts: the last account shows the last text.
                email = _SICK_ORDER[min(len(self.sick), len(_SICK_ORDER) - 1)]
                self.sick[text] = email
                self.sim.set_health(email, text)

    def _job_for(self, situation: dict[str, Any]) -> str:
        key = json.dumps(situation, sort_keys=True)
        if key not in self.jobs:
            self.jobs[key] = self._job(situation)
        return self.jobs[key]

    def _job(self, situation: dict[str, Any]) -> str:
        record = situation.get("record", "completed")
        running = record not in ("completed", "failed")
        email = SAM if running else JO  # running jobs hold slots: keep them off JO
        fields = [k for k in situation.get("request", []) if k in _FILL]
        captcha = [k for k in fields if k in _CAPTCHA_OPTIONS]
        body = {k: _FILL[k] for k in fields if k not in captcha[1:]}
        if "email" in situation.get("request", []):
            body["email"] = email
        body["async"] = True
        if situation.get("kind") == "generate":
            route, path = "videos", "/videos"
            body["prompt"] = "calibration twin"
        else:
            route, path = "upscale", "/videos/upscale"
            resolution = situation.get("resolution", "1080p")
            body["mediaGenerationId"] = self.sim.new_video_id(email)
            body["resolution"] = resolution
            if situation.get("cached"):
                self._submit(path, {"mediaGenerationId": body["mediaGenerationId"],
                                    "resolution": resolution})  # fmt: skip
        if record == "failed":
            self.sim.inject(route, "job_fail")
        elif running:
            self.sim.inject(route, "slow_job")
        job_id = self._submit(path, body)
        if not running:
            self._wait(job_id, lambda status: status in ("completed", "failed"))
        elif record != "created":
            self._wait(job_id, lambda status: status != "created")
        return job_id

    def _submit(self, path: str, body: dict[str, Any]) -> str:
        response = self.prober.raw(Call("setup", "POST", path, body=body))
        data = response.json() if response.status_code in (200, 201) else None
        job_id = (data or {}).get("jobId") or (data or {}).get("jobid")
        if not isinstance(job_id, str):
            raise CalibrationError(
                f"the simulator refused a setup step ({response.status_code} on POST {path}): "
                "please report this as a bug of flowup-nb"
            )
        return job_id

    def _wait(self, job_id: str, done: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + _SETUP_TIMEOUT
        while time.monotonic() < deadline:
            response = self.prober.raw(Call("setup", "GET", f"/jobs/{job_id}"))
            status = response.json().get("status") if response.status_code == 200 else None
            if isinstance(status, str) and done(status):
                return
            time.sleep(0.01)
        raise CalibrationError("a simulated setup job did not reach its state in time")

    # -- the calls ---------------------------------------------------------------------
    def ask(self, answer: Answer) -> Answer:
        call = self._call(answer)
        fault = self._fault(answer)
        if fault is not None:
            self.sim.inject(self._route(answer.call), fault)
        return self.prober.send(call)

    def _call(self, answer: Answer) -> Call:
        template = answer.call
        if template == ACCOUNTS:
            return Call(template, "GET", "/accounts")
        if template == ACCOUNT:
            email = self._account_for(answer)
            return Call(template, "GET", f"/accounts/{email}")
        if template == UPSCALE:
            source = self.upscale_source
            if not (answer.status == 200 and answer.situation.get("cached")):
                source = self.sim.new_video_id(JO)
            body = {"mediaGenerationId": source, "resolution": "1080p"}
            return Call(template, "POST", "/videos/upscale", body=body)
        if template.startswith(STATS):
            option = template.removeprefix(STATS)
            return Call(template, "GET", "/jobs", params={"options": option})
        return Call(template, "GET", f"/jobs/{self._job_id_for(answer)}")

    def _account_for(self, answer: Answer) -> str:
        text = answer.situation.get("health")
        if answer.status == 200 and isinstance(text, str):
            return self.sick[text]
        healthy = (JO, *(e for e in _OTHERS if e not in self.sick.values()))
        email = healthy[self.accounts_asked % len(healthy)]
        self.accounts_asked += 1
        return email

    def _job_id_for(self, answer: Answer) -> str:
        if answer.status == 200:
            return self._job_for(answer.situation)
        if answer.status == 410 and self.expired is not None:
            return self.expired
        if answer.status == 404:
            return _NEVER_ISSUED
        if answer.status == 400:
            return _BAD_JOB_ID
        return self.completed

    def _fault(self, answer: Answer) -> str | None:
        status = answer.status
        if 200 <= status < 300:
            return None
        if answer.call == JOB and status in (400, 404, 410):
            return None  # reproduced by the situation itself
        kind = answer.situation.get("error_kind")
        if isinstance(kind, str) and kind in _FAULT_BY_KIND:
            return _FAULT_BY_KIND[kind]
        return _FAULT_BY_STATUS.get(status)

    @staticmethod
    def _route(template: str) -> str:
        return "job_stats" if template.startswith(STATS) else _ROUTE_OF[template]
