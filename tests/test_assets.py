"""The simulator's shipped media are real, small, browser-friendly H.264 MP4s and JPEGs."""

from __future__ import annotations

import base64
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
from mp4probe import Mp4Info, NotMp4Error, probe_mp4, walk_boxes
from PIL import Image

import flowup_nb

ASSETS_DIR = Path(flowup_nb.__file__).parent / "sim" / "assets"
GENERATOR = Path(__file__).resolve().parent.parent / "tools" / "make_assets.py"

# stem -> (width, height, size budget in bytes): rawBytes travel base64-encoded in JSON.
VIDEOS = {
    "source_720p": (1280, 720, 150 * 1024),
    "upscaled_1080p": (1920, 1080, 150 * 1024),
    "upscaled_4k": (3840, 2160, 400 * 1024),
}

# H.264 Annex A, table A-1: level_idc -> (max frame size, max macroblocks per second).
H264_LEVEL_LIMITS = {
    30: (1620, 40500),
    31: (3600, 108000),
    32: (5120, 216000),
    40: (8192, 245760),
    41: (8192, 245760),
    42: (8704, 522240),
    50: (22080, 589824),
    51: (36864, 983040),
    52: (36864, 2073600),
}
AVC_MAIN, AVC_HIGH = 77, 100


@pytest.fixture(scope="module")
def probes() -> dict[str, Mp4Info]:
    # Decoding the 4K clip is the slow part of this file: do it once.
    return {stem: probe_mp4(ASSETS_DIR / f"{stem}.mp4") for stem in VIDEOS}


@pytest.mark.parametrize("stem", VIDEOS)
def test_video_decodes_at_its_size_as_h264(probes: dict[str, Mp4Info], stem: str) -> None:
    info = probes[stem]
    width, height, _ = VIDEOS[stem]
    assert (info.width, info.height) == (width, height)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.profile in ("Main", "High")
    assert not info.has_audio


@pytest.mark.parametrize("stem", VIDEOS)
def test_video_is_about_two_seconds_at_24_fps(probes: dict[str, Mp4Info], stem: str) -> None:
    info = probes[stem]
    assert info.fps == pytest.approx(24.0)
    assert 1.5 <= info.duration_s <= 2.5
    # Every frame the container promises is actually decodable.
    assert info.frames == round(info.duration_s * info.fps)


@pytest.mark.parametrize("stem", VIDEOS)
def test_box_walker_agrees_with_the_decoder(probes: dict[str, Mp4Info], stem: str) -> None:
    info = probes[stem]
    assert (info.boxes.width, info.boxes.height) == (info.width, info.height)
    assert info.boxes.sample_entry == "avc1"
    assert {"Main": AVC_MAIN, "High": AVC_HIGH}[info.profile] == info.boxes.avc_profile_idc


@pytest.mark.parametrize("stem", VIDEOS)
def test_h264_level_admits_the_frame_size_and_rate(probes: dict[str, Mp4Info], stem: str) -> None:
    info = probes[stem]
    max_frame_mbs, max_mbs_per_s = H264_LEVEL_LIMITS[info.boxes.avc_level_idc]
    frame_mbs = -(-info.width // 16) * -(-info.height // 16)
    assert frame_mbs <= max_frame_mbs
    assert frame_mbs * info.fps <= max_mbs_per_s


def test_4k_declares_level_5_1(probes: dict[str, Mp4Info]) -> None:
    assert probes["upscaled_4k"].boxes.avc_level_idc == 51


@pytest.mark.parametrize("stem", VIDEOS)
def test_video_is_faststart_and_small(probes: dict[str, Mp4Info], stem: str) -> None:
    assert probes[stem].boxes.faststart, "moov must precede mdat for progressive playback"
    assert (ASSETS_DIR / f"{stem}.mp4").stat().st_size < VIDEOS[stem][2]


@pytest.mark.parametrize("stem", VIDEOS)
def test_video_base64_starts_like_googles_raw_bytes(stem: str) -> None:
    # API_NOTES: the cached re-upscale's rawBytes start "AAAAIGZ0eXBpc29t" (a 32-byte
    # ftyp box, brand isom); the simulator's should look the same to a client.
    head = (ASSETS_DIR / f"{stem}.mp4").read_bytes()[:12]
    assert base64.b64encode(head).startswith(b"AAAAIGZ0eXBpc29t")


@pytest.mark.parametrize("stem", VIDEOS)
def test_thumbnail_is_a_jpeg_of_the_video_shape(stem: str) -> None:
    width, height, _ = VIDEOS[stem]
    path = ASSETS_DIR / f"{stem}.jpg"
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        assert image.width == 640
        assert image.width / image.height == pytest.approx(width / height, rel=0.01)
        image.load()  # decodes the whole scan, not just the header


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_assets", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_generator_table_matches_the_shipped_files() -> None:
    generator = _load_generator()
    table = {a.stem: (a.width, a.height) for a in generator.ASSETS}
    assert table == {stem: (w, h) for stem, (w, h, _) in VIDEOS.items()}
    assert Path(generator.ASSETS_DIR) == ASSETS_DIR
    shipped = {p.name for p in ASSETS_DIR.iterdir() if p.suffix in (".mp4", ".jpg")}
    assert shipped == {f"{stem}{ext}" for stem in table for ext in (".mp4", ".jpg")}


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [b"", b"<html>not a video</html>", _jpeg_bytes()],
    ids=["empty", "html", "jpeg"],
)
def test_non_mp4_is_rejected_naming_the_fix(data: bytes) -> None:
    with pytest.raises(NotMp4Error, match=r"expected an ISO-BMFF 'ftyp' box.*\.mp4"):
        probe_mp4(data)


def test_mp4_cut_after_ftyp_has_no_moov() -> None:
    head = (ASSETS_DIR / "upscaled_1080p.mp4").read_bytes()[:32]
    with pytest.raises(NotMp4Error, match="no 'moov' box"):
        walk_boxes(head)


def test_mp4_cut_inside_moov_is_reported_corrupt() -> None:
    head = (ASSETS_DIR / "upscaled_1080p.mp4").read_bytes()[:200]
    with pytest.raises(NotMp4Error, match="corrupt MP4: box b'moov'"):
        probe_mp4(head)


def test_mp4_with_garbage_media_data_is_rejected() -> None:
    # Intact structure, scrambled picture data: only the real decoder can tell.
    data = bytearray((ASSETS_DIR / "source_720p.mp4").read_bytes())
    mdat = data.index(b"mdat") + 4
    data[mdat:] = bytes(len(data) - mdat)
    with pytest.raises(NotMp4Error):
        probe_mp4(bytes(data))


def test_probe_accepts_bytes_and_paths_alike(probes: dict[str, Mp4Info]) -> None:
    path = ASSETS_DIR / "source_720p.mp4"
    assert probe_mp4(path.read_bytes()) == probes["source_720p"]
