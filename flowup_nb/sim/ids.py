"""Identifiers in the shapes the API uses, and the seeded factory that mints them.

- mediaGenerationId: ``user:<userId>-email:<hex of email>-video:<opaque id>``; the upscaled
  video's id is the source id plus ``_upsampled``.
- jobId: ``j<13-digit ms>v-u<userId>-email:<email>-bot:google-flow`` (live ids show the
  email unmasked).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

__all__ = [
    "JOB_ID_PATTERN",
    "UPSAMPLED_SUFFIX",
    "IdFactory",
    "MediaRef",
    "email_hex",
    "job_id",
    "media_id",
    "parse_media_id",
    "token_for_seed",
]

UPSAMPLED_SUFFIX = "_upsampled"

JOB_ID_PATTERN = re.compile(r"^j\d{13}[vi]-u\d+-email:[^\s/%?#]+-bot:google-flow$")
_MEDIA_ID_PATTERN = re.compile(
    r"^user:(?P<user>\d+)-email:(?P<hex>(?:[0-9a-fA-F]{2})+)-(?P<kind>video|image):(?P<key>[A-Za-z0-9_.\-]+)$"
)


def email_hex(email: str) -> str:
    return email.encode("utf-8").hex()


def media_id(user_id: str, email: str, key: str, kind: str = "video") -> str:
    return f"user:{user_id}-email:{email_hex(email)}-{kind}:{key}"


def job_id(ms: int, user_id: str, email: str, kind: str = "v") -> str:
    return f"j{ms:013d}{kind}-u{user_id}-email:{email}-bot:google-flow"


@dataclass(frozen=True)
class MediaRef:
    """What a mediaGenerationId says about itself."""

    user_id: str
    email: str
    kind: str  # "video" | "image"
    key: str  # the opaque part, e.g. "2fefd089-...", or "2fefd089-..._upsampled"

    @property
    def upsampled(self) -> bool:
        return self.key.endswith(UPSAMPLED_SUFFIX)


def parse_media_id(value: str) -> MediaRef | None:
    """The parts of a mediaGenerationId, or None when it does not have the API's shape."""
    match = _MEDIA_ID_PATTERN.match(value)
    if match is None:
        return None
    try:
        email = bytes.fromhex(match["hex"]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return MediaRef(match["user"], email, match["kind"], match["key"])


def token_for_seed(seed: int | str) -> str:
    """The Bearer token a seeded simulator accepts: stable for a seed, different across seeds."""
    return "sim-" + hashlib.sha256(f"flowup-sim-token:{seed}".encode()).hexdigest()[:32]


class IdFactory:
    """Opaque ids (UUID-shaped) from a seeded stream, so the same seed gives the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def uuid(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def hex(self, n: int) -> str:
        return f"{self._rng.getrandbits(4 * n):0{n}x}"
