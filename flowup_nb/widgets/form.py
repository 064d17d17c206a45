"""``UpscaleForm``: pick a video, press Upscale, watch the job, play the result inline.

The widgets only: what the form does (submit, follow, cancel, resume, save, the account
check) lives in :class:`~flowup_nb.widgets.controller.UpscaleController`, which has no
widgets and which this view observes; the HTML comes from ``views.py`` and the player
from ``player.py``. Callbacks are synchronous and never block the kernel: the
controller runs each action as a task on the running loop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import ipywidgets as w

from flowup_nb.api import policy
from flowup_nb.api.errors import InputError
from flowup_nb.api.models import UpscaleResult
from flowup_nb.widgets import views
from flowup_nb.widgets.advice import ErrorView
from flowup_nb.widgets.controller import (
    MODES,
    JobOffer,
    UpscaleController,
    UpscaleRequest,
    video_file_name,
)
from flowup_nb.widgets.controls import (
    CaptchaPicker,
    ResolutionPicker,
    button,
    classed,
    close_tree,
    mode_picker,
)
from flowup_nb.widgets.player import LinkCheck, download_link_html
from flowup_nb.widgets.status import FormState, format_elapsed

__all__ = ["UpscaleForm", "UpscaleRequest"]

_TICK_SECONDS = 0.25  # how often the elapsed time moves while a job runs


class UpscaleForm(w.VBox):
    """A form for ``POST /videos/upscale``: source id, resolution, mode, captcha options,
    Upscale and Cancel, the live status, and the result playing inline.

    ``client``: a FlowClient or AsyncFlowClient; None calls ``fu.connect()`` (the
    simulator when USEAPI_TOKEN is not set) and the form closes it on ``close()``.
    ``ledger``: where to find ids of videos used before (None: the client's own ledger).
    ``download_dir``: where the Save button writes videos (default: the working dir).

    In tests or scripts: set the inputs, call ``form.upscale_button.click()``, then
    ``await form.settle()``; ``form.state`` holds what is shown. ``form.controller``
    does the same without widgets.
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
        # Checked before a client is made, so bad input never leaves one running.
        policy.validate_wait_timeout(wait_timeout)
        if mode not in MODES:
            raise InputError(f"mode must be 'sync' or 'async', got {mode!r}")
        self._owns_client = client is None
        if client is None:
            from flowup_nb.connecting import connect

            client = connect()
        self.controller = UpscaleController(
            client,
            ledger=ledger,
            wait_timeout=wait_timeout,
            check_links=check_links,
            download_dir=download_dir,
            tick=_TICK_SECONDS,
        )
        self._offer_taken: JobOffer | None = None
        self._build(resolution, mode)
        super().__init__([self._card])
        self.add_class("flowup-form")
        self.controller.subscribe(self._render)
        self._fill_sources(source_id)
        self._render()

    # -- the widgets ----------------------------------------------------------------------

    def _build(self, resolution: str, mode: str) -> None:
        # Every part carries a CSS class: the browser tests and the stylesheet find it so.
        self.header = classed(
            w.HTML(
                views.FORM_CSS
                + '<span class="flowup-title">Upscale a video</span>'
                + views.badge_html(
                    simulator=self.controller.simulated,
                    base_url=str(getattr(self.client, "base_url", "")),
                )
            ),
            "header",
        )
        self.source = classed(
            w.Combobox(
                placeholder="paste a mediaGenerationId (user:...-email:...-video:...) or a "
                "job id (j...), or pick one",
                ensure_option=False,
                description="video id",
                layout=w.Layout(width="100%"),
                style={"description_width": "70px"},
            ),
            "source",
        )
        # Beside the chosen video: its account, tier, balance and health.
        self.account_note = classed(w.HTML(layout=w.Layout(margin="0 0 0 74px")), "account")
        # A job id in the id box: what the job offers (its result plays here).
        self.job_view = classed(w.HTML(), "job")
        self.resolution = ResolutionPicker(resolution)
        self.mode = classed(mode_picker(mode), "mode")
        self.captcha = CaptchaPicker()
        self.captcha_box = classed(
            w.Accordion(children=[self.captcha], titles=("Captcha options",)), "captcha-box"
        )
        self.captcha_box.selected_index = None
        controller = self.controller
        self.upscale_button = button(
            "Upscale", "arrow-up", "upscale", self._on_upscale, button_style="primary"
        )
        self.cancel_button = button(
            "Cancel", "stop", "cancel", lambda _: controller.cancel(), disabled=True
        )
        self.resume_button = button(
            "Resume",
            "play",
            "resume",
            lambda _: controller.resume(),
            tooltip="wait for the job again",
        )
        self.status = classed(w.HTML(), "status")
        self.error = classed(w.HTML(), "error")
        self.result_view = classed(w.HTML(), "result-view")
        self.save_button = button("Save video", "download", "save", lambda _: controller.save())
        self.check_button = button(
            "Check link", "link", "check-link", lambda _: controller.check_link()
        )
        self.refetch_button = button(
            "Fetch again (free)",
            "refresh",
            "refetch",
            lambda _: controller.refetch(),
            button_style="warning",
            tooltip="upscale the same video again: the server caches it, no credits",
        )
        self.download_link = classed(w.HTML(), "download")
        self.actions_note = classed(w.HTML(), "actions-note")
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
        self.source.observe(self._on_source_changed, names="value")
        self._card = w.VBox(
            [
                self.header,
                self.source,
                self.account_note,
                self.job_view,
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
    def client(self) -> Any:
        return self.controller.client

    @property
    def state(self) -> FormState:
        return self.controller.state

    @property
    def busy(self) -> bool:
        return self.controller.busy

    @property
    def result(self) -> UpscaleResult | None:
        """The last UpscaleResult shown (None before the first one)."""
        return self.controller.result

    @property
    def link(self) -> LinkCheck | None:
        """What the last check of the video's URL found (None: not checked)."""
        return self.controller.link

    @property
    def saved_path(self) -> Path | None:
        return self.controller.saved_path

    @property
    def wait_timeout(self) -> float:
        return self.controller.wait_timeout

    @wait_timeout.setter
    def wait_timeout(self, seconds: float) -> None:
        self.controller.wait_timeout = seconds

    async def check_video(self) -> LinkCheck | None:
        """Probe the shown video's URL; an expired one offers "Fetch again (free)"."""
        return await self.controller.check_video()

    async def settle(self) -> None:
        """Wait until every task the form started (upscale, checks, saves) has ended."""
        await self.controller.settle()

    def wait(self) -> FormState:
        """Block until the form's work is done; its state. In a kernel the loop is
        re-entered (nest_asyncio); one that cannot be (uvloop, FLOWUP_NO_NEST_ASYNCIO)
        raises LoopNotReentrantError at once: ``await form.settle()`` in the cell then."""
        from flowup_nb.runloop import run_sync

        if not self.controller.settled:
            run_sync(self.settle(), home=self.controller.loop, instead="await form.settle()")
        return self.state

    def __repr__(self) -> str:
        # What a front end without widgets (a terminal, nbconvert, a plain text console)
        # shows instead of the form: where it stands, and how to do the same in code.
        state = self.state
        return (
            f"UpscaleForm({state.status_text(time.monotonic())}; this front end cannot show "
            "widgets: use client.upscale(video_id) in code, or open the notebook in "
            "JupyterLab, Notebook 7, VS Code or Voila)"
        )

    def close(self) -> None:
        """Stop the form's tasks, close its widgets, and the client it made itself."""
        # ipywidgets' __del__ calls close() on a form whose __init__ refused its arguments
        # too, so only what was built is closed (else a traceback at interpreter exit).
        controller = getattr(self, "controller", None)
        if controller is not None:
            controller.close()
            if self._owns_client:
                closer = getattr(self.client, "close", None)
                if callable(closer):
                    closer()
        card = getattr(self, "_card", None)
        if card is not None:
            close_tree(card)
        super().close()

    def _fill_sources(self, source_id: str | None) -> None:
        ids = self.controller.known_ids()
        self.source.options = ids
        if source_id is not None:
            self.source.value = source_id
        elif ids:
            self.source.value = ids[0]
        else:
            self._on_source_changed()

    def _on_source_changed(self, _change: object = None) -> None:
        self.controller.select_source(self.source.value)

    def _take_job_offer(self, offer: JobOffer | None) -> None:
        """Once per job looked up: offer its videos in the id box, its source chosen."""
        if offer is None or offer is self._offer_taken:
            return
        self._offer_taken = offer
        if offer.videos:
            known = [i for i in self.source.options if i not in offer.videos]
            self.source.options = (*offer.videos, *known)
            self.source.value = offer.videos[0]

    def _on_upscale(self, _button: object = None) -> None:
        if self.controller.busy:
            return  # a double click: the first one is already on its way
        try:
            captcha = self.captcha.options()
        except InputError as exc:
            self.controller.show_error(exc)
            return
        self.controller.upscale(self.source.value, self.resolution.value, self.mode.value, captcha)

    # -- rendering ------------------------------------------------------------------------

    def _render(self, _controller: object = None) -> None:
        controller = self.controller
        self._take_job_offer(controller.job_offer)
        state = controller.state
        busy = state.busy
        refused = controller.upscale_verdict
        self.upscale_button.disabled = busy or not refused.allowed
        self.upscale_button.tooltip = refused.reason
        self.upscale_button.description = "Upscaling…" if busy else "Upscale"
        self.account_note.value = views.account_html(controller.account_text, refused)
        self.job_view.value = views.job_html(controller.job_note, controller.job_offer)
        self.cancel_button.disabled = not busy
        self.resume_button.layout.display = None if controller.resumable else "none"
        self.resolution.set_four_k(controller.verdict)
        now = time.monotonic()
        self.status.value = views.status_html(state, now)
        self.error.value = (
            views.error_html(state.error) if isinstance(state.error, ErrorView) else ""
        )
        self.actions_note.value = views.saved_html(
            saving=controller.saving, path=controller.saved_path, size=controller.saved_size
        )
        result = state.result
        if result is None:
            self.result_view.value = ""
            self.actions.layout.display = "none"
            return
        elapsed = state.elapsed(now)
        self.result_view.value = views.result_html(
            result,
            credits=controller.credits_for(result),
            elapsed=format_elapsed(elapsed) if elapsed is not None else None,
            link_status=views.link_text(result, controller.link, checking=controller.check_links),
        )
        self.actions.layout.display = None
        expired = controller.link is not None and not controller.link.ok
        self.refetch_button.layout.display = None if expired else "none"
        self.check_button.layout.display = None if result.video_url else "none"
        self.download_link.value = download_link_html(result, video_file_name(result))
