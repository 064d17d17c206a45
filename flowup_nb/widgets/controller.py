"""What the upscale form does, without its widgets: submit, follow, cancel, resume, save,
the account check behind the 4K option and the Upscale button (an account whose health is
not OK gets nothing sent), and the look-up of a job id typed in place of a video id.

:class:`UpscaleController` holds the form's :class:`FormState` and moves it through the
machine in ``status.py``; after every change it calls its observers (the widget view in
``form.py``, or a test), which read what to show from it. It talks to the client only
through the awaitable client protocol (``api/calls.py``) and follows a job with the
client's wait engine, so cancelling the task stops polling at once. Actions start from
plain synchronous calls (a button's callback) as tasks on the running loop (``tasks.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from flowup_nb.api import policy
from flowup_nb.api.accounts import Verdict, reconnect_error
from flowup_nb.api.calls import UpscaleCalls, awaitable
from flowup_nb.api.errors import FlowError, InputError, JobFailedError, JobTimeoutError
from flowup_nb.api.models import GenerationResult, Job, UpscaleResult
from flowup_nb.api.prices import FOUR_K_PRICE
from flowup_nb.widgets import player
from flowup_nb.widgets.account_check import AccountCheck
from flowup_nb.widgets.advice import describe_error, first_line
from flowup_nb.widgets.sources import known_video_ids, talks_to_simulator
from flowup_nb.widgets.status import FormState, Phase
from flowup_nb.widgets.tasks import NoRunningLoopError, TaskKeeper
from flowup_nb.widgets.views import CreditView

__all__ = ["MODES", "JobOffer", "UpscaleController", "UpscaleRequest", "video_file_name"]

log = logging.getLogger("flowup_nb.widgets")

T = TypeVar("T")

MODES = ("sync", "async")
_EXPIRED_LINK = (401, 403, 410)


@dataclass(frozen=True, slots=True)
class UpscaleRequest:
    """What one press of Upscale asks for, validated before anything is sent."""

    source_id: str
    resolution: str
    mode: str  # "sync" | "async"
    captcha: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JobOffer:
    """What a job id typed in the id box offers: the videos it names, to upscale (the
    source of an upscale job; the videos a generation job made), and a completed upscale
    job's result, to watch."""

    job: Job
    videos: tuple[str, ...]
    result: UpscaleResult | None

    @property
    def note(self) -> str:
        job = self.job
        if not self.videos:
            return f"job {job.job_id} ({job.status}) names no video to upscale"
        if isinstance(job.result, GenerationResult):
            what = f"the {len(self.videos)} video(s) it generated, offered above"
        else:
            what = "its source video, offered above"
        if self.result is not None:
            what += "; its upscaled video below"
        return f"job {job.job_id} ({job.status}): {what}"


def job_offer(job: Job) -> JobOffer:
    """The videos ``job`` offers to upscale, and its upscaled result if it completed."""
    videos: list[str] = []
    source = job.request.get("mediaGenerationId")
    if isinstance(source, str) and source:
        videos.append(source)
    if isinstance(job.result, GenerationResult):
        videos += [m.media_generation_id for m in job.result.media if m.media_generation_id]
    result = job.result if isinstance(job.result, UpscaleResult) else None
    return JobOffer(job, tuple(dict.fromkeys(videos)), result)


class UpscaleController:
    """The form's behaviour over any client (FlowClient or AsyncFlowClient).

    ``ledger``: where to find ids of videos used before (None: the client's own ledger).
    ``tick``: while an upscale runs, observers are also called every ``tick`` seconds,
    so a view can move the elapsed time (None: only on changes).
    """

    def __init__(
        self,
        client: object,
        *,
        ledger: object = None,
        wait_timeout: float = 900.0,
        check_links: bool = True,
        download_dir: str | Path | None = None,
        tick: float | None = None,
    ) -> None:
        self.client = client
        self.calls: UpscaleCalls = awaitable(client)
        self._ledger = ledger
        self.wait_timeout = wait_timeout
        self.check_links = check_links
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self._tick = tick
        self.state = FormState()
        self.task: asyncio.Task[None] | None = None
        self.request: UpscaleRequest | None = None
        self.link: player.LinkCheck | None = None
        self.saving = False
        self.saved_path: Path | None = None
        self.saved_size: int | None = None
        self._balance_before: int | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._observers: list[Callable[[UpscaleController], None]] = []
        self._keeper = TaskKeeper(self._show_unexpected)
        self.accounts = AccountCheck(self.calls, self._keeper, self._refresh_verdict)
        self._source_email: str | None = None
        self.verdict: Verdict = self.accounts.four_k(None)
        self.upscale_verdict: Verdict = self.accounts.upscale(None)
        self.account_text = ""
        # A job id typed in the id box: the one being looked up, what it offers, or why
        # it could not be read.
        self._job_wanted: str | None = None
        self.job_offer: JobOffer | None = None
        self.job_note: str | None = None

    # -- observing ------------------------------------------------------------------------

    def subscribe(self, observer: Callable[[UpscaleController], None]) -> Callable[[], None]:
        """Call ``observer(controller)`` after every change; returns the unsubscriber."""
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def _changed(self) -> None:
        for observer in list(self._observers):
            observer(self)

    def _set(self, state: FormState) -> None:
        self.state = state
        self._changed()

    @property
    def busy(self) -> bool:
        return self.state.busy

    @property
    def result(self) -> UpscaleResult | None:
        """The last result shown (None before the first one)."""
        result: UpscaleResult | None = self.state.result
        return result

    @property
    def wait_timeout(self) -> float:
        return self._wait_timeout

    @wait_timeout.setter
    def wait_timeout(self, seconds: float) -> None:
        self._wait_timeout = policy.validate_wait_timeout(seconds)

    @property
    def simulated(self) -> bool:
        return talks_to_simulator(self.client)

    # -- sources and accounts -------------------------------------------------------------

    def known_ids(self) -> tuple[str, ...]:
        """Videos to offer: the simulator's samples, then recent sources from the ledger
        given, else from the client's own (never the per-user default)."""
        ledger = self._ledger if self._ledger is not None else self.calls.ledger
        return known_video_ids(self.client, ledger)

    def select_source(self, source_id: str) -> None:
        """The video now chosen: look its account up (once) to say whether 4K is open and
        whether anything may be sent to it. A job id (``j...``) is looked up instead, and
        what it offers lands in :attr:`job_offer`."""
        text = source_id.strip() if isinstance(source_id, str) else ""
        if policy.looks_like_job_id(text):
            self._source_email = None
            self._look_up_job(text)
            self._refresh_verdict()
            return
        self._job_wanted = None
        if self.job_offer is not None and text not in self.job_offer.videos:
            self.job_offer = None  # one of its videos chosen: the offer stays on show
        self.job_note = self.job_offer.note if self.job_offer is not None else None
        self._source_email = policy.decode_account(text)
        if self._source_email is not None:
            self.accounts.look_up(self._source_email)
        self._refresh_verdict()

    def _refresh_verdict(self) -> None:
        self.verdict = self.accounts.four_k(self._source_email)
        self.upscale_verdict = self.accounts.upscale(self._source_email)
        self.account_text = self.accounts.describe(self._source_email)
        self._changed()

    def _look_up_job(self, job_id: str) -> None:
        if job_id == self._job_wanted:
            return  # already asked
        self._job_wanted, self.job_offer = job_id, None
        self.job_note = f"looking job {job_id} up…"
        if not self._spawn_action(self._read_job(job_id), "flowup-job-lookup"):
            self._job_wanted, self.job_note = None, None

    async def _read_job(self, job_id: str) -> None:
        try:
            job = await self.calls.get_job(job_id)
        except FlowError as exc:
            if self._job_wanted == job_id:
                self._job_wanted = None
                self.job_note = f"could not read job {job_id}: {first_line(exc)}"
                self._changed()
            return
        if self._job_wanted != job_id:
            return  # another id was chosen meanwhile
        self.job_offer = job_offer(job)
        self.job_note = self.job_offer.note
        self._changed()

    # -- Upscale ----------------------------------------------------------------------------

    def request_for(
        self, source_id: str, resolution: str, mode: str, captcha: Mapping[str, Any]
    ) -> UpscaleRequest:
        """The request these inputs make; InputError naming the fix when one is wrong."""
        source = policy.validate_media_generation_id(
            source_id.strip() if isinstance(source_id, str) else source_id
        )
        resolution = policy.validate_resolution(resolution)
        if mode not in MODES:
            raise InputError(f"mode must be 'sync' or 'async', got {mode!r}")
        verdict = self.accounts.upscale(policy.decode_account(source))
        if not verdict.allowed:
            raise InputError(f"not sent: {verdict.reason}")
        if resolution == "4K":
            verdict = self.accounts.four_k(policy.decode_account(source))
            if not verdict.allowed:
                raise InputError(f"4K is not available: {verdict.reason}")
        policy.validate_captcha(**captcha)
        return UpscaleRequest(source, resolution, mode, dict(captcha))

    def upscale(
        self,
        source_id: str,
        resolution: str = "1080p",
        mode: str = "sync",
        captcha: Mapping[str, Any] | None = None,
    ) -> None:
        """Start an upscale; bad input is shown as an error and nothing is sent."""
        if self.state.busy:
            return  # a double click: the first one is already on its way
        try:
            request = self.request_for(source_id, resolution, mode, captcha or {})
        except InputError as exc:
            self.show_error(exc)
            return
        self._start(request)

    def _start(self, request: UpscaleRequest) -> None:
        self._balance_before = self.accounts.balance(policy.decode_account(request.source_id))
        self.request = request
        self.link = None
        self.saved_path = self.saved_size = None
        # Busy before the task even starts: a second click now finds the form busy.
        self._set(
            self.state.to(
                Phase.SUBMITTING,
                now=time.monotonic(),
                mode=request.mode,
                source_id=request.source_id,
                resolution=request.resolution,
            )
        )
        self._launch(lambda: self._send(request), name="flowup-upscale")

    def _launch(self, work: Callable[[], Awaitable[Any]], *, name: str) -> None:
        """Run ``work()`` as the form's task: its result is shown, its API error too."""
        try:
            self.task = self._keeper.spawn(self._conclude(work), name=name)
        except NoRunningLoopError as exc:
            self._fail(exc)
            return
        if self._tick is not None:
            self._keeper.spawn(self._heartbeat(self._tick), name="flowup-elapsed")

    async def _conclude(self, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            result = await work()
        except FlowError as exc:
            self._fail(exc)
            return
        await self._complete(result)

    async def _send(self, request: UpscaleRequest) -> UpscaleResult | GenerationResult:
        email = policy.decode_account(request.source_id)
        if email is not None:
            # Pressed before the account's look-up answered: its answer decides, so that
            # nothing is sent to an account whose session must be reconnected.
            account = await self.accounts.checked(email)
            if account is not None and not account.healthy:
                raise reconnect_error(account)
        args = (request.source_id, request.resolution)
        if request.mode == "sync":
            return await self._shielded(self.calls.upscale(*args, **request.captcha))
        job = await self._shielded(self.calls.submit_upscale(*args, **request.captcha))
        self._observe_job(job)
        return await self._follow(job)

    async def _follow(self, job: Job | str) -> UpscaleResult | GenerationResult:
        """Poll on the client's plan until the job ends. Cancelling stops polling; the job
        keeps running on the server."""
        return await self.calls.wait(job, timeout=self.wait_timeout, on_update=self._observe_job)

    async def _shielded(self, call: Coroutine[Any, Any, T]) -> T:
        """Await a request so that Cancel stops *waiting* but not the request: it runs to
        its end in the background, lands in the ledger, and its outcome is noted here."""
        inner = asyncio.ensure_future(call)
        self._inflight.add(inner)
        inner.add_done_callback(self._inflight.discard)
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            inner.add_done_callback(self._finished_after_cancel)
            raise

    def _finished_after_cancel(self, inner: asyncio.Future[Any]) -> None:
        if inner.cancelled() or self.state.phase is not Phase.CANCELLED:
            if not inner.cancelled() and inner.exception() is not None:
                log.warning("an upscale call ended after Cancel: %s", inner.exception())
            return
        error = inner.exception()
        if error is not None:
            note = f"The request stopped after Cancel: {first_line(error)}"
        else:
            value = inner.result()
            job_id = getattr(value, "job_id", None)
            if getattr(value, "pending", False):
                note = f"The job {job_id} was created and keeps running: press Resume."
            else:
                note = (
                    f"The cancelled upscale finished on the server (job {job_id}), and is in "
                    "the ledger: press Upscale to show it (free, cached)."
                )
            self.state = self.state.with_changes(job_id=job_id or self.state.job_id)
        self._set(self.state.with_changes(note=note))

    def _observe_job(self, job: Job) -> None:
        phase = {"created": Phase.CREATED, "started": Phase.STARTED}.get(job.status)
        if phase is None or not self.state.can_move_to(phase):
            self._set(self.state.with_changes(job_id=job.job_id))
            return
        self._set(self.state.to(phase, now=time.monotonic(), job_id=job.job_id))

    async def _complete(self, result: Any) -> None:
        self._set(
            self.state.to(
                Phase.COMPLETED,
                now=time.monotonic(),
                result=result,
                job_id=result.job_id or self.state.job_id,
            )
        )
        email = policy.decode_account(self.state.source_id)
        self.accounts.learn_balance(email, result.remaining_credits)
        if self.check_links and result.video_url:
            await self.check_video()

    def credits_for(self, result: UpscaleResult) -> CreditView:
        """The balance after ``result`` and what it cost: measured, else the price list."""
        remaining = result.remaining_credits
        if self._balance_before is not None and remaining is not None:
            return CreditView(remaining, self._balance_before - remaining, "balance")
        expected = 0 if result.cached or result.resolution != "4K" else FOUR_K_PRICE
        return CreditView(remaining, expected, "price list")

    async def _heartbeat(self, seconds: float) -> None:
        while self.state.busy:
            await asyncio.sleep(seconds)
            self._changed()

    # -- Cancel, Resume -----------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop waiting at once; the job (or request) keeps running on the server."""
        if not self.state.busy:
            return
        if self.task is not None:
            self.task.cancel()
        job_id = self.state.job_id
        if job_id:
            note = (
                f"Stopped waiting. The job {job_id} keeps running on the server and "
                f"is in the ledger: press Resume, or client.wait({job_id!r})."
            )
        elif self.state.mode == "sync":
            note = (
                "Stopped waiting. The server may still finish this upscale; asking again "
                "is free (cached)."
            )
        else:
            note = "Stopped waiting before the job id arrived; it will be noted here if it does."
        self._set(self.state.to(Phase.CANCELLED, now=time.monotonic(), note=note))

    @property
    def resumable(self) -> bool:
        """A job is known and may still be running (cancelled, timed out, or errored)."""
        phase = self.state.phase
        return phase in (Phase.CANCELLED, Phase.ERROR) and self.state.job_id is not None

    def resume(self) -> None:
        """Wait for the last job again (it kept running on the server)."""
        job_id = self.state.job_id
        if self.state.busy or not job_id or self.state.phase is Phase.COMPLETED:
            return
        request = self.request
        self._set(
            self.state.to(
                Phase.SUBMITTING,
                now=time.monotonic(),
                mode="async",
                job_id=job_id,
                source_id=request.source_id if request else None,
                resolution=request.resolution if request else None,
            )
        )
        self._launch(lambda: self._follow(job_id), name="flowup-resume")

    # -- the result's actions ---------------------------------------------------------------

    async def check_video(self) -> player.LinkCheck | None:
        """Probe the shown video's URL; an expired one offers "Fetch again (free)"."""
        result = self.state.result
        if result is None or not result.video_url:
            return None
        self.link = await asyncio.to_thread(player.check_link, result.video_url)
        self._changed()
        return self.link

    def check_link(self) -> None:
        self._spawn_action(self.check_video(), "flowup-check-link")

    def refetch(self) -> None:
        """Upscale the same video again: free (cached), and brings the video back."""
        if self.state.busy or self.request is None:
            return
        self._start(UpscaleRequest(self.request.source_id, self.request.resolution, "sync", {}))

    def save(self) -> None:
        """Download the shown video into ``download_dir`` (default: the working dir)."""
        if self.state.result is None or self.saving:
            return
        self.saving = True  # at once: a second press finds the save under way
        self._changed()
        if not self._spawn_action(self._save(self.state.result), "flowup-save"):
            self.saving = False
            self._changed()

    async def _save(self, result: UpscaleResult) -> None:
        target = (self.download_dir or Path.cwd()) / video_file_name(result)
        try:
            path = Path(await self.calls.download(result, target))
            size = path.stat().st_size
        except FlowError as exc:
            self.saving = False
            status = getattr(exc, "status_code", None)
            if status in _EXPIRED_LINK:
                self.link = player.LinkCheck(False, status, "the link has expired")
            # Shown with the result still in place: the error box, and Fetch again if due.
            self._set(self.state.with_changes(error=describe_error(exc, datetime.now(UTC))))
            return
        finally:
            self.saving = False
        self.saved_path, self.saved_size = path, size
        self._changed()

    # -- tasks --------------------------------------------------------------------------

    def _spawn_action(self, coro: Coroutine[Any, Any, Any], name: str) -> bool:
        try:
            self._keeper.spawn(coro, name=name)
        except NoRunningLoopError as exc:
            self._set(self.state.with_changes(error=describe_error(exc, datetime.now(UTC))))
            return False
        return True

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this controller's tasks run on (None before the first one)."""
        return self._keeper.loop

    @property
    def settled(self) -> bool:
        """Whether no task started here is still under way."""
        return not self._keeper.tasks and all(f.done() for f in self._inflight)

    async def settle(self) -> None:
        """Wait until every task started here (upscale, checks, saves) has ended."""
        while True:
            await self._keeper.settle()
            pending = [f for f in self._inflight if not f.done()]
            if not pending and not self._keeper.tasks:
                return
            if pending:
                await asyncio.wait(pending)

    def close(self) -> None:
        """Stop the tasks and free the client protocol's workers (the client stays open)."""
        self._keeper.cancel_all()
        self.calls.close()

    # -- errors -------------------------------------------------------------------------

    def show_error(self, error: BaseException) -> None:
        """Show ``error`` (e.g. a field's InputError: nothing was sent)."""
        self._fail(error)

    def _fail(self, error: BaseException) -> None:
        view = describe_error(error, datetime.now(UTC))
        phase = Phase.FAILED if isinstance(error, JobFailedError) else Phase.ERROR
        job_id = getattr(error, "job_id", None) or self.state.job_id
        if isinstance(error, JobTimeoutError):
            phase = Phase.CANCELLED  # still running: resumable
        if not self.state.can_move_to(phase):
            phase = Phase.ERROR
        self._set(self.state.to(phase, now=time.monotonic(), error=view, job_id=job_id, note=None))

    def _show_unexpected(self, error: BaseException) -> None:
        """A task failed with something that is not an API error: a bug. Show it."""
        log.error("UpscaleForm task failed", exc_info=error)
        view = describe_error(error, datetime.now(UTC))
        state = self.state
        if state.can_move_to(Phase.ERROR):
            self._set(state.to(Phase.ERROR, now=time.monotonic(), error=view))
        else:
            self._set(state.with_changes(error=view))


def video_file_name(result: UpscaleResult) -> str:
    """``upscaled-1080p-<id>.mp4``: what Save writes and the download link suggests."""
    ident = (result.media_generation_id or result.job_id or "video").split(":")[-1]
    ident = ident.removesuffix("_upsampled")[:12]
    return f"upscaled-{(result.resolution or 'video').lower()}-{ident}.mp4"
