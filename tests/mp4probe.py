"""Inspect an MP4 two independent ways, for tests.

`probe_mp4` decodes every frame with PyAV (FFmpeg's real decoder) and, separately, walks
the ISO-BMFF box tree in pure Python. Two readers that share no code must agree on what a
file is, so a test that checks both cannot be fooled by one reader's misreading.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

# Boxes whose payload is nothing but child boxes.
_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
# A visual sample entry (ISO 14496-12 8.5.2) has 78 bytes of fixed fields before its children.
_VISUAL_SAMPLE_ENTRY_HEADER = 78
# The handler type of a video track.
_VIDEO_HANDLER = b"vide"


class NotMp4Error(ValueError):
    """The bytes are not an MP4 this probe can read."""


@dataclass(frozen=True)
class Mp4Boxes:
    """What the pure-Python box walker read from the container structure."""

    major_brand: str  # from ftyp, e.g. "isom"
    top_level: tuple[str, ...]  # top-level box types in file order, e.g. ("ftyp", "moov", ...)
    width: int  # tkhd display width of the video track (16.16 fixed point, integer part)
    height: int
    sample_entry: str  # the video sample entry's four-cc, e.g. "avc1"
    avc_profile_idc: int | None  # from avcC: 66 baseline, 77 main, 100 high
    avc_level_idc: int | None  # from avcC: level x 10, e.g. 51 for level 5.1

    @property
    def faststart(self) -> bool:
        """True when the moov box precedes the media data, so playback can start early."""
        return self.top_level.index("moov") < self.top_level.index("mdat")


@dataclass(frozen=True)
class Mp4Info:
    """What the decoder saw, plus what the box walker read."""

    width: int
    height: int
    codec: str  # FFmpeg's decoder name, e.g. "h264"
    profile: str | None  # e.g. "High"
    pix_fmt: str  # of the decoded frames, e.g. "yuv420p"
    frames: int  # frames actually decoded
    duration_s: float
    fps: float
    has_audio: bool
    boxes: Mp4Boxes


def probe_mp4(data: bytes | Path) -> Mp4Info:
    """Decode `data` (MP4 bytes or a path to an MP4) and walk its boxes.

    Raises NotMp4Error when the bytes are not an MP4 with a decodable video track.
    """
    raw = data.read_bytes() if isinstance(data, Path) else bytes(data)
    boxes = walk_boxes(raw)
    try:
        with av.open(io.BytesIO(raw), mode="r") as container:
            if not container.streams.video:
                raise NotMp4Error("the MP4 has no video stream; expected an H.264 video track")
            stream = container.streams.video[0]
            frames = 0
            pix_fmt = ""
            for frame in container.decode(stream):
                frames += 1
                pix_fmt = frame.format.name
            if frames == 0:
                raise NotMp4Error("the MP4's video track decodes to no frames")
            fps = float(stream.average_rate) if stream.average_rate else 0.0
            if stream.duration is not None and stream.time_base is not None:
                duration_s = float(stream.duration * stream.time_base)
            else:  # some muxers leave the stream duration unset; frame count is then exact
                duration_s = frames / fps if fps else 0.0
            return Mp4Info(
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                codec=stream.codec_context.name,
                profile=stream.codec_context.profile,
                pix_fmt=pix_fmt,
                frames=frames,
                duration_s=duration_s,
                fps=fps,
                has_audio=bool(container.streams.audio),
                boxes=boxes,
            )
    except av.FFmpegError as exc:
        raise NotMp4Error(f"FFmpeg cannot decode these bytes as MP4 video: {exc}") from exc


def walk_boxes(raw: bytes) -> Mp4Boxes:
    """Read the box tree: ftyp brand, top-level order, and the video track's tkhd and stsd."""
    if len(raw) < 8 or raw[4:8] != b"ftyp":
        raise NotMp4Error(
            f"not an MP4: expected an ISO-BMFF 'ftyp' box at byte 0, found {raw[:8]!r} "
            f"({len(raw)} bytes in all); pass the bytes of an .mp4 file"
        )
    top = list(_iter_boxes(raw, 0, len(raw)))
    ftyp = next(payload for kind, payload in top if kind == b"ftyp")
    moov = next((payload for kind, payload in top if kind == b"moov"), None)
    if moov is None:
        raise NotMp4Error("the MP4 has no 'moov' box (truncated or fragmented file?)")
    for kind, trak in _iter_boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        track = _read_track(trak)
        if track is not None:
            width, height, entry, profile, level = track
            return Mp4Boxes(
                major_brand=ftyp[:4].decode("latin-1"),
                top_level=tuple(kind.decode("latin-1") for kind, _ in top),
                width=width,
                height=height,
                sample_entry=entry,
                avc_profile_idc=profile,
                avc_level_idc=level,
            )
    raise NotMp4Error("the MP4 has no video track (no 'trak' with a 'vide' handler)")


def _iter_boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, bytes]]:
    """Yield (type, payload) of the boxes laid end to end in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:  # 64-bit size follows the type
            if pos + 16 > end:
                break
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - pos
        if size < header or pos + size > end:
            raise NotMp4Error(
                f"corrupt MP4: box {kind!r} at byte {pos} claims {size} bytes, "
                f"but only {end - pos} remain"
            )
        yield kind, buf[pos + header : pos + size]
        pos += size


def _find(buf: bytes, path: list[bytes]) -> bytes | None:
    """The payload at a path of container boxes, e.g. [b"mdia", b"hdlr"]."""
    head, *rest = path
    for kind, payload in _iter_boxes(buf, 0, len(buf)):
        if kind == head:
            return payload if not rest else _find(payload, rest)
    return None


def _read_track(trak: bytes) -> tuple[int, int, str, int | None, int | None] | None:
    """(width, height, sample entry, avc profile, avc level) of a video track, else None."""
    hdlr = _find(trak, [b"mdia", b"hdlr"])
    # hdlr: version/flags (4), pre_defined (4), handler_type (4)
    if hdlr is None or hdlr[8:12] != _VIDEO_HANDLER:
        return None
    tkhd = _find(trak, [b"tkhd"])
    stsd = _find(trak, [b"mdia", b"minf", b"stbl", b"stsd"])
    if tkhd is None or stsd is None:
        raise NotMp4Error("corrupt MP4: the video track lacks a 'tkhd' or 'stsd' box")
    # tkhd ends with width and height as 16.16 fixed point; version 1 widens the three
    # time fields to 64 bits, which moves them 12 bytes later.
    dims_at = 88 if tkhd[0] == 1 else 76
    width, height = (v >> 16 for v in struct.unpack_from(">II", tkhd, dims_at))
    # stsd: version/flags (4), entry_count (4), then the sample entries as boxes.
    entries = list(_iter_boxes(stsd, 8, len(stsd)))
    if not entries:
        raise NotMp4Error("corrupt MP4: the video track's 'stsd' has no sample entry")
    entry_kind, entry = entries[0]
    profile = level = None
    if entry_kind in (b"avc1", b"avc3"):
        avcc = dict(_iter_boxes(entry, _VISUAL_SAMPLE_ENTRY_HEADER, len(entry))).get(b"avcC")
        if avcc is not None and len(avcc) >= 4:
            # AVCDecoderConfigurationRecord: version, profile, compatibility, level
            profile, level = avcc[1], avcc[3]
    return width, height, entry_kind.decode("latin-1"), profile, level
