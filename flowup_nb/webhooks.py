"""``WebhookReceiver``: take the server's job callbacks, so waiting needs no polling.

With ``replyUrl`` the server POSTs the job record at each change of status (created,
started, completed, failed). The deliveries carry no signature; the only thing the
caller controls is ``replyRef``, echoed in ``request.replyRef``. So every job gets a
fresh random secret as its ``replyRef`` (:meth:`WebhookReceiver.reply_for`), and a
delivery is accepted only when its reference is one we issued, for that job: anything
else (unknown job, forged or reused reference, a body that is not a job record, an
oversized body) is answered 4xx and logged. Accepted deliveries are recorded in the
ledger as ``webhook`` exchanges and wake whoever waits on the job.

The server runs in a background thread (stdlib ``http.server``), so it works the same
from scripts and from a kernel. It listens on loopback by default: a remote API can
only reach it through a tunnel or a public host, whose URL goes in ``public_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from flowup_nb.api.errors import InputError, ResponseFormatError
from flowup_nb.api.exchange import ExchangeObserver, LedgerLike, observer_of, webhook_exchange
from flowup_nb.api.models import Job
from flowup_nb.api.parsing import job_id_of, parse_job
from flowup_nb.api.policy import validate_tags

__all__ = ["Rejection", "WebhookReceiver"]

log = logging.getLogger("flowup_nb.webhooks")

DEFAULT_PATH = "/flowup/webhook"
# A cached re-upscale's record carries the whole video inline (rawBytes, base64).
DEFAULT_MAX_BODY = 64 * 1024 * 1024
_STATUS_RANK = {"created": 0, "started": 1, "completed": 2, "failed": 2}
_KEPT_REJECTIONS = 1000
_SHOWN_ID_CHARS = 200  # of a rejected delivery's job id, in logs and rejections


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused delivery (never holds the reference that was presented)."""

    at: float  # UTC epoch seconds
    status_code: int
    reason: str
    job_id: str | None
    client: str


@dataclass(eq=False)
class _Expected:
    """A reference we issued, and what we know of its job."""

    reply_ref: str
    source_id: str | None
    record: ExchangeObserver | None
    session_id: str | None
    tags: tuple[str, ...] | None
    job_id: str | None = None
    latest: Job | None = None
    deliveries: int = 0
    last_heard: float | None = None  # monotonic


class WebhookReceiver:
    """A loopback HTTP endpoint for the server's job callbacks.

    ``port=0`` picks a free port. ``public_url``: the URL the API should POST to when it
    cannot reach this machine directly (a tunnel to this receiver). ``ledger``: also
    record every accepted delivery there (batches record them in their client's ledger
    anyway). ``tags``: the tags of the ledger rows of deliveries, unless
    :meth:`reply_for` gave a job its own (pass the submitting client's tags there, so a
    job's webhook rows carry the same tags as its calls). ``grace``: how long a job may go
    unheard before a waiting call polls it once, in case deliveries are lost. Use it in
    ``with``, or call :meth:`close`.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        public_url: str | None = None,
        ledger: LedgerLike | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        grace: float = 30.0,
        path: str = DEFAULT_PATH,
        tags: Sequence[str] = (),
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(
                f"port must be an integer from 0 (any free port) to 65535, got {port!r}"
            )
        if not isinstance(max_body, int) or max_body < 1024:
            raise InputError(f"max_body must be at least 1024 bytes, got {max_body!r}")
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace <= 0:
            raise InputError(f"grace must be a number of seconds > 0, got {grace!r}")
        if not path.startswith("/"):
            raise InputError(f"path must start with '/', got {path!r}")
        if public_url is not None:
            parts = urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InputError(f"public_url must be an http(s) URL, got {public_url!r}")
        self.tags = validate_tags(tags)
        self.max_body = max_body
        self.grace = float(grace)
        self.path = path
        self.session_id = uuid.uuid4().hex
        self._ledger_record = observer_of(ledger) if ledger is not None else None
        self._lock = threading.Condition()
        self._by_ref: dict[str, _Expected] = {}
        self._by_job: dict[str, _Expected] = {}
        # job id -> (loop, future) of the coroutines waiting for news of it
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._rejections: deque[Rejection] = deque(maxlen=_KEPT_REJECTIONS)
        self.accepted = 0
        self.rejected = 0
        self._closed = False
        self._server = _Server((host, port), _handler_for(self))
        bound_host, bound_port = self._server.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)
        local = f"http://{self.host}:{self.port}{path}"
        self.url: str = public_url or local
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon close() returns
            name=f"flowup-webhooks-{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- issuing references ------------------------------------------------------------

    def reply_for(
        self,
        source_id: str | None = None,
        *,
        record: ExchangeObserver | None = None,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, str]:
        """``reply_url``/``reply_ref`` for one submission, with a fresh secret reference.

        ``client.submit_upscale(vid, **receiver.reply_for(vid))``. ``record`` (e.g. a
        ledger's ``record``) also receives this job's deliveries as Exchanges, with
        ``session_id`` and ``tags`` (those of the submitting client, so the job's rows
        agree; by default the receiver's own).
        """
        if record is not None and not callable(record):
            raise InputError("record must be callable with one Exchange (e.g. ledger.record)")
        job_tags = None if tags is None else validate_tags(tags)
        reply_ref = secrets.token_urlsafe(24)
        with self._lock:
            self._by_ref[reply_ref] = _Expected(reply_ref, source_id, record, session_id, job_tags)
        return {"reply_url": self.url, "reply_ref": reply_ref}

    def bind(self, reply_ref: str, job_id: str) -> None:
        """Tie an issued reference to the job the server created for it (from the 201)."""
        with self._lock:
            expected = self._by_ref.get(reply_ref)
            if expected is None:
                raise InputError("bind() needs a reply_ref issued by this receiver's reply_for()")
            if expected.job_id is None:
                expected.job_id = job_id
                self._by_job.setdefault(job_id, expected)

    def forget(self, reply_ref: str) -> None:
        """Stop accepting deliveries for this reference (its job is done with)."""
        with self._lock:
            expected = self._by_ref.pop(reply_ref, None)
            if expected is not None and expected.job_id is not None:
                self._by_job.pop(expected.job_id, None)

    # -- what arrived ------------------------------------------------------------------

    def latest(self, job_id: str) -> Job | None:
        """The most advanced record delivered for the job (statuses never go back)."""
        with self._lock:
            expected = self._by_job.get(job_id)
            return expected.latest if expected else None

    def deliveries(self, job_id: str) -> int:
        with self._lock:
            expected = self._by_job.get(job_id)
            return expected.deliveries if expected else 0

    def last_heard(self, job_id: str) -> float | None:
        """``time.monotonic()`` of the job's last accepted delivery, or None."""
        with self._lock:
            expected = self._by_job.get(job_id)
            return expected.last_heard if expected else None

    @property
    def rejections(self) -> list[Rejection]:
        """The most recent refused deliveries (up to 1,000)."""
        with self._lock:
            return list(self._rejections)

    def wait(self, job_id: str, status: str | None, timeout: float) -> Job | None:
        """Block until a record of the job in a status other than ``status`` has arrived
        (at once if one has); None after ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            while True:
                job = self._moved_on(job_id, status)
                left = deadline - time.monotonic()
                if job is not None or left <= 0 or self._closed:
                    return job
                self._lock.wait(left)

    async def wait_async(self, job_id: str, status: str | None, timeout: float) -> Job | None:
        """:meth:`wait` for ``await``: the event loop stays free meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            future: asyncio.Future[None] = loop.create_future()
            waiter = (loop, future)
            with self._lock:
                job = self._moved_on(job_id, status)
                if job is not None or self._closed or loop.time() >= deadline:
                    return job
                self._waiters.setdefault(job_id, []).append(waiter)
            try:
                # Woken by any delivery of the job; one in the same status waits on.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            finally:
                with self._lock:
                    waiting = self._waiters.get(job_id, [])
                    if waiter in waiting:
                        waiting.remove(waiter)
                    if not waiting:
                        self._waiters.pop(job_id, None)

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening; waiting calls return (they fall back to polling)."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            waiters = [w for ws in self._waiters.values() for w in ws]
        for loop, future in waiters:
            _wake(loop, future)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "listening"
        return (
            f"WebhookReceiver(url={self.url!r}, {state}, accepted={self.accepted}, "
            f"rejected={self.rejected})"
        )

    # -- the handler's side (runs in the server's threads) -----------------------------

    def _moved_on(self, job_id: str, status: str | None) -> Job | None:
        expected = self._by_job.get(job_id)
        job = expected.latest if expected else None
        return job if job is not None and job.status != status else None

    def _reject(self, code: int, reason: str, job_id: str | None, client: str) -> tuple[int, str]:
        # The job id is whatever an unauthenticated sender wrote: keep it short, and log
        # its repr so it cannot forge log lines (newlines, NUL, terminal escapes).
        if job_id is not None and len(job_id) > _SHOWN_ID_CHARS:
            job_id = job_id[:_SHOWN_ID_CHARS] + "..."
        with self._lock:
            self.rejected += 1
            self._rejections.append(Rejection(time.time(), code, reason, job_id, client))
        log.warning(
            "webhook delivery rejected (%d %s): job %r from %s", code, reason, job_id, client
        )
        return code, reason

    def _accept(self, payload: Any, client: str, received_at: float) -> tuple[int, str]:
        if not isinstance(payload, dict):
            return self._reject(400, "the body is not a job record", None, client)
        job_id = job_id_of(payload)  # the parser's rule, so both name the same job
        request = payload.get("request")
        presented = request.get("replyRef") if isinstance(request, dict) else None
        if not isinstance(job_id, str) or not job_id:
            return self._reject(400, "the record has no jobid", None, client)
        if not isinstance(request, dict) or not isinstance(presented, str) or not presented:
            return self._reject(403, "no replyRef: not a delivery we asked for", job_id, client)
        with self._lock:
            expected, why = self._expected_for(job_id, presented, request)
        if expected is None:
            return self._reject(403, why, job_id, client)
        try:
            job = parse_job(payload, status_code=200)
        except ResponseFormatError:
            return self._reject(400, "the body is not a readable job record", job_id, client)
        with self._lock:
            if expected.job_id is None:
                expected.job_id = job_id
                self._by_job.setdefault(job_id, expected)
            rank = _STATUS_RANK.get(job.status, -1)
            if expected.latest is None or rank >= _STATUS_RANK.get(expected.latest.status, -1):
                expected.latest = job
            expected.deliveries += 1
            expected.last_heard = time.monotonic()
            self.accepted += 1
            waiters = self._waiters.pop(job_id, [])
            self._lock.notify_all()
        for loop, future in waiters:
            _wake(loop, future)
        self._record(job, expected, received_at)
        return 200, "ok"

    def _expected_for(
        self, job_id: str, presented: str, request: dict[str, Any]
    ) -> tuple[_Expected | None, str]:
        """The issued reference this delivery answers, or None and why not (lock held)."""
        expected = self._by_job.get(job_id)
        if expected is not None:
            if not hmac.compare_digest(presented.encode(), expected.reply_ref.encode()):
                return None, "wrong replyRef for this job"
        else:
            expected = self._by_ref.get(presented)
            if expected is None or expected.job_id not in (None, job_id):
                return None, "unknown job or replyRef"
        source = request.get("mediaGenerationId")
        if expected.source_id is not None and source != expected.source_id:
            return None, "the record is for another video than the one submitted"
        return expected, ""

    def _record(self, job: Job, expected: _Expected, received_at: float) -> None:
        targets = [r for r in (expected.record, self._ledger_record) if r is not None]
        if not targets:
            return
        exchange = webhook_exchange(
            job,
            session_id=expected.session_id or self.session_id,
            tags=self.tags if expected.tags is None else expected.tags,
            received_at=received_at,
            finished_at=time.time(),
        )
        for target in dict.fromkeys(targets):  # one ledger given twice records once
            try:
                target(exchange)
            except Exception as exc:  # a ledger problem must not turn into a 500
                log.warning("recording webhook of job %s failed: %s", job.job_id, exc)


def _wake(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    def settle() -> None:
        if not future.done():
            future.set_result(None)

    # RuntimeError: that loop is closed, so nobody waits any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "flowup-webhooks"
        sys_version = ""

        def do_POST(self) -> None:
            received_at = time.time()
            client = self.client_address[0]
            if urlsplit(self.path).path != receiver.path:
                self._answer(*receiver._reject(404, "unknown path", None, client))
                return
            length_header = self.headers.get("Content-Length")
            try:
                length = int(length_header) if length_header is not None else -1
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                self._answer(*receiver._reject(411, "no Content-Length", None, client))
                return
            if length > receiver.max_body:
                self.close_connection = True  # the body stays unread
                self._answer(*receiver._reject(413, "body too large", None, client))
                return
            body = self.rfile.read(length)
            try:
                payload = json.loads(body)
            # RecursionError: a body of nested brackets deeper than the parser's stack.
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                self._answer(*receiver._reject(400, "the body is not JSON", None, client))
                return
            self._answer(*receiver._accept(payload, client, received_at))

        def do_GET(self) -> None:
            self.close_connection = True
            self._answer(405, "POST job records here", allow=True)

        do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = do_GET

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            # http.server's own refusals (unknown method, bad request line) answer JSON too.
            self.close_connection = True
            self._answer(code, message or "bad request")

        def _answer(self, code: int, message: str, *, allow: bool = False) -> None:
            data = json.dumps({"ok": code == 200, "message": message}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if allow:
                self.send_header("Allow", "POST")
            self.end_headers()
            if self.command != "HEAD":  # a HEAD answer has headers only
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("webhook %s: " + format, self.client_address[0], *args)

    return Handler
