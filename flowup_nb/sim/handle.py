"""The simulator's handle: builds the pieces, runs the two servers, exposes ground truth."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from flowup_nb.sim.captcha import PROVIDERS
from flowup_nb.sim.clock import SimClock
from flowup_nb.sim.faults import FaultBook
from flowup_nb.sim.ids import token_for_seed
from flowup_nb.sim.load_stats import WINDOW_SECONDS
from flowup_nb.sim.media import MediaStore
from flowup_nb.sim.routes import Routes
from flowup_nb.sim.server import API_PREFIX, ApiHandler, MediaHandler, SimServer
from flowup_nb.sim.state import JOB_RETENTION_SECONDS, SimState
from flowup_nb.sim.webhooks import WebhookDispatcher

__all__ = ["DEFAULT_TIME_SCALE", "SimHandle"]

log = logging.getLogger(__name__)

DEFAULT_TIME_SCALE = 0.1  # a 1080p upscale takes 3-6 s: a person sees the states move
DEFAULT_FAIL_RATE = 0.02


def _acceptance_table(value: float | Mapping[str, float] | None) -> dict[str, float] | None:
    """Captcha acceptance overrides: one rate for every provider, or a rate per provider."""
    if value is None:
        return None
    table = dict.fromkeys(PROVIDERS, value) if isinstance(value, int | float) else dict(value)
    for name, rate in table.items():
        if name not in PROVIDERS:
            raise ValueError(
                f"captcha_acceptance names unknown provider {name!r}; use {', '.join(PROVIDERS)}"
            )
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(
                f"captcha_acceptance rates are probabilities from 0 to 1 (got {name}: {rate!r})"
            )
    return {name: float(rate) for name, rate in table.items()}


def _wake(server: SimServer) -> None:
    """Connect once so the serve loop returns from its poll and sees the shutdown at once."""
    host, port = server.server_address[:2]
    address = (host.decode() if isinstance(host, bytes | bytearray) else host, port)
    with contextlib.suppress(OSError), socket.create_connection(address, 0.5):
        pass


class SimHandle:
    """A running simulator. Use as a context manager, or call `stop()`.

    `base_url`, `media_base` and `token` are what a client needs; everything else is ground
    truth and control for tests, benchmarks and demos.
    """

    def __init__(
        self,
        *,
        seed: int | str | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        host: str = "127.0.0.1",
        port: int = 0,
        media_port: int = 0,
        fail_rate: float = DEFAULT_FAIL_RATE,
        concurrency: Mapping[str, int] | None = None,
        token: str | None = None,
        captcha_acceptance: float | Mapping[str, float] | None = None,
        bill_every_execution: bool = False,
        start_at: float | None = None,
    ) -> None:
        if not isinstance(bill_every_execution, bool):
            raise TypeError(
                f"bill_every_execution must be True or False (got {bill_every_execution!r})"
            )
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate is a probability from 0 to 1 (got {fail_rate!r})")
        if concurrency is not None:
            bad = {k: v for k, v in concurrency.items() if k not in ("ultra", "pro", "free")
                   or isinstance(v, bool) or not isinstance(v, int) or v < 1}  # fmt: skip
            if bad:
                raise ValueError(
                    f"concurrency maps tiers 'ultra', 'pro', 'free' to limits >= 1 (got {bad!r})"
                )
        acceptance = _acceptance_table(captcha_acceptance)
        self.seed: int | str = secrets.randbits(32) if seed is None else seed
        self.time_scale = float(time_scale)
        self.clock = SimClock(time_scale, start_at=start_at)
        self._token = token if token is not None else token_for_seed(self.seed)
        secret = hashlib.sha256(f"flowup-sim-media:{self.seed}".encode()).digest()
        self.media = MediaStore(self.clock, secret)
        self.media.check_assets()
        self.faults = FaultBook(self.clock, self.seed)
        self.webhooks = WebhookDispatcher(self.clock)
        self._api = SimServer((host, port), ApiHandler, self)
        self._media_server = SimServer((host, media_port), MediaHandler, self)
        self.media_base = f"http://{host}:{self._media_server.server_address[1]}"
        self.media.base = self.media_base
        self.base_url = f"http://{host}:{self._api.server_address[1]}{API_PREFIX}"
        self.state = SimState(
            seed=self.seed,
            clock=self.clock,
            media=self.media,
            webhooks=self.webhooks,
            fail_rate=fail_rate,
            concurrency=dict(concurrency or {}),
            acceptance=acceptance,
            bill_every_execution=bill_every_execution,
        )
        self.routes = Routes(self.state)
        self._stopped = False
        self._threads = [
            threading.Thread(
                target=self._serve, args=(self._api,), name="flow-sim-api", daemon=True
            ),
            threading.Thread(
                target=self._serve, args=(self._media_server,), name="flow-sim-media", daemon=True
            ),
            threading.Thread(target=self._run_scheduler, name="flow-sim-clock", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- life --------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self._token

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token.encode())

    def stop(self) -> None:
        """Stop both servers and the background threads; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with self.state.lock:
            self.state.stopping = True
            self.state.changed.notify_all()
        # Both servers at once: each shutdown() waits for one poll of its serve loop.
        stoppers = [
            threading.Thread(target=srv.shutdown) for srv in (self._api, self._media_server)
        ]
        for stopper in stoppers:
            stopper.start()
        for server in (self._api, self._media_server):
            _wake(server)
        for stopper in stoppers:
            stopper.join()
        for server in (self._api, self._media_server):
            server.close_all()
            server.server_close()
        self.webhooks.stop()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # never the token
        state = "stopped" if self._stopped else "running"
        return (
            f"SimHandle(base_url={self.base_url!r}, media_base={self.media_base!r}, "
            f"seed={self.seed!r}, time_scale={self.time_scale}, {state})"
        )

    @staticmethod
    def _serve(server: SimServer) -> None:
        server.serve_forever(poll_interval=0.05)

    def _run_scheduler(self) -> None:
        state = self.state
        with state.lock:
            while not state.stopping:
                try:
                    state.settle()
                except Exception:  # keep the clock alive whatever a job does
                    log.exception("simulator scheduler step failed")
                due = state.next_due()
                wait = 1.0 if due is None else min(1.0, max(0.0, due - self.clock.now()))
                state.changed.wait(wait)

    # -- counters the servers feed -----------------------------------------------------
    def count_request(self, route: str) -> None:
        with self.state.lock:
            self.state.counters["requests"][route] += 1

    def count_response(self, status: int) -> None:
        """`status` 0 counts a dropped connection (no response)."""
        with self.state.lock:
            self.state.counters["responses"][status] += 1

    def count_media_request(self, *, authorized: bool) -> None:
        with self.state.lock:
            self.state.counters["media_requests"] += 1
            self.state.counters["media_requests_with_authorization"] += int(authorized)

    def count_media_bytes(self, n: int) -> None:
        with self.state.lock:
            self.state.counters["media_bytes_sent"] += n

    # -- ground truth and control ------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        out = self.state.stats()
        sent, failed = self.webhooks.counts()
        out["webhooks_sent"] = sent
        out["webhooks_failed"] = failed
        out["faults_injected"] = dict(self.faults.fired)
        return out

    def jobs(self) -> list[dict[str, Any]]:
        return self.state.job_records()

    @property
    def accounts(self) -> list[dict[str, Any]]:
        return self.state.account_list()

    def sample_ids(self, email: str | None = None) -> list[str]:
        return self.state.sample_ids(email)

    def new_video_id(self, email: str = "jo.ultra@example.com") -> str:
        return self.state.new_source_video(email).media_generation_id

    def executions(self) -> dict[tuple[str, str], int]:
        """Upscales that ran in full on the server (completed, not cached), counted per
        (source mediaGenerationId, resolution): a count above 1 is a duplicate execution."""
        return self.state.executions()

    def set_health(self, email: str, health: str) -> None:
        """Put an account in a not-OK state (`health` is the error text the accounts routes
        show; its requests answer 596), or back with "OK"."""
        self.state.set_health(email, health)

    @property
    def stats_window_seconds(self) -> float:
        """Simulated seconds that `GET /jobs?options=` looks back (15 service minutes)."""
        return self.clock.kept_for(WINDOW_SECONDS)

    @property
    def job_retention_seconds(self) -> float:
        """Simulated seconds a finished job's record is kept before `GET /jobs/{id}` is 410."""
        return self.clock.kept_for(JOB_RETENTION_SECONDS)

    def now(self) -> float:
        """Simulated UTC epoch seconds: the clock a client on this simulator should use."""
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        with self.state.lock:
            self.state.settle()
            self.state.changed.notify_all()

    def inject(
        self,
        route: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: float | None = None,
        delay: float | None = None,
    ) -> None:
        self.faults.inject(route, kind, times=times, retry_after=retry_after, delay=delay)

    def set_fault_profile(self, rate: float = 0.2, seed: int | str | None = None) -> None:
        self.faults.set_profile(rate, seed)

    def clear_faults(self) -> None:
        self.faults.clear()

    def publish_file(self, path: str | Path) -> str:
        return self.media.publish_file(path)

    def webhook_log(self) -> list[dict[str, Any]]:
        return self.webhooks.log()

    def wait_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until queued webhook deliveries are done; True when the queue is empty."""
        return self.webhooks.drain(timeout)
