"""The inline video player, and the check that its signed URL still works.

The player is plain HTML: ``<video controls muted playsinline>`` (muted and inline, so
browsers let it load and autoplay rules never bite) whose ``src`` is the escaped signed
``videoUrl`` with the thumbnail as poster, or, for a cached re-upscale that came back as
``rawBytes``, a ``data:`` URL. Signed URLs expire after a few hours; :func:`check_link`
asks the media host for the first bytes (a ``Range`` GET: signed CDN URLs are signed for
GET, and some refuse HEAD) and says whether the video is still there.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from flowup_nb.api.models import INLINE_VIDEO_LIMIT, video_source

__all__ = [
    "INLINE_LIMIT",
    "LinkCheck",
    "check_link",
    "classify_probe",
    "public_url",
    "video_html",
]

# Larger rawBytes are not inlined into the notebook (a data: URL lives in the page).
INLINE_LIMIT = INLINE_VIDEO_LIMIT  # the same rule as the results' own inline view
_PROBE_BYTES = 1024
_PROBE_TIMEOUT = 10.0
_MP4_MARK = b"ftyp"  # the first box of an MP4 file, at byte 4


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


def public_url(url: str) -> str:
    """The URL without its query: a signed URL's signature is a credential of sorts."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


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
    if kind.startswith("video/") or _MP4_MARK in head[:16]:
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
    """A ``<video>`` element for a URL or for inline bytes; a note when there is neither."""
    source = video_source(video_url, raw_bytes)
    if source is None and raw_bytes:
        return (
            f'<div class="flowup-note">The video ({len(raw_bytes) / 1e6:.1f} MB) is too large '
            "to show inline: save it with the Save button or client.download().</div>"
        )
    if source is None:
        return '<div class="flowup-note">This result has no video to show.</div>'
    poster = f' poster="{html.escape(thumbnail_url, quote=True)}"' if thumbnail_url else ""
    # preload="auto": the page (and the browser test) can tell the video decodes.
    return (
        f'<video class="{html.escape(css_class, quote=True)}" controls muted playsinline '
        f'preload="auto" src="{source}"{poster} '
        f'style="width:{html.escape(max_width, quote=True)};max-width:100%;'
        'background:#000;border-radius:6px"></video>'
    )


def download_link_html(result: Any, filename: str) -> str:
    """A link that saves the video in the browser (inline bytes) or opens its URL."""
    name = html.escape(filename, quote=True)
    if result.raw_bytes and len(result.raw_bytes) <= INLINE_LIMIT:
        data = base64.b64encode(result.raw_bytes).decode("ascii")
        href = f"data:video/mp4;base64,{data}"
    elif result.video_url:
        href = html.escape(result.video_url, quote=True)
    else:
        return ""
    return (
        f'<a class="flowup-download-link" href="{href}" download="{name}" target="_blank" '
        f'rel="noopener">download {name}</a>'
    )
