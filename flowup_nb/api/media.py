"""The video itself: its MP4 signature, its URL without the signature, its inline player.

Pure and at the bottom of the package (it imports nothing from flowup_nb): the results'
own notebook view, the download, the form's player and the ledger's exports all read
these rules here, so they cannot disagree.
"""

from __future__ import annotations

import base64
import html
import re

__all__ = [
    "INLINE_VIDEO_LIMIT",
    "SIGNED_PART",
    "looks_like_mp4",
    "public_url",
    "size_text",
    "video_html",
    "video_source",
]

# rawBytes larger than this are not inlined into a notebook as a data: URL.
INLINE_VIDEO_LIMIT = 16 * 1024 * 1024
# Everything from the first "?" or "#": a signed URL's query is its signature, a
# credential of sorts, and long; logs, errors and exports show the URL without it.
SIGNED_PART = re.compile(r"[?#].*\Z", re.DOTALL)
_MP4_BOX_TYPE = b"ftyp"  # an MP4 starts with a box of type ftyp, at byte 4


def looks_like_mp4(head: bytes) -> bool:
    """Whether the first bytes of a file (at least 8) are those of an MP4 video."""
    return head[4:8] == _MP4_BOX_TYPE


def public_url(url: str) -> str:
    """``https://host/v.mp4?Expires=..&Signature=..`` -> ``https://host/v.mp4``."""
    return SIGNED_PART.sub("", url)


def size_text(count: int) -> str:
    """A byte count for people: ``812 bytes``, ``4.2 kB``, ``4.8 MB``."""
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MB"
    if count >= 1024:
        return f"{count / 1024:.1f} kB"
    return f"{count} bytes"


def video_source(video_url: str | None, raw_bytes: bytes | None) -> str | None:
    """The ``src`` of a ``<video>``: the escaped URL, else the bytes as a ``data:`` URL when
    they are small enough to inline; None when there is nothing to play inline."""
    if video_url:
        return html.escape(video_url, quote=True)
    if raw_bytes and len(raw_bytes) <= INLINE_VIDEO_LIMIT:
        return "data:video/mp4;base64," + base64.b64encode(raw_bytes).decode("ascii")
    return None


def video_html(
    *,
    video_url: str | None,
    raw_bytes: bytes | None = None,
    thumbnail_url: str | None = None,
    css_class: str | None = None,
    style: str = "max-width:100%;max-height:480px",
    preload: str = "metadata",
    save_hint: str = "client.download(result, 'out.mp4')",
) -> str:
    """A ``<video controls muted playsinline>`` for a URL or inline bytes, else a note.

    Muted and inline, so browsers let it load and autoplay rules never bite. The note
    says the video is too large to inline (and how to save it: ``save_hint``), or that
    there is no video.
    """
    source = video_source(video_url, raw_bytes)
    if source is None and raw_bytes:
        return (
            f'<div class="flowup-note">The video ({size_text(len(raw_bytes))}) is too large '
            f"to show inline: save it with {html.escape(save_hint, quote=False)}.</div>"
        )
    if source is None:
        return '<div class="flowup-note">This result has no video to show.</div>'
    kind = f' class="{html.escape(css_class, quote=True)}"' if css_class else ""
    poster = f' poster="{html.escape(thumbnail_url, quote=True)}"' if thumbnail_url else ""
    return (
        f'<video{kind} controls muted playsinline preload="{html.escape(preload, quote=True)}" '
        f'src="{source}"{poster} style="{html.escape(style, quote=True)}"></video>'
    )
