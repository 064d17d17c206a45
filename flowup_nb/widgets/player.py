"""The inline video player, and the check that its signed URL still works.

The player is plain HTML: ``<video controls muted playsinline>`` (muted and inline, so
browsers let it load and autoplay rules never bite) whose ``src`` is the escaped signed
``videoUrl`` with the thumbnail as poster, or, for a cached re-upscale that came back as
``rawBytes``, a ``data:`` URL. Signed URLs expire after a few hours; :func:`check_link`
asks the media host for the first bytes (a ``Range`` GET: signed CDN URLs are signed for
GET, and some refuse HEAD) and says whether the video is still there.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import httpx

from flowup_nb.api import media
from flowup_nb.api.media import looks_like_mp4, public_url, video_source

__all__ = [
    "LinkCheck",
    "check_link",
    "classify_probe",
    "public_url",
    "video_html",
]

_PROBE_BYTES = 1024
_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """Whether a video URL still serves the video, and if not, why."""

    ok: bool
    status_code: int | None
    reason: str  # "ok", or what went wrong, for a person

    @property
    def expired(self) -> bool:
        """Refused by the media host (a signed URL past its expiry, or tampered with)."""
        return self.status_code in (401, 403, 410)


def classify_probe(
    status_code: int | None, content_type: str | None, head: bytes, error: str | None = None
) -> LinkCheck:
    """Pure: what a probe's answer means."""
    if status_code is None:
        return LinkCheck(False, None, f"unreachable ({error or 'no answer'})")
    if status_code in (401, 403, 410):
        return LinkCheck(
            False, status_code, f"the link has expired or was refused (HTTP {status_code})"
        )
    if status_code == 404:
        return LinkCheck(False, status_code, "the video is gone from the media host (HTTP 404)")
    if status_code not in (200, 206):
        return LinkCheck(False, status_code, f"the media host answered HTTP {status_code}")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.startswith("video/") or looks_like_mp4(head):
        return LinkCheck(True, status_code, "ok")
    return LinkCheck(False, status_code, f"the link serves {kind or 'something'}, not a video")


def check_link(url: str, *, timeout: float = _PROBE_TIMEOUT) -> LinkCheck:
    """Ask for the first bytes of ``url`` (no credentials sent) and classify the answer.

    Blocking; the form runs it in a worker thread.
    """
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as http,
            http.stream("GET", url, headers={"Range": f"bytes=0-{_PROBE_BYTES - 1}"}) as answer,
        ):
            head = b""
            if answer.status_code in (200, 206):
                # A 206 ends by itself after the range; stop early only when a server
                # ignored Range and sends the whole video.
                for chunk in answer.iter_bytes():
                    head += chunk
                    if len(head) >= _PROBE_BYTES:
                        break
            return classify_probe(answer.status_code, answer.headers.get("content-type"), head)
    except httpx.HTTPError as exc:
        return classify_probe(None, None, b"", type(exc).__name__)


def video_html(
    *,
    video_url: str | None,
    raw_bytes: bytes | None = None,
    thumbnail_url: str | None = None,
    css_class: str = "flowup-video",
    max_width: str = "480px",
) -> str:
    """The form's ``<video>`` (the results' own player, styled for the form)."""
    # preload="auto": the page (and the browser test) can tell the video decodes.
    return media.video_html(
        video_url=video_url,
        raw_bytes=raw_bytes,
        thumbnail_url=thumbnail_url,
        css_class=css_class,
        style=f"width:{max_width};max-width:100%;background:#000;border-radius:6px",
        preload="auto",
        save_hint="the Save button or client.download()",
    )


def download_link_html(result: Any, filename: str) -> str:
    """A link that saves the video in the browser (inline bytes) or opens its URL."""
    name = html.escape(filename, quote=True)
    # The bytes first: a cached repeat's inline video saves without another request.
    href = video_source(None, result.raw_bytes) or video_source(result.video_url, None)
    if href is None:
        return ""
    return (
        f'<a class="flowup-download-link" href="{href}" download="{name}" target="_blank" '
        f'rel="noopener">download {name}</a>'
    )
