"""Save a result's video to disk: stream its signed URL, or write its inline rawBytes.

The transfer goes to ``<path>.part`` and is renamed into place only once complete and
fsynced, so ``path`` never holds half a video. Memory stays constant whatever the size.
A broken transfer resumes with ``Range`` from what is already on disk. The media host
is another origin: the API token is never sent to it (the media client has no auth).

Each transfer owns its ``.part`` file by a lock: downloads to one path at once (a
double-clicked Save, two kernels) each write their own (``<path>.1.part``, ...) and each
renames a whole video into place; a ``.part`` nobody holds (left by a killed kernel) is
taken over and removed. A path ending in a separator names a folder.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

import httpx
from anyio import sleep as async_sleep

from flowup_nb.api import policy
from flowup_nb.api._base import ClientCore
from flowup_nb.api.errors import (
    APIConnectionError,
    DownloadError,
    FlowError,
    InputError,
    MediaExpiredError,
    NotAVideoError,
)
from flowup_nb.api.media import looks_like_mp4, public_url
from flowup_nb.api.models import GenerationResult, Media, UpscaleResult

__all__ = ["Downloadable", "download_async", "download_sync", "write_video_bytes"]

Downloadable = UpscaleResult | GenerationResult | Media | str
_VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream", "application/mp4")
_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep)


def resolve_source(result: object) -> tuple[str | None, bytes | None, dict[str, Any]]:
    """(url, raw bytes, Exchange context) of what to save."""
    if isinstance(result, str):
        if not result.startswith(("http://", "https://")):
            raise InputError(f"download() takes a result or an http(s) video URL, got {result!r}")
        return result, None, {}
    if isinstance(result, UpscaleResult | GenerationResult | Media):
        context = {
            "result_id": result.media_generation_id,
            "job_id": getattr(result, "job_id", None),
            "resolution": getattr(result, "resolution", None),
            "account": policy.decode_account(result.media_generation_id),
        }
        url, raw = result.video_url, result.raw_bytes
        if url is None and raw is None:
            raise InputError(
                "this result has neither a video URL nor rawBytes to save; upscale again "
                "(free: the server caches) to get a fresh one"
            )
        return url, raw, {key: value for key, value in context.items() if value}
    raise InputError(
        f"download() takes an UpscaleResult, GenerationResult, Media or URL, not "
        f"{type(result).__name__}"
    )


def target_path(path: str | os.PathLike[str], result: object) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise InputError(
            f"path must be a file or directory path (str or pathlib.Path), not "
            f"{type(path).__name__}: e.g. client.download(result, 'video.mp4')"
        )
    text = os.fspath(path)
    if "\x00" in text:
        raise InputError("path contains a NUL character: pass a plain file or directory path")
    target = Path(path).expanduser()
    if text.endswith(_SEPARATORS):
        # "dir/new/" names a folder: Path() would drop the separator and write a file `new`.
        if not target.exists():
            raise InputError(
                f"folder {target} does not exist: create it first "
                f"(Path({str(target)!r}).mkdir(parents=True)), or pass a file path "
                "without the trailing separator"
            )
        if not target.is_dir():
            raise InputError(
                f"{target} is not a folder (it is a file), but the path ends with a "
                "separator: drop the trailing separator to overwrite it, or pass a folder"
            )
    if target.is_dir():
        name = _safe_name((getattr(result, "media_generation_id", None) or "video").split(":")[-1])
        # Both resolutions of one video share an id: keep them apart.
        resolution = getattr(result, "resolution", None)
        target = target / (f"{name}_{resolution}.mp4" if resolution else f"{name}.mp4")
    if not target.parent.exists():
        raise InputError(f"directory {target.parent} does not exist: create it first")
    # Checked before any request: a download must not fetch a video it cannot store.
    if not target.parent.is_dir():
        raise InputError(f"{target.parent} is not a directory: pass a path inside a directory")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise InputError(
            f"no permission to write in directory {target.parent}: choose another path"
        )
    return target


def write_video_bytes(data: bytes, path: Path) -> Path:
    """Write inline rawBytes (a cached re-upscale) atomically, refusing what is not MP4."""
    if not looks_like_mp4(data):
        raise NotAVideoError(
            f"the result's rawBytes are not an MP4 video (they start {data[:16]!r})"
        )
    part, handle = claim_part(path)
    try:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
        return _commit(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        handle.close()  # after the rename: the lock guards the name until then


class _WriteBehind:
    """Pushes written data toward the disk in a background thread during the download.

    One fsync of a whole large file at the end costs about a fifth of the transfer time.
    Starting the writeback of each ``every`` bytes as they land (``posix_fadvise``
    DONTNEED starts it without a device flush, and keeps the page cache small) overlaps
    that work with the network, so the final fsync only has the tail left. Where
    ``posix_fadvise`` is missing, ``fdatasync`` (or ``fsync``) does it, a little slower.
    """

    def __init__(self, fd: int, every: int = 32 * 1024 * 1024) -> None:
        self._fd = fd
        self._every = every
        self._queued_upto = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def wrote(self, offset: int) -> None:
        if offset - self._queued_upto < self._every:
            return
        self._queued_upto = offset
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flowup-sync", daemon=True)
            self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        pushed = 0
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            upto = self._queued_upto
            try:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(self._fd, pushed, upto - pushed, os.POSIX_FADV_DONTNEED)
                else:  # pragma: no cover - macOS, Windows
                    getattr(os, "fdatasync", os.fsync)(self._fd)
            except OSError:
                return  # the final fsync reports any real problem
            pushed = upto


class RangeTransfer:
    """One download to ``<path>.part``, resumable: checks each answer, counts bytes."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.path = path
        self.part, self._file = claim_part(path)  # closed by finish()/stop()
        self.offset = 0
        self.total: int | None = None
        self._head = b""
        self._write_behind = _WriteBehind(self._file.fileno())

    def request_headers(self) -> dict[str, str]:
        # identity: byte ranges must count bytes of the file itself, not of a gzip of it
        headers = {"Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        return headers

    def begin(self, response: httpx.Response) -> None:
        """Check an answer's status and headers before its body is read."""
        status = response.status_code
        if self.offset == 0:
            self._head = b""  # bytes held back by a transfer that broke early
        if status in (401, 403, 410):
            raise MediaExpiredError(
                f"the video URL was refused (HTTP {status}): signed URLs expire after a few "
                "hours. Upscale the video again (free: the server caches the result) for a "
                "fresh URL, then download that.",
                url=public_url(self.url),
                status_code=status,
            )
        if status == 416 and self.offset and self.total == self.offset:
            return
        if status >= 400:
            raise DownloadError(
                f"the media host answered HTTP {status} for {public_url(self.url)}",
                url=public_url(self.url),
                status_code=status,
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and not content_type.startswith(_VIDEO_TYPES):
            raise NotAVideoError(
                f"the media host sent {content_type!r}, not a video "
                f"({public_url(self.url)}); the URL may be wrong or expired",
                url=public_url(self.url),
                status_code=status,
            )
        if self.offset and status == 206 and _range_start(response) == self.offset:
            self.total = _range_total(response) or self.total
            return
        if self.offset:
            # The host ignored our Range (200) or answered another range: start over.
            self._restart()
        length = response.headers.get("content-length")
        self.total = int(length) if length and length.isdigit() else None
        if status == 206:
            self.total = _range_total(response)

    def write(self, chunk: bytes) -> None:
        if self.offset < 8 and len(self._head) < 8:
            # Hold the first bytes until the MP4 signature can be checked.
            self._head += chunk
            if len(self._head) < 8:
                return
            chunk, self._head = self._head, self._head[:8]
            if not looks_like_mp4(chunk):
                raise NotAVideoError(
                    f"the media host sent a body that is not an MP4 video (it starts "
                    f"{chunk[:16]!r})",
                    url=public_url(self.url),
                )
        self._file.write(chunk)
        self.offset += len(chunk)
        self._write_behind.wrote(self.offset)

    def settle(self) -> int:
        """The bytes really handed to the file. An interrupt can land between a chunk's
        write and its count, and the ``.part`` kept for a later download must be told
        truly, so the file's own position is the answer."""
        if not self._file.closed:
            self.offset = self._file.tell()
        return self.offset

    def shortfall(self) -> FlowError | None:
        """Why a body that ended without a transport error is not a whole video, if it is not."""
        if self.offset == 0:
            return NotAVideoError(
                f"the media host sent {len(self._head)} bytes, not a video",
                url=public_url(self.url),
            )
        if self.total is not None and self.offset < self.total:
            return self.broken(None)
        return None

    def finish(self) -> Path:
        self._write_behind.stop()
        self._file.flush()
        os.fsync(self._file.fileno())
        try:
            return _commit(self.part, self.path)
        finally:
            self._file.close()  # after the rename: the lock guards the name until then

    def abort(self) -> None:
        self.stop(keep=False)

    def stop(self, *, keep: bool) -> None:
        """End an unfinished transfer: keep the ``.part`` with the bytes so far (an
        interruption), or remove it (an error)."""
        self._write_behind.stop()
        if keep:
            self._file.flush()
        else:
            self.part.unlink(missing_ok=True)  # while still locked: no one else's file
        self._file.close()

    def broken(self, exc: Exception | None) -> APIConnectionError:
        detail = f"{type(exc).__name__}: {exc}" if exc else "the body ended early"
        got = f"{self.offset} of {self.total}" if self.total else f"{self.offset}"
        return APIConnectionError(
            f"the download of {public_url(self.url)} broke after {got} bytes ({detail})",
            request_sent=True,
        )

    def _restart(self) -> None:
        self._file.seek(0)
        self._file.truncate()
        self.offset = 0
        self._write_behind.stop()
        self._write_behind = _WriteBehind(self._file.fileno())
        self._head = b""


def download_sync(
    core: ClientCore,
    media_http: httpx.Client,
    result: Downloadable,
    path: str | os.PathLike[str],
) -> Path:
    url, raw, context = resolve_source(result)
    target = target_path(path, result)
    if url is None:
        assert raw is not None
        return write_video_bytes(raw, target)
    transfer = RangeTransfer(url, target)
    stalled = 0  # attempts that made no progress; only those use up retries
    attempt = 0
    try:
        while True:
            started, before, status = core.now(), transfer.offset, None
            error: FlowError | None = None
            try:
                with media_http.stream("GET", url, headers=transfer.request_headers()) as response:
                    status = response.status_code
                    transfer.begin(response)
                    for chunk in response.iter_raw():
                        transfer.write(chunk)
            except httpx.TransportError as exc:
                error = transfer.broken(exc)
            except DownloadError as exc:
                error = exc
            except BaseException as exc:  # Ctrl-C, a cancellation, a bug: say so, then stop
                _interrupted(core, transfer, context, exc, attempt, started, status, before)
                raise
            if error is None:
                error = transfer.shortfall()
            decision = _after_attempt(core, transfer, error, stalled, before)
            _emit(core, transfer, context, attempt, started, status, before, error, decision)
            if error is None:
                return transfer.finish()
            if not decision.retry:
                raise error
            stalled = 0 if transfer.offset > before else stalled + 1
            attempt += 1
            time.sleep(decision.delay)
    except BaseException as exc:
        transfer.stop(keep=_interruption(exc))
        raise


async def download_async(
    core: ClientCore,
    media_http: httpx.AsyncClient,
    result: Downloadable,
    path: str | os.PathLike[str],
) -> Path:
    url, raw, context = resolve_source(result)
    target = target_path(path, result)
    if url is None:
        assert raw is not None
        return write_video_bytes(raw, target)
    transfer = RangeTransfer(url, target)
    stalled = 0
    attempt = 0
    try:
        while True:
            started, before, status = core.now(), transfer.offset, None
            error: FlowError | None = None
            try:
                async with media_http.stream(
                    "GET", url, headers=transfer.request_headers()
                ) as response:
                    status = response.status_code
                    transfer.begin(response)
                    async for chunk in response.aiter_raw():
                        transfer.write(chunk)
            except httpx.TransportError as exc:
                error = transfer.broken(exc)
            except DownloadError as exc:
                error = exc
            except BaseException as exc:  # Ctrl-C, a cancellation, a bug: say so, then stop
                _interrupted(core, transfer, context, exc, attempt, started, status, before)
                raise
            if error is None:
                error = transfer.shortfall()
            decision = _after_attempt(core, transfer, error, stalled, before)
            _emit(core, transfer, context, attempt, started, status, before, error, decision)
            if error is None:
                return transfer.finish()
            if not decision.retry:
                raise error
            stalled = 0 if transfer.offset > before else stalled + 1
            attempt += 1
            await async_sleep(decision.delay)
    except BaseException as exc:
        transfer.stop(keep=_interruption(exc))
        raise


def _after_attempt(
    core: ClientCore,
    transfer: RangeTransfer,
    error: FlowError | None,
    stalled: int,
    before: int,
) -> policy.RetryDecision:
    if error is None:
        return policy.RetryDecision(False)
    if isinstance(error, DownloadError) and not (
        error.status_code is not None and error.status_code >= 500
    ):
        return policy.RetryDecision(False, why="refused")
    if isinstance(error, DownloadError):
        error = APIConnectionError(error.message)  # a media 5xx: worth another try
    # Only attempts that made no progress use up retries: a slow, flaky link that keeps
    # moving forward gets there in the end.
    return policy.decide_retry(
        error,
        retries_done=0 if transfer.offset > before else stalled,
        policy=core.retry,
        idempotent=True,
        jitter=core._rng.random(),
    )


def _interruption(exc: BaseException) -> bool:
    """A KeyboardInterrupt, a cancellation, an exit: not an error of the download, so the
    bytes received stay on disk (``.part``) rather than being thrown away."""
    return not isinstance(exc, Exception)


def _interrupted(
    core: ClientCore,
    transfer: RangeTransfer,
    context: dict[str, Any],
    exc: BaseException,
    attempt: int,
    started_at: float,
    status: int | None,
    before: int,
) -> None:
    core.interrupted_download(
        exc,
        started_at=started_at,
        attempt=attempt,
        http_status=status,
        video_url=transfer.url,
        bytes_received=max(transfer.settle() - before, 0),
        context=context,
        kept=str(transfer.part) if _interruption(exc) else None,
    )


def _emit(
    core: ClientCore,
    transfer: RangeTransfer,
    context: dict[str, Any],
    attempt: int,
    started_at: float,
    status: int | None,
    before: int,
    error: FlowError | None,
    decision: policy.RetryDecision,
) -> None:
    core.emit(
        core.download_exchange(
            started_at=started_at,
            attempt=attempt,
            http_status=status,
            video_url=transfer.url,
            bytes_received=transfer.offset - before if transfer.offset >= before else None,
            context=context,
            error=error,
            will_retry=decision.retry,
        )
    )


def _commit(part: Path, path: Path) -> Path:
    os.replace(part, path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def claim_part(path: Path) -> tuple[Path, IO[bytes]]:
    """A ``.part`` file for ``path`` that this transfer alone writes, open and emptied.

    ``<path>.part`` when no transfer holds it (one a killed kernel left is taken over),
    else ``<path>.1.part``, ``<path>.2.part``, ...: the first whose lock is free. The
    lock is held until the file is renamed or removed.
    """
    for number in itertools.count():
        part = path.with_name(f"{path.name}.part" if number == 0 else f"{path.name}.{number}.part")
        handle = _locked(part)
        if handle is not None:
            return part, handle
    raise AssertionError("unreachable")  # pragma: no cover


def _locked(part: Path) -> IO[bytes] | None:
    """``part`` opened, locked and emptied; None when another transfer holds it."""
    while True:
        # No O_TRUNC: the file may be another transfer's until the lock says otherwise.
        fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            if not _try_lock(fd):
                os.close(fd)
                return None
            # Locked, but the name may have moved on meanwhile (renamed into place, or
            # removed, by the transfer that held it): then lock the file now at that name.
            if not _same_file(fd, part):
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            return os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

except ImportError:  # pragma: no cover - no flock (Windows): one download per path at a time

    def _try_lock(fd: int) -> bool:
        return True


def _range_start(response: httpx.Response) -> int | None:
    value = response.headers.get("content-range", "")
    # "bytes <start>-<end>/<total or *>"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _range_total(response: httpx.Response) -> int | None:
    value = response.headers.get("content-range", "")
    total = value.rsplit("/", 1)[-1] if "/" in value else ""
    return int(total) if total.isdigit() else None


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:120] or "video"
