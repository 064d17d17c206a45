"""Generate the simulator's media: small, real, playable H.264 MP4s and JPEG thumbnails.

Run from the repository root: `.venv/bin/python tools/make_assets.py`. The output goes to
`flowup_nb/sim/assets/` and is committed, so neither the simulator nor its users need
PyAV at run time. Re-running rewrites the same bytes for the same PyAV/Pillow versions.

Each clip is a two-second "mountain landscape at sunset" (the prompt the API's docs use)
with a caption naming its resolution, so a person watching a preview knows at a glance
which file the simulator served. The scene is mostly static on purpose: only the sun and a
frame counter move, which keeps files small enough to travel as base64 `rawBytes` in JSON.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

ASSETS_DIR = Path(__file__).resolve().parent.parent / "flowup_nb" / "sim" / "assets"

FPS = 24
SECONDS = 2
FRAME_COUNT = FPS * SECONDS
THUMBNAIL_WIDTH = 640
# The frame the thumbnail shows: mid-clip, sun well inside the picture.
THUMBNAIL_FRAME = FRAME_COUNT // 2


@dataclass(frozen=True)
class AssetSpec:
    """One clip and its thumbnail."""

    stem: str  # file name without extension
    label: str  # what the caption says
    width: int
    height: int
    # H.264 level: the smallest whose max frame size and macroblock rate fit the size at 24 fps
    # (3.1: 1280x720, 4.0: 1920x1080, 5.1: 3840x2160); a too-low level makes players refuse.
    level: str
    crf: int


ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("source_720p", "720p source", 1280, 720, "3.1", 30),
    AssetSpec("upscaled_1080p", "1080p", 1920, 1080, "4.0", 31),
    AssetSpec("upscaled_4k", "4K", 3840, 2160, "5.1", 34),
)

SKY_TOP = (32, 40, 92)
SKY_HORIZON = (246, 150, 92)
SUN = (255, 214, 120)
FAR_RIDGE = (92, 60, 98)
NEAR_RIDGE = (40, 28, 56)
CAPTION = (255, 255, 255)


def _font(height: int, fraction: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font, not a system one: the same glyphs on every machine.
    return ImageFont.load_default(size=max(8, round(height * fraction)))


def _sky(width: int, height: int) -> Image.Image:
    """Vertical gradient from night blue at the top to orange at the horizon."""
    ramp = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    top = Image.new("RGB", (width, height), SKY_TOP)
    horizon = Image.new("RGB", (width, height), SKY_HORIZON)
    return Image.composite(horizon, top, ramp)


def _ridge(width: int, height: int, peaks: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """A closed polygon: the given (x, y) peaks in frame fractions, down to the bottom edge."""
    points = [(0, height)] + [(round(x * width), round(y * height)) for x, y in peaks]
    return [*points, (width, height)]


def _foreground(spec: AssetSpec) -> Image.Image:
    """Everything in front of the sun, drawn once: mountains and the caption."""
    w, h = spec.width, spec.height
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    far = [(0.0, 0.62), (0.18, 0.48), (0.34, 0.60), (0.52, 0.42), (0.70, 0.58), (0.86, 0.47)]
    draw.polygon(_ridge(w, h, [*far, (1.0, 0.60)]), fill=FAR_RIDGE)
    near = [(0.0, 0.78), (0.22, 0.64), (0.40, 0.76), (0.63, 0.60), (0.82, 0.74), (1.0, 0.68)]
    draw.polygon(_ridge(w, h, near), fill=NEAR_RIDGE)
    draw.text(
        (round(w * 0.04), round(h * 0.05)),
        f"flowup-nb simulator · {spec.label}",
        font=_font(h, 0.07),
        fill=CAPTION,
    )
    draw.text(
        (round(w * 0.04), round(h * 0.14)),
        f"{w}x{h} · H.264 · {FPS} fps",
        font=_font(h, 0.04),
        fill=CAPTION,
    )
    return layer


def _frame(spec: AssetSpec, sky: Image.Image, foreground: Image.Image, index: int) -> Image.Image:
    """Frame `index`: the sun sinks along an arc behind the ridges; a counter ticks."""
    w, h = spec.width, spec.height
    image = sky.copy()
    draw = ImageDraw.Draw(image)
    progress = index / (FRAME_COUNT - 1)
    cx = w * (0.30 + 0.40 * progress)
    cy = h * (0.30 + 0.30 * progress)
    r = h * 0.09
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SUN)
    image.paste(foreground, (0, 0), foreground)
    ImageDraw.Draw(image).text(
        (round(w * 0.04), round(h * 0.90)),
        f"frame {index + 1:02d}/{FRAME_COUNT}",
        font=_font(h, 0.04),
        fill=CAPTION,
    )
    return image


def _encode(spec: AssetSpec, frames: list[Image.Image], path: Path) -> None:
    # faststart puts the moov atom first so a browser can play from a URL before the whole
    # file arrives; bitexact keeps library version strings out, so re-runs compare equal.
    container_options = {"movflags": "+faststart", "fflags": "+bitexact"}
    with av.open(str(path), mode="w", format="mp4", options=container_options) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = spec.width
        stream.height = spec.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {
            "crf": str(spec.crf),
            "preset": "slow",
            "profile": "high",
            "level": spec.level,
            # One keyframe per clip (smallest file); a fixed thread count, because x264's
            # output depends on it and the machine's core count must not.
            "x264-params": f"keyint={FRAME_COUNT}:min-keyint={FRAME_COUNT}:threads=2",
        }
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _thumbnail(image: Image.Image, path: Path) -> None:
    height = round(image.height * THUMBNAIL_WIDTH / image.width)
    small = image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
    small.save(path, format="JPEG", quality=82, optimize=True)


def make(spec: AssetSpec, out_dir: Path) -> tuple[Path, Path]:
    """Write `<stem>.mp4` and `<stem>.jpg` for one spec; return their paths."""
    sky = _sky(spec.width, spec.height)
    foreground = _foreground(spec)
    frames = [_frame(spec, sky, foreground, i) for i in range(FRAME_COUNT)]
    video = out_dir / f"{spec.stem}.mp4"
    thumb = out_dir / f"{spec.stem}.jpg"
    _encode(spec, frames, video)
    _thumbnail(frames[THUMBNAIL_FRAME], thumb)
    return video, thumb


def main() -> int:
    ASSETS_DIR.mkdir(parents=True, exist_ok=True)
    for spec in ASSETS:
        for path in make(spec, ASSETS_DIR):
            size = path.stat().st_size
            print(f"{path.relative_to(ASSETS_DIR.parent.parent.parent)}  {size / 1024:8.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
