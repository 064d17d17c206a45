"""What may leave the user's machine: nothing but placeholders where a secret, an email, an
id or a URL was.

The calibration file is meant to be shared, so the only strings it keeps from an answer
are object keys and the values of a few enum-like fields, and both pass through
:meth:`Redactor.scrub` first. A `Redactor` learns the literal secrets of each answer
(the token, every value under a secret-looking key, every cookie) and replaces them
wherever they appear, then replaces whatever looks like an email, a URL, a job id, a
mediaGenerationId or an opaque credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["PLACEHOLDERS", "Redactor", "is_secret_key", "string_format"]

# Keys whose values are credentials or personal data: never recorded, and their values
# are scrubbed wherever else they show up.
_SECRET_KEY = re.compile(
    r"token|cookie|secret|passw|authori[sz]ation|session|signature|credential|api[-_]?key"
    r"|bearer|access[-_]?key|^sig$|^prompt$",
    re.IGNORECASE,
)

_URL = re.compile(r"\b(?:https?|wss?|ftp)://[^\s\"'<>]+", re.IGNORECASE)
_JOB_ID = re.compile(r"\bj\d{10,}[a-z]?-\S*")
_MEDIA_ID = re.compile(r"\buser:\S+")
# Local part may be masked by the service (jo***@gmail.com).
_EMAIL = re.compile(r"[\w.+*%-]*[\w*]@[\w-]+(?:\.[\w-]+)+")
_OPAQUE_RUN = re.compile(r"[A-Za-z0-9_\-.~+/=]{20,}")
_SNAKE = re.compile(r"^(?:[a-z0-9]+(?:_[a-z0-9]+)+|[A-Z0-9]+(?:_[A-Z0-9]+)+)$")
_ENUM_TEXT_MAX = 80
_KEY_KINDS = {
    "email": "<email>",
    "masked-email": "<email>",
    "jobId": "<jobId>",
    "mediaGenerationId": "<mediaId>",
    "url": "<url>",
}

PLACEHOLDERS = ("<token>", "<secret>", "<url>", "<jobId>", "<mediaId>", "<email>", "<opaque>")

_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$")
_MM_SS = re.compile(r"^\d+:\d\d$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DIGITS = re.compile(r"^-?\d+(\.\d+)?$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]{64,}={0,2}$")
_MASKED_EMAIL = re.compile(r"^[^@\s]*\*[^@\s]*@[\w-]+(\.[\w-]+)+$")
_PLAIN_EMAIL = re.compile(r"^[^@\s]+@[\w-]+(\.[\w-]+)+$")


def is_secret_key(key: str) -> bool:
    """A key whose value is a credential or personal data (token, cookie, email, prompt...)."""
    return bool(_SECRET_KEY.search(key))


def _looks_opaque(run: str) -> bool:
    """A credential-like run: a long piece with digits and letters that is not a SNAKE_CASE
    enum name. Dotted names (type.googleapis.com/...) are made of short pieces."""
    return any(
        len(piece) >= 16
        and not _SNAKE.match(piece)
        and any(c.isdigit() for c in piece)
        and any(c.isalpha() for c in piece)
        for piece in re.split(r"[./]", run)
    )


def string_format(value: str) -> str:
    """What kind of string this is, named without its value (so two answers compare)."""
    if value == "":
        return "empty"
    if _URL.fullmatch(value):
        return "url"
    if _JOB_ID.fullmatch(value):
        return "jobId"
    if _MEDIA_ID.fullmatch(value):
        return "mediaGenerationId"
    if _MASKED_EMAIL.match(value):
        return "masked-email"
    if _PLAIN_EMAIL.match(value):
        return "email"
    if _ISO_TIME.match(value):
        return "iso-time"
    if _MM_SS.match(value):
        return "mm:ss"
    if _UUID.match(value):
        return "uuid"
    if _DIGITS.match(value):
        return "digits"
    if _BASE64.match(value):
        return "base64"
    return "text"


class Redactor:
    """Scrubs strings of one calibration run. It knows the token and learns, answer by
    answer, every value it sees under a secret-looking key and every cookie."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._secrets: set[str] = {token} if token else set()

    def learn(self, values: Iterable[str]) -> None:
        for value in values:
            value = value.strip()
            if len(value) >= 4:  # shorter ones would blank out ordinary words
                self._secrets.add(value)

    def learn_answer(self, body: Any, cookies: Iterable[str] = ()) -> None:
        """Remember the secrets an answer carries, before anything of it is recorded."""
        found: list[str] = []
        for header in cookies:
            # "name=value; Path=/; ..." -> the value, and the whole pair.
            pair = header.split(";", 1)[0]
            found.append(pair)
            found.append(pair.partition("=")[2])
        found.extend(_secret_values(body, inside_secret=False))
        self.learn(found)

    def scrub(self, text: str) -> str:
        """`text` with every secret, URL, id, email and opaque run replaced by a placeholder."""
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, "<token>" if secret == self._token else "<secret>")
        text = _URL.sub("<url>", text)
        text = _JOB_ID.sub("<jobId>", text)
        text = _MEDIA_ID.sub("<mediaId>", text)
        text = _EMAIL.sub("<email>", text)
        return _OPAQUE_RUN.sub(lambda m: "<opaque>" if _looks_opaque(m[0]) else m[0], text)

    def key(self, key: str) -> str:
        """An object key as recorded: emails, job ids and the like become placeholders, so
        maps keyed by them (accounts, jobs) keep a comparable shape."""
        kind = _KEY_KINDS.get(string_format(key))
        if kind is not None:
            return kind
        scrubbed = self.scrub(key)
        if scrubbed == key:
            return key
        for placeholder in PLACEHOLDERS:
            if placeholder in scrubbed:
                # One placeholder for the whole key: `<email>`, not `x-<email>-y`.
                return "<secret>" if placeholder == "<token>" else placeholder
        return "<key>"  # pragma: no cover - scrub only ever inserts placeholders

    def enum_value(self, value: str) -> str:
        """An enum-like value (a status, a health text) as it may be recorded."""
        scrubbed = self.scrub(value)
        if len(scrubbed) > _ENUM_TEXT_MAX:
            scrubbed = scrubbed[: _ENUM_TEXT_MAX - 3] + "..."
        return scrubbed


def _secret_values(node: Any, *, inside_secret: bool) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _secret_values(value, inside_secret=inside_secret or is_secret_key(str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from _secret_values(item, inside_secret=inside_secret)
    elif inside_secret and isinstance(node, str):
        yield node
