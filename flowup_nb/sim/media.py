"""The media host: signed, expiring URLs for videos and thumbnails, like flow-content.google.

Objects are registered by path (``/video/<name>``, ``/image/<name>``). A URL carries
``Expires`` (epoch seconds), ``KeyName`` and ``Signature`` (HMAC of path and expiry), so a
tampered or expired URL is refused with 403, as signed CDN URLs are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flowup_nb.sim.clock import SimClock

__all__ = [
    "ASSETS_DIR",
    "URL_LIFETIME_SECONDS",
    "MediaDenied",
    "MediaObject",
    "MediaStore",
    "parse_range",
]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
URL_LIFETIME_SECONDS = 6 * 3600.0  # the publisher says signed URLs last about 6 hours
KEY_NAME = "flow-sim"

# variant -> (video file, thumbnail file) shipped in assets/
_VARIANT_FILES = {
    "source": ("source_720p.mp4", "source_720p.jpg"),
    "1080p": ("upscaled_1080p.mp4", "upscaled_1080p.jpg"),
    "4K": ("upscaled_4k.mp4", "upscaled_4k.jpg"),
}


class MediaDenied(Exception):
    """The media host refuses a URL: status and a short text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, self.text), self.__dict__.copy())


@dataclass(frozen=True)
class MediaObject:
    content_type: str
    size: int
    data: bytes | None = None  # small shipped assets, served from memory
    path: Path | None = None  # published files, streamed from disk


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a single-range `Range` header asks for.

    None means "serve the whole body" (no header, or one we do not honour: several ranges or
    bad syntax, which RFC 9110 lets a server ignore). Raises MediaDenied(416) when the range
    cannot be satisfied.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise MediaDenied(416, "Requested range not satisfiable")
            return (max(0, size - suffix), size - 1)
        start = int(first)
        end = int(last) if last != "" else size - 1
    except ValueError:
        return None
    if start < 0 or (last != "" and end < start):
        return None
    if start >= size:
        raise MediaDenied(416, "Requested range not satisfiable")
    return (start, min(end, size - 1))


class MediaStore:
    """What the media host serves, and how its URLs are signed."""

    def __init__(self, clock: SimClock, secret: bytes) -> None:
        self._clock = clock
        self._secret = secret
        self._lock = threading.Lock()
        self._objects: dict[str, MediaObject] = {}
        self._assets: dict[str, bytes] = {}
        self._published = 0
        self.base = ""  # set once the media server listens: "http://127.0.0.1:<port>"

    # -- assets ------------------------------------------------------------------------
    def asset(self, filename: str) -> bytes:
        with self._lock:
            data = self._assets.get(filename)
        if data is None:
            path = ASSETS_DIR / filename
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise RuntimeError(
                    f"simulator asset {path} is missing; reinstall flowup-nb "
                    "(the package ships its sample MP4s and JPEGs in flowup_nb/sim/assets/)"
                ) from None
            with self._lock:
                self._assets[filename] = data
        return data

    def video_bytes(self, variant: str) -> bytes:
        return self.asset(_VARIANT_FILES[variant][0])

    def check_assets(self) -> None:
        """Fail at start, with the fix, rather than on the first download."""
        for video, thumb in _VARIANT_FILES.values():
            self.asset(video)
            self.asset(thumb)

    # -- registration ------------------------------------------------------------------
    def add_video(self, object_name: str, variant: str) -> None:
        video, thumb = _VARIANT_FILES[variant]
        v, t = self.asset(video), self.asset(thumb)
        with self._lock:
            self._objects[f"/video/{object_name}"] = MediaObject("video/mp4", len(v), data=v)
            self._objects[f"/image/{object_name}"] = MediaObject("image/jpeg", len(t), data=t)

    def publish_file(self, path: str | Path, lifetime: float | None = None) -> str:
        file = Path(path).resolve()
        if not file.is_file():
            raise FileNotFoundError(f"publish_file() needs an existing file; {file} is not one")
        with self._lock:
            self._published += 1
            name = f"published-{self._published}-{quote(file.name, safe='')}"
            self._objects[f"/video/{name}"] = MediaObject(
                "video/mp4", file.stat().st_size, path=file
            )
        return self.url(f"/video/{name}", lifetime=lifetime)

    # -- signing -----------------------------------------------------------------------
    def lifetime(self) -> float:
        return self._clock.kept_for(URL_LIFETIME_SECONDS)

    def url(self, path: str, *, lifetime: float | None = None) -> str:
        expires = math.ceil(self._clock.now() + (self.lifetime() if lifetime is None else lifetime))
        return (
            f"{self.base}{path}?Expires={expires}&KeyName={KEY_NAME}"
            f"&Signature={self._signature(path, str(expires))}"
        )

    def _signature(self, path: str, expires: str) -> str:
        mac = hmac.new(self._secret, f"{path}\n{expires}\n{KEY_NAME}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:20]).decode().rstrip("=")

    def resolve(self, path: str, query: dict[str, str]) -> MediaObject:
        """The object a signed URL names, or MediaDenied (403 bad/expired, 404 unknown)."""
        with self._lock:
            obj = self._objects.get(path)
        if obj is None:
            raise MediaDenied(404, "Not Found")
        expires, signature = query.get("Expires", ""), query.get("Signature", "")
        if query.get("KeyName") != KEY_NAME or not expires.isdigit() or not signature:
            raise MediaDenied(403, "Forbidden: missing or malformed URL signature")
        if not hmac.compare_digest(signature, self._signature(path, expires)):
            raise MediaDenied(403, "Forbidden: URL signature does not match")
        if self._clock.now() > int(expires):
            raise MediaDenied(403, "Forbidden: URL expired; request a fresh one")
        return obj
