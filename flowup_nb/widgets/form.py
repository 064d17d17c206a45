"""``UpscaleForm``: pick a video, press Upscale, watch the job, play the result inline.

A thin ipywidgets shell over the pure pieces: the state machine (``status.py``), the
error advice (``advice.py``), the 4K rule (``eligibility.py``), the HTML (``views.py``)
and the player (``player.py``). Callbacks are synchronous and never block the kernel:
each click starts a task on the running loop (``tasks.py``). A blocking
:class:`FlowClient` runs in a worker thread; an :class:`AsyncFlowClient` is awaited.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ipywidgets as w

from flowup_nb.api import policy
from flowup_nb.api.errors import (
    FlowError,
    InputError,
    JobFailedError,
    JobTimeoutError,
    ResponseFormatError,
)
from flowup_nb.widgets.advice import ErrorView, describe_error
from flowup_nb.widgets.controls import CaptchaPicker, ResolutionPicker
from flowup_nb.widgets.eligibility import (
    FOUR_K_COST,
    AccountInfo,
    account_info,
    four_k_verdict,
)
from flowup_nb.widgets.player import LinkCheck, check_link, download_link_html
from flowup_nb.widgets.status import FormState, Phase, format_elapsed
from flowup_nb.widgets.tasks import NoRunningLoopError, TaskKeeper
from flowup_nb.widgets.views import (
    FORM_CSS,
    CreditView,
    badge_html,
    error_html,
    result_html,
    status_html,
)

__all__ = ["UpscaleForm", "UpscaleRequest"]

log = logging.getLogger("flowup_nb.widgets")

_TICK_SECONDS = 0.25  # how often the elapsed time moves while a job runs
_MAX_SOURCE_OPTIONS = 40


@dataclass(frozen=True, slots=True)
class UpscaleRequest:
    """What one press of Upscale asks for, validated before anything is sent."""

    source_id: str
    resolution: str
    mode: str  # "sync" | "async"
    captcha: dict[str, Any]


class _Calls:
    """One awaitable surface over either client: a FlowClient's blocking calls run in a
    worker thread (the kernel's loop stays free), an AsyncFlowClient's are awaited."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.is_async = inspect.iscoroutinefunction(getattr(client, "upscale", None))

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.client, name)
        if self.is_async:
            return await method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)


class UpscaleForm(w.VBox):
    """A form for ``POST /videos/upscale``: source id, resolution, mode, captcha options,
    Upscale and Cancel, the live status, and the result playing inline.

    ``client``: a FlowClient or AsyncFlowClient; None calls ``fu.connect()`` (the
    simulator when USEAPI_TOKEN is not set) and the form closes it on ``close()``.
    ``ledger``: where to find ids of videos used before (None: the default ledger).
    ``download_dir``: where the Save button writes videos (default: the working dir).

    In tests or scripts: set the inputs, call ``form.upscale_button.click()``, then
    ``await form.settle()``; ``form.state`` holds what is shown.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        ledger: Any = None,
        source_id: str | None = None,
        resolution: str = "1080p",
        mode: str = "sync",
        download_dir: str | Path | None = None,
        wait_timeout: float = 900.0,
        check_links: bool = True,
    ) -> None:
        self._owns_client = client is None
        if client is None:
            from flowup_nb.api.connecting import connect

            client = connect()
        self.client = client
        self._calls = _Calls(client)
        self._ledger = ledger
        self.download_dir = Path(download_dir) if download_dir is not None else None
        self.wait_timeout = policy.validate_wait_timeout(wait_timeout)
        self.check_links = check_links
        self.state = FormState()
        self.task: asyncio.Task[Any] | None = None
        self.link: LinkCheck | None = None
        self.saved_path: Path | None = None
        self._request: UpscaleRequest | None = None
        self._accounts: dict[str, AccountInfo] = {}
        self._account_checks: set[str] = set()
        self._balance_before: int | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._keeper = TaskKeeper(self._show_unexpected)
        self._build(resolution, mode)
        super().__init__([self._card])
        self.add_class("flowup-form")
        self._fill_sources(source_id)
        self._render()

    # -- the widgets ----------------------------------------------------------------------

    def _build(self, resolution: str, mode: str) -> None:
        simulator = _talks_to_simulator(self.client)
        self.header = w.HTML(
            FORM_CSS
            + '<span class="flowup-title">Upscale a video</span>'
            + badge_html(simulator=simulator, base_url=str(getattr(self.client, "base_url", "")))
        )
        self.source = w.Combobox(
            placeholder="paste a mediaGenerationId (user:...-email:...-video:...) or pick one",
            ensure_option=False,
            description="video id",
            layout=w.Layout(width="100%"),
            style={"description_width": "70px"},
        )
        self.resolution = ResolutionPicker(resolution)
        if mode not in ("sync", "async"):
            raise InputError(f"mode must be 'sync' or 'async', got {mode!r}")
        self.mode = w.ToggleButtons(
            options=[("wait (sync)", "sync"), ("job (async)", "async")],
            value=mode,
            tooltips=[
                "one request that returns when the video is ready",
                "returns a job at once, then polls GET /jobs until it completes",
            ],
        )
        self.mode.style.button_width = "100px"
        self.captcha = CaptchaPicker()
        self.captcha_box = w.Accordion(children=[self.captcha], titles=("Captcha options",))
        self.captcha_box.selected_index = None
        self.upscale_button = w.Button(
            description="Upscale", button_style="primary", icon="arrow-up"
        )
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.resume_button = w.Button(
            description="Resume", icon="play", tooltip="wait for the job again"
        )
        self.status = w.HTML()
        self.error = w.HTML()
        self.result_view = w.HTML()
        self.save_button = w.Button(description="Save video", icon="download")
        self.check_button = w.Button(description="Check link", icon="link")
        self.refetch_button = w.Button(
            description="Fetch again (free)",
            icon="refresh",
            button_style="warning",
            tooltip="upscale the same video again: the server caches it, no credits",
        )
        self.download_link = w.HTML()
        self.actions_note = w.HTML()
        self.actions = w.HBox(
            [
                self.save_button,
                self.check_button,
                self.refetch_button,
                self.download_link,
                self.actions_note,
            ],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        for widget, name in (
            (self.header, "flowup-header"),
            (self.source, "flowup-source"),
            (self.mode, "flowup-mode"),
            (self.captcha_box, "flowup-captcha-box"),
            (self.upscale_button, "flowup-upscale"),
            (self.cancel_button, "flowup-cancel"),
            (self.resume_button, "flowup-resume"),
            (self.status, "flowup-status"),
            (self.error, "flowup-error"),
            (self.result_view, "flowup-result-view"),
            (self.save_button, "flowup-save"),
            (self.check_button, "flowup-check-link"),
            (self.refetch_button, "flowup-refetch"),
            (self.download_link, "flowup-download"),
            (self.actions_note, "flowup-actions-note"),
        ):
            widget.add_class(name)
        self.upscale_button.on_click(self._on_upscale)
        self.cancel_button.on_click(self._on_cancel)
        self.resume_button.on_click(self._on_resume)
        self.save_button.on_click(self._on_save)
        self.check_button.on_click(self._on_check_link)
        self.refetch_button.on_click(self._on_refetch)
        self.source.observe(self._on_source_changed, names="value")
        self._card = w.VBox(
            [
                self.header,
                self.source,
                w.HBox([self.resolution, self.mode], layout=w.Layout(flex_flow="row wrap")),
                self.captcha_box,
                w.HBox([self.upscale_button, self.cancel_button, self.resume_button]),
                self.status,
                self.error,
                self.result_view,
                self.actions,
            ]
        )
        self._card.add_class("flowup-card")

    # -- public surface -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.state.busy

    @property
    def result(self) -> Any:
        """The last UpscaleResult shown (None before the first one)."""
        return self.state.result

    async def settle(self) -> None:
        """Wait until every task the form started (upscale, checks, saves) has ended."""
        while True:
            await self._keeper.settle()
            pending = [f for f in self._inflight if not f.done()]
            if not pending and not self._keeper.tasks:
                return
            if pending:
                await asyncio.wait(pending)

    def wait(self) -> FormState:
        """Block until the form's work is done and return its state: for scripted use,
        e.g. ``form.upscale_button.click(); form.wait()`` in one notebook cell.

        Inside a kernel this runs the kernel's own loop re-entrantly (nest_asyncio,
        applied on first use), so the form's tasks make progress while the cell waits.
        """
        from flowup_nb.runloop import run_sync

        run_sync(self.settle())
        return self.state

    def close(self) -> None:
        """Stop the form's tasks, close its widgets, and the client it made itself."""
        self._keeper.cancel_all()
        if self._owns_client:
            closer = getattr(self.client, "close", None)
            if callable(closer):
                closer()
        _close_tree(self._card)
        super().close()

    # -- sources and accounts -----------------------------------------------------------

    def _fill_sources(self, source_id: str | None) -> None:
        ids = self._known_ids()
        self.source.options = ids
        if source_id is not None:
            self.source.value = source_id
        elif ids:
            self.source.value = ids[0]
        else:
            self._on_source_changed()

    def _known_ids(self) -> tuple[str, ...]:
        """Videos to offer: the simulator's samples, then sources from the ledger."""
        ids: list[str] = []
        simulator = getattr(self.client, "simulator", None)
        if simulator is not None:
            ids.extend(simulator.sample_ids())
        ids.extend(self._ledger_ids())
        return tuple(dict.fromkeys(ids))[:_MAX_SOURCE_OPTIONS]

    def _ledger_ids(self) -> list[str]:
        try:
            ledger = self._ledger
            if ledger is None:
                from flowup_nb.ledger import default_ledger

                ledger = default_ledger()
            frame = ledger.frame(since="30 days")
        except Exception as exc:  # an unreadable ledger must not break the form
            log.warning("UpscaleForm: could not read video ids from the ledger: %s", exc)
            return []
        if frame.empty:
            return []
        frame = frame.sort_values("started_at", ascending=False)
        upscaled = frame.loc[frame["operation"].isin(["upscale", "submit_upscale"]), "source_id"]
        generated = frame.loc[frame["operation"] == "generate_video", "result_id"]
        ids = [i for i in [*upscaled.dropna(), *generated.dropna()] if isinstance(i, str)]
        live = not _talks_to_simulator(self.client)
        return [
            i
            for i in ids
            if (email := policy.decode_account(i))
            and not i.endswith("_upsampled")
            # Simulated accounts live on example.com (reserved: never a real account).
            and not (live and email.endswith("@example.com"))
        ]

    def _on_source_changed(self, _change: object = None) -> None:
        email = policy.decode_account(self.source.value.strip())
        if email is None:
            self.resolution.set_four_k(four_k_verdict(None))
            return
        if email in self._accounts:
            self.resolution.set_four_k(four_k_verdict(self._accounts[email]))
            return
        self.resolution.set_four_k(four_k_verdict(None).with_reason("checking the account…"))
        self._check_account(email)

    def _check_account(self, email: str) -> None:
        if email in self._account_checks or not hasattr(self.client, "get_account"):
            return
        self._account_checks.add(email)
        try:
            self._keeper.spawn(self._load_account(email), name=f"flowup-account-{email}")
        except NoRunningLoopError:
            self._account_checks.discard(email)
            self.resolution.set_four_k(four_k_verdict(None))

    async def _load_account(self, email: str) -> None:
        try:
            account = await self._calls("get_account", email)
        except FlowError as exc:
            info = AccountInfo(email=email, credits=None, tier=None)
            self._accounts[email] = info
            self._apply_account(email, note=f"could not check {email}: {_first_line(exc)}")
            return
        finally:
            self._account_checks.discard(email)
        self._accounts[email] = account_info(email, account)
        self._apply_account(email)

    def _apply_account(self, email: str, note: str | None = None) -> None:
        if policy.decode_account(self.source.value.strip()) != email:
            return  # the person picked another video meanwhile
        verdict = four_k_verdict(self._accounts.get(email))
        if note:
            verdict = verdict.with_reason(note)
        self.resolution.set_four_k(verdict)

    def _learn_balance(self, email: str | None, remaining: int | None) -> None:
        if email is None or remaining is None:
            return
        known = self._accounts.get(email, AccountInfo(email=email, credits=None, tier=None))
        self._accounts[email] = AccountInfo(email=email, credits=remaining, tier=known.tier)
        self._apply_account(email)

    # -- Upscale ------------------------------------------------------------------------

    def _read_request(self) -> UpscaleRequest:
        source = policy.validate_media_generation_id(self.source.value.strip())
        resolution = policy.validate_resolution(self.resolution.value)
        if resolution == "4K" and not self.resolution.four_k_allowed:
            raise InputError(f"4K is not available: {self.resolution.reason_text}")
        captcha = self.captcha.options()
        policy.validate_captcha(**captcha)
        return UpscaleRequest(source, resolution, self.mode.value, captcha)

    def _on_upscale(self, _button: object = None) -> None:
        if self.state.busy:
            return  # a double click: the first one is already on its way
        try:
            request = self._read_request()
        except InputError as exc:
            self._fail(exc)
            return
        self._start(request)

    def _start(self, request: UpscaleRequest) -> None:
        email = policy.decode_account(request.source_id)
        known = self._accounts.get(email) if email else None
        self._balance_before = known.credits if known else None
        self._request = request
        self.link = None
        self.saved_path = None
        # Busy before the task even starts: a second click now finds the form busy.
        self._set_state(
            self.state.to(
                Phase.SUBMITTING,
                now=time.monotonic(),
                mode=request.mode,
                source_id=request.source_id,
                resolution=request.resolution,
            )
        )
        self._launch(self._run, request, name="flowup-upscale")

    def _launch(
        self, work: Callable[[Any], Coroutine[Any, Any, None]], arg: Any, *, name: str
    ) -> None:
        """Run ``work(arg)`` as the form's task, with the elapsed-time ticker beside it."""
        try:
            self.task = self._keeper.spawn(work(arg), name=name)
        except NoRunningLoopError as exc:
            self._fail(exc)
            return
        self._keeper.spawn(self._tick(), name="flowup-elapsed")

    async def _run(self, request: UpscaleRequest) -> None:
        try:
            if request.mode == "sync":
                result = await self._shielded(
                    "upscale", request.source_id, request.resolution, **request.captcha
                )
            else:
                job = await self._shielded(
                    "submit_upscale", request.source_id, request.resolution, **request.captcha
                )
                self._observe_job(job)
                result = await self._follow(job)
        except asyncio.CancelledError:
            raise
        except FlowError as exc:
            self._fail(exc)
            return
        await self._complete(result)

    async def _shielded(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the API so that Cancel stops *waiting* but not the request: it runs to its
        end in the background, lands in the ledger, and its outcome is noted here."""
        inner = asyncio.ensure_future(self._calls(name, *args, **kwargs))
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
            note = f"The request stopped after Cancel: {_first_line(error)}"
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
            self._set_state(self.state.with_changes(job_id=job_id or self.state.job_id))
        self._set_state(self.state.with_changes(note=note))

    async def _follow(self, job: Any) -> Any:
        """Poll the job until it ends, on the client's schedule. Cancelling stops polling;
        the job keeps running on the server."""
        schedule = self.client.poll_schedule
        deadline = time.monotonic() + self.wait_timeout
        polls = 0
        while job.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JobTimeoutError(job.job_id, self.wait_timeout, job)
            await asyncio.sleep(min(schedule.delay(polls), left))
            polls += 1
            job = await self._calls("get_job", job.job_id)
            self._observe_job(job)
        if job.status == "failed":
            raise JobFailedError(job)
        if job.result is None:
            raise ResponseFormatError(
                f"job {job.job_id} is {job.status!r} but carries no result",
                status_code=200,
            )
        return job.result

    def _observe_job(self, job: Any) -> None:
        phase = {"created": Phase.CREATED, "started": Phase.STARTED}.get(job.status)
        if phase is None or not self.state.can_move_to(phase):
            self._set_state(self.state.with_changes(job_id=job.job_id))
            return
        self._set_state(self.state.to(phase, now=time.monotonic(), job_id=job.job_id))

    async def _complete(self, result: Any) -> None:
        email = policy.decode_account(self.state.source_id)
        self._set_state(
            self.state.to(
                Phase.COMPLETED,
                now=time.monotonic(),
                result=result,
                job_id=result.job_id or self.state.job_id,
            )
        )
        self._learn_balance(email, result.remaining_credits)
        self._render()
        if self.check_links and result.video_url:
            await self.check_video()

    def _credit_view(self, result: Any) -> CreditView:
        remaining = result.remaining_credits
        if self._balance_before is not None and remaining is not None:
            return CreditView(remaining, self._balance_before - remaining, "balance")
        expected = 0 if result.cached or result.resolution != "4K" else FOUR_K_COST
        return CreditView(remaining, expected, "price list")

    async def _tick(self) -> None:
        while self.state.busy:
            self._render_status()
            await asyncio.sleep(_TICK_SECONDS)
        self._render_status()

    # -- Cancel, Resume -------------------------------------------------------------------

    def _on_cancel(self, _button: object = None) -> None:
        if not self.state.busy:
            return
        if self.task is not None:
            self.task.cancel()
        if self.state.job_id:
            note = (
                f"Stopped waiting. The job {self.state.job_id} keeps running on the server and "
                f"is in the ledger: press Resume, or client.wait({self.state.job_id!r})."
            )
        elif self.state.mode == "sync":
            note = (
                "Stopped waiting. The server may still finish this upscale; asking again "
                "is free (cached)."
            )
        else:
            note = "Stopped waiting before the job id arrived; it will be noted here if it does."
        self._set_state(self.state.to(Phase.CANCELLED, now=time.monotonic(), note=note))

    def _on_resume(self, _button: object = None) -> None:
        job_id = self.state.job_id
        if self.state.busy or not job_id or self.state.phase is Phase.COMPLETED:
            return
        request = self._request
        self._set_state(
            self.state.to(
                Phase.SUBMITTING,
                now=time.monotonic(),
                mode="async",
                job_id=job_id,
                source_id=request.source_id if request else None,
                resolution=request.resolution if request else None,
            )
        )
        self._launch(self._resume, job_id, name="flowup-resume")

    async def _resume(self, job_id: str) -> None:
        try:
            job = await self._calls("get_job", job_id)
            self._observe_job(job)
            result = await self._follow(job)
        except asyncio.CancelledError:
            raise
        except FlowError as exc:
            self._fail(exc)
            return
        await self._complete(result)

    # -- the result's actions -------------------------------------------------------------

    async def check_video(self) -> LinkCheck | None:
        """Probe the shown video's URL; an expired one offers "Fetch again (free)"."""
        result = self.state.result
        if result is None or not result.video_url:
            return None
        self.link = await asyncio.to_thread(check_link, result.video_url)
        self._render()
        return self.link

    def _on_check_link(self, _button: object = None) -> None:
        self._spawn_action(self.check_video(), "flowup-check-link")

    def _on_refetch(self, _button: object = None) -> None:
        if self.state.busy or self._request is None:
            return
        # A repeat upscale is free (cached) and brings the video back, inline or re-signed.
        self._start(UpscaleRequest(self._request.source_id, self._request.resolution, "sync", {}))

    def _on_save(self, _button: object = None) -> None:
        if self.state.result is None:
            return
        self._spawn_action(self._save(), "flowup-save")

    async def _save(self) -> None:
        result = self.state.result
        folder = self.download_dir or Path.cwd()
        target = folder / _file_name(result)
        self.actions_note.value = '<span class="flowup-muted">saving…</span>'
        try:
            path = await self._calls("download", result, target)
        except FlowError as exc:
            self.actions_note.value = ""
            if getattr(exc, "status_code", None) in (401, 403, 410):
                self.link = LinkCheck(False, exc.status_code, "the link has expired")
            # Shown with the result still in place: the error box, and Fetch again if due.
            self._set_state(self.state.with_changes(error=describe_error(exc, datetime.now(UTC))))
            return
        self.saved_path = Path(path)
        size = self.saved_path.stat().st_size
        self.actions_note.value = (
            f'<span class="flowup-muted flowup-saved">saved {html.escape(str(self.saved_path))} '
            f"({size / 1024:.0f} kB)</span>"
        )

    def _spawn_action(self, coro: Any, name: str) -> None:
        try:
            self._keeper.spawn(coro, name=name)
        except NoRunningLoopError as exc:
            self._set_state(self.state.with_changes(error=describe_error(exc, datetime.now(UTC))))

    # -- errors -------------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        view = describe_error(error, datetime.now(UTC))
        phase = Phase.FAILED if isinstance(error, JobFailedError) else Phase.ERROR
        job_id = getattr(error, "job_id", None) or self.state.job_id
        if isinstance(error, JobTimeoutError):
            phase = Phase.CANCELLED  # still running: resumable
        if not self.state.can_move_to(phase):
            phase = Phase.ERROR
        self._set_state(
            self.state.to(phase, now=time.monotonic(), error=view, job_id=job_id, note=None)
        )

    def _show_unexpected(self, error: BaseException) -> None:
        """A task failed with something that is not an API error: a bug. Show it."""
        log.error("UpscaleForm task failed", exc_info=error)
        view = describe_error(error, datetime.now(UTC))
        now = time.monotonic()
        state = self.state
        state = (
            state.to(Phase.ERROR, now=now, error=view)
            if state.can_move_to(Phase.ERROR)
            else state.with_changes(error=view)
        )
        self._set_state(state)

    # -- rendering ------------------------------------------------------------------------

    def _set_state(self, state: FormState) -> None:
        self.state = state
        self._render()

    def _render(self) -> None:
        state = self.state
        busy = state.busy
        self.upscale_button.disabled = busy
        self.upscale_button.description = "Upscaling…" if busy else "Upscale"
        self.cancel_button.disabled = not busy
        resumable = (
            state.phase in (Phase.CANCELLED, Phase.ERROR, Phase.FAILED)
            and state.job_id is not None
            and state.phase is not Phase.FAILED
        )
        self.resume_button.layout.display = None if resumable else "none"
        self._render_status()
        self.error.value = error_html(state.error) if isinstance(state.error, ErrorView) else ""
        result = state.result
        if result is None:
            self.result_view.value = ""
            self.actions.layout.display = "none"
            return
        elapsed = state.elapsed(time.monotonic())
        self.result_view.value = result_html(
            result,
            credits=self._credit_view(result),
            elapsed=format_elapsed(elapsed) if elapsed is not None else None,
            link_status=self._link_text(result),
        )
        self.actions.layout.display = None
        expired = self.link is not None and not self.link.ok
        self.refetch_button.layout.display = None if expired else "none"
        self.check_button.layout.display = None if result.video_url else "none"
        self.download_link.value = download_link_html(result, _file_name(result))

    def _render_status(self) -> None:
        self.status.value = status_html(self.state, time.monotonic())

    def _link_text(self, result: Any) -> str | None:
        if not result.video_url:
            return None
        if self.link is None:
            return "not checked yet" if self.check_links else None
        if self.link.ok:
            return "ok: the signed URL serves the video"
        return f"{self.link.reason}: press Fetch again (free)"


def _file_name(result: Any) -> str:
    ident = (result.media_generation_id or result.job_id or "video").split(":")[-1]
    ident = ident.removesuffix("_upsampled")[:12]
    return f"upscaled-{(result.resolution or 'video').lower()}-{ident}.mp4"


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def _talks_to_simulator(client: Any) -> bool:
    """The embedded simulator (connect() marks it), or any server on this machine."""
    if getattr(client, "simulator", None) is not None:
        return True
    host = urlsplit(str(getattr(client, "base_url", ""))).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def _close_tree(widget: w.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
