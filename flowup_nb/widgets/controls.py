"""Two composite inputs of the form: the resolution choice and the captcha options.

Both are small widgets with a plain Python ``value``-style surface, so the form (and
its tests) never deal with their inner toggles directly.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from flowup_nb.api.accounts import Verdict
from flowup_nb.api.errors import InputError
from flowup_nb.api.policy import CAPTCHA_PROVIDERS, CAPTCHA_RETRY_RANGE
from flowup_nb.api.prices import FOUR_K_PRICE

__all__ = ["CaptchaPicker", "ResolutionPicker"]


class ResolutionPicker(w.HBox):
    """1080p or 4K. 4K shows its price, and can be disabled with a reason beside it.

    Two toggle buttons rather than one ToggleButtons widget: only separate buttons can
    disable one option and keep it visible.
    """

    def __init__(self, value: str = "1080p") -> None:
        self.hd = w.ToggleButton(
            description="1080p · free",
            tooltip="1080p upscaling is free on paid accounts",
            layout=w.Layout(width="130px"),
        )
        self.uhd = w.ToggleButton(
            description=f"4K · {FOUR_K_PRICE} credits",
            tooltip=f"4K costs {FOUR_K_PRICE} credits and needs Google AI Ultra",
            layout=w.Layout(width="150px"),
        )
        self.reason = w.HTML(layout=w.Layout(margin="0 0 0 10px"))
        self.hd.add_class("flowup-res-1080p")
        self.uhd.add_class("flowup-res-4k")
        self.reason.add_class("flowup-4k-reason")
        self._syncing = False
        super().__init__([self.hd, self.uhd, self.reason])
        self.add_class("flowup-resolution")
        self.hd.observe(self._toggled, names="value")
        self.uhd.observe(self._toggled, names="value")
        self.value = value

    @property
    def value(self) -> str:
        return "4K" if self.uhd.value else "1080p"

    @value.setter
    def value(self, value: str) -> None:
        if value not in ("1080p", "4K"):
            raise InputError(f"resolution must be '1080p' or '4K', got {value!r}")
        if value == "4K" and self.uhd.disabled:
            raise InputError(f"4K is not available here: {self.reason_text}")
        self._syncing = True
        try:
            self.hd.value = value == "1080p"
            self.uhd.value = value == "4K"
        finally:
            self._syncing = False

    @property
    def four_k_allowed(self) -> bool:
        return not self.uhd.disabled

    @property
    def reason_text(self) -> str:
        return self.uhd.tooltip or ""

    def set_four_k(self, verdict: Verdict) -> None:
        """Enable or disable 4K, with the reason shown beside it."""
        self.uhd.disabled = not verdict.allowed
        self.uhd.tooltip = verdict.reason
        colour = "#667085" if verdict.allowed else "#b42318"
        self.reason.value = (
            f'<span style="font-size:12px;color:{colour}">{html.escape(verdict.reason)}</span>'
        )
        if not verdict.allowed and self.uhd.value:
            self.value = "1080p"

    def _toggled(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        clicked = change["owner"]
        other = self.uhd if clicked is self.hd else self.hd
        self._syncing = True
        try:
            if change["new"]:
                other.value = False
            elif not other.value:
                clicked.value = True  # one of the two is always chosen
        finally:
            self._syncing = False


class CaptchaPicker(w.VBox):
    """How the server should solve the captcha: its default, a retry count, a provider
    order, or a solved token. One choice, one field: the options are exclusive by
    construction, as the API requires."""

    KINDS = (
        ("server default", "default"),
        ("retry count", "retry"),
        ("provider order", "order"),
        ("my token", "token"),
    )

    def __init__(self) -> None:
        low, high = CAPTCHA_RETRY_RANGE
        self.kind = w.ToggleButtons(options=self.KINDS, value="default")
        self.kind.style.button_width = "110px"
        self.retry = w.BoundedIntText(
            value=5, min=low, max=high, description="attempts", layout=w.Layout(width="180px")
        )
        self.order = w.TagsInput(
            value=[], allowed_tags=list(CAPTCHA_PROVIDERS), allow_duplicates=False
        )
        self.token = w.Password(
            placeholder="a solved reCAPTCHA v3 Enterprise token (20+ characters)",
            layout=w.Layout(width="420px"),
        )
        self.help = w.HTML()
        for widget, name in (
            (self.kind, "flowup-captcha-kind"),
            (self.retry, "flowup-captcha-retry"),
            (self.order, "flowup-captcha-order"),
            (self.token, "flowup-captcha-token"),
        ):
            widget.add_class(name)
        super().__init__([self.kind, self.retry, self.order, self.token, self.help])
        self.add_class("flowup-captcha")
        self.kind.observe(self._show_field, names="value")
        self._show_field()

    def options(self) -> dict[str, Any]:
        """The client keyword arguments for the chosen option (at most one)."""
        kind = self.kind.value
        if kind == "retry":
            return {"captcha_retry": int(self.retry.value)}
        if kind == "order":
            if not self.order.value:
                raise InputError(
                    "captcha provider order is empty: add providers (e.g. CapSolver), or "
                    "choose 'server default'"
                )
            return {"captcha_order": list(self.order.value)}
        if kind == "token":
            return {"captcha_token": self.token.value}
        return {}

    def _show_field(self, _change: object = None) -> None:
        kind = self.kind.value
        for widget, shown in (
            (self.retry, kind == "retry"),
            (self.order, kind == "order"),
            (self.token, kind == "token"),
        ):
            widget.layout.display = None if shown else "none"
        self.help.value = _CAPTCHA_HELP[kind]


_CAPTCHA_HELP = {
    "default": (
        '<span style="font-size:12px;color:#667085">The server tries the account\'s '
        "providers (3-5 attempts).</span>"
    ),
    "retry": (
        '<span style="font-size:12px;color:#667085">1-10 attempts; the docs advise 5 or more '
        "after a captcha rejection.</span>"
    ),
    "order": (
        '<span style="font-size:12px;color:#667085">Providers tried in this order; each must '
        "be configured on the account.</span>"
    ),
    "token": (
        '<span style="font-size:12px;color:#667085">One attempt with your pre-solved token '
        "(shown as UserProvided).</span>"
    ),
}


def classed(widget: Any, name: str) -> Any:
    """``widget`` with the CSS class ``flowup-<name>``: the stylesheet and the browser
    tests find the form's parts by it."""
    widget.add_class(f"flowup-{name}")
    return widget


def button(description: str, icon: str, name: str, on_click: Any, **traits: Any) -> Any:
    """A classed button that calls ``on_click(button)`` when pressed."""
    made = classed(w.Button(description=description, icon=icon, **traits), name)
    made.on_click(on_click)
    return made


def mode_picker(mode: str) -> Any:
    """Sync (one request that returns with the video) or async (a job, then polls)."""
    picker = w.ToggleButtons(
        options=[("wait (sync)", "sync"), ("job (async)", "async")],
        value=mode,
        tooltips=[
            "one request that returns when the video is ready",
            "returns a job at once, then polls GET /jobs until it completes",
        ],
    )
    picker.style.button_width = "100px"
    return picker


def close_tree(widget: Any) -> None:
    """Close a widget and everything inside it (ipywidgets closes only the one)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()
