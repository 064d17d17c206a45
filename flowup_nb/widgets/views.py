"""HTML for what the form shows: pure functions of the state, the result and the error.

Kept apart from the widgets so each piece can be checked (and restyled) without a
kernel. Every value that comes from the API or the user is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowup_nb.api.media import public_url
from flowup_nb.widgets.advice import ErrorView
from flowup_nb.widgets.player import LinkCheck, video_html
from flowup_nb.widgets.status import FormState, Phase

__all__ = [
    "FORM_CSS",
    "CreditView",
    "account_html",
    "badge_html",
    "captcha_text",
    "error_html",
    "job_html",
    "link_text",
    "result_html",
    "saved_html",
    "status_html",
]

FORM_CSS = """
<style>
.flowup-form { font-family: var(--jp-ui-font-family, system-ui, sans-serif); }
.flowup-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px;
  background: #fff; max-width: 880px; }
.flowup-title { font-size: 16px; font-weight: 600; margin-right: 10px; }
.flowup-pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 11px;
  font-weight: 700; letter-spacing: .04em; vertical-align: middle; }
.flowup-pill-sim { background: #fff3cd; color: #7a5b00; border: 1px solid #e0c36a; }
.flowup-pill-live { background: #dcfce7; color: #166534; border: 1px solid #86efac; }
.flowup-phase { display: inline-block; min-width: 76px; text-align: center; padding: 1px 8px;
  border-radius: 10px; font-size: 12px; font-weight: 600; margin-right: 8px; }
.flowup-phase-idle { background: #eef2f6; color: #445; }
.flowup-phase-busy { background: #dbeafe; color: #1e40af; }
.flowup-phase-completed { background: #dcfce7; color: #166534; }
.flowup-phase-failed, .flowup-phase-error { background: #fee2e2; color: #991b1b; }
.flowup-phase-cancelled { background: #f3f4f6; color: #374151; }
.flowup-muted { color: #667085; font-size: 12px; }
.flowup-facts { border-collapse: collapse; font-size: 13px; margin-top: 2px; max-width: 340px; }
.flowup-facts th { text-align: left; font-weight: 600; padding: 2px 12px 2px 0;
  color: #344054; vertical-align: top; white-space: nowrap; }
.flowup-facts td { padding: 2px 0; word-break: break-all; color: #101828; }
.flowup-download-link { color: #1d4ed8; text-decoration: underline; font-size: 13px;
  margin-left: 8px; }
.flowup-errorbox { border-left: 4px solid #dc2626; background: #fef2f2; padding: 8px 12px;
  border-radius: 4px; font-size: 13px; }
.flowup-errorbox b { color: #991b1b; }
.flowup-note { color: #7a5b00; background: #fffbeb; padding: 6px 10px; border-radius: 4px;
  font-size: 13px; }
.flowup-result { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
</style>
"""

_PHASE_CLASS = {
    Phase.IDLE: "idle",
    Phase.SUBMITTING: "busy",
    Phase.CREATED: "busy",
    Phase.STARTED: "busy",
    Phase.COMPLETED: "completed",
    Phase.FAILED: "failed",
    Phase.CANCELLED: "cancelled",
    Phase.ERROR: "error",
}


@dataclass(frozen=True, slots=True)
class CreditView:
    """Credits after an upscale: the balance, and what this upscale cost."""

    remaining: int | None
    spent: int | None
    basis: str  # "balance" (measured from the balance) or "price list" (expected)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def badge_html(*, simulator: bool, base_url: str) -> str:
    if simulator:
        return (
            '<span class="flowup-pill flowup-pill-sim flowup-badge" title="'
            + _e(f"embedded simulator at {base_url}: no real account, no real credits")
            + '">SIMULATOR</span>'
        )
    return (
        '<span class="flowup-pill flowup-pill-live flowup-badge" title="'
        + _e(base_url)
        + '">LIVE API</span>'
    )


def status_html(state: FormState, now: float) -> str:
    phase = state.phase
    text = state.status_text(now)
    head, _, rest = text.partition(" · ")
    body = (
        f'<span class="flowup-phase flowup-phase-{_PHASE_CLASS[phase]}" '
        f'data-phase="{_e(phase.value)}">{_e(head)}</span>'
        f'<span class="flowup-status-text">{_e(rest)}</span>'
    )
    if state.note:
        body += f'<div class="flowup-muted flowup-status-note">{_e(state.note)}</div>'
    return f'<div class="flowup-status-line" data-phase="{_e(phase.value)}">{body}</div>'


def captcha_text(captcha: Any) -> str | None:
    """``AntiCaptcha · 0.9 s · 2 attempts (1 rejected)``, or None without captcha data."""
    if captcha is None:
        return None
    parts = [captcha.service or "unknown service"]
    if captcha.duration_ms is not None:
        parts.append(f"{captcha.duration_ms / 1000:.1f} s")
    attempts = captcha.attempts or ()
    if attempts:
        rejected = sum(1 for a in attempts if not a.success)
        word = "attempt" if len(attempts) == 1 else "attempts"
        parts.append(f"{len(attempts)} {word}" + (f" ({rejected} rejected)" if rejected else ""))
    return " · ".join(parts)


def credits_text(view: CreditView) -> str:
    left = f"{view.remaining:,} left" if view.remaining is not None else "balance not reported"
    if view.spent is None:
        return left
    basis = "" if view.basis == "balance" else " (price list)"
    return f"{left} · {view.spent:,} spent{basis}"


def link_text(result: Any, link: LinkCheck | None, *, checking: bool) -> str | None:
    """What the facts say of the signed URL: checked, not yet, or why it fails."""
    if not result.video_url:
        return None
    if link is None:
        return "not checked yet" if checking else None
    if link.ok:
        return "ok: the signed URL serves the video"
    return f"{link.reason}: press Fetch again (free)"


def saved_html(*, saving: bool, path: Path | None, size: int | None) -> str:
    """The note beside Save: under way, or where the video went."""
    if saving:
        return '<span class="flowup-muted">saving…</span>'
    if path is None:
        return ""
    kilobytes = f" ({size / 1024:.0f} kB)" if size is not None else ""
    return f'<span class="flowup-muted flowup-saved">saved {_e(path)}{kilobytes}</span>'


def result_html(
    result: Any,
    *,
    credits: CreditView,
    elapsed: str | None,
    link_status: str | None,
) -> str:
    """The player beside a table of facts about the result."""
    player = video_html(
        video_url=result.video_url,
        raw_bytes=result.raw_bytes,
        thumbnail_url=result.thumbnail_url,
    )
    if result.video_url:
        source = f"signed URL ({public_url(result.video_url)})"
    elif result.raw_bytes:
        source = f"inline rawBytes, {len(result.raw_bytes) / 1024:.0f} kB (cached re-upscale)"
    else:
        source = "none"
    rows = [
        ("resolution", result.resolution),
        ("cost", "free: cached repeat" if result.cached else None),
        ("credits", credits_text(credits)),
        ("captcha", captcha_text(result.captcha)),
        ("time", elapsed),
        ("video", source),
        ("link", link_status),
        ("upscaled id", result.media_generation_id),
        ("job", result.job_id),
        ("model", result.model),
    ]
    facts = "".join(
        f'<tr class="flowup-fact-{_e(name.replace(" ", "-"))}"><th>{_e(name)}</th>'
        f"<td>{_e(value)}</td></tr>"
        for name, value in rows
        if value is not None
    )
    return (
        f'<div class="flowup-result" data-resolution="{_e(result.resolution or "")}">'
        f"<div>{player}</div>"
        f'<table class="flowup-facts">{facts}</table></div>'
    )


def account_html(text: str, upscale: Any) -> str:
    """The line beside the chosen video: its account, and why nothing may be sent to it
    (``upscale``: the account's ``Verdict``)."""
    if not text:
        return ""
    if upscale.allowed:
        return f'<span class="flowup-muted flowup-account-text">{_e(text)}</span>'
    return (
        '<span class="flowup-account-text flowup-account-refused" '
        f'style="font-size:12px;color:#b42318">{_e(upscale.reason)}</span>'
    )


def job_html(note: str | None, offer: Any) -> str:
    """A job id's look-up: what it offers, and a completed upscale's video to watch."""
    if not note:
        return ""
    body = f'<div class="flowup-muted flowup-job-note">{_e(note)}</div>'
    result = getattr(offer, "result", None)
    if result is not None:
        player = video_html(
            video_url=result.video_url,
            raw_bytes=result.raw_bytes,
            thumbnail_url=result.thumbnail_url,
        )
        facts = "".join(
            f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>"
            for name, value in (
                ("resolution", result.resolution),
                ("upscaled id", result.media_generation_id),
            )
            if value is not None
        )
        body += (
            f'<div class="flowup-result flowup-job-result"><div>{player}</div>'
            f'<table class="flowup-facts">{facts}</table></div>'
        )
    return body


def error_html(view: ErrorView) -> str:
    lines = [
        f'<div class="flowup-errorbox" data-kind="{_e(view.kind)}">',
        f"<b>{_e(view.title)}</b>",
        f'<div class="flowup-error-message">{_e(view.message)}</div>',
        f'<div class="flowup-error-advice"><i>What to do:</i> {_e(view.advice)}</div>',
        f'<div class="flowup-error-retry"><i>Retry:</i> {_e(view.retry)}</div>',
    ]
    if view.job_id:
        lines.append(f'<div class="flowup-muted">job {_e(view.job_id)}</div>')
    if view.details:
        lines.append(
            "<details><summary>details</summary>"
            f'<pre style="font-size:11px;white-space:pre-wrap">{_e(view.details)}</pre></details>'
        )
    lines.append("</div>")
    return "".join(lines)
