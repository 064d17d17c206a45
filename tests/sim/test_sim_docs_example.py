"""The documentation's own three-step example, in plain httpx, against the simulator.

The code below is the spec's Python example (generate, upscale, download `videoUrl`) with
`requests` spelled `httpx` and only the base URL and token changed.
"""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from mp4probe import probe_mp4
from PIL import Image

import flowup_nb.sim as simulator


def test_three_step_example_downloads_a_1080p_h264_mp4(sim: simulator.SimHandle, tmp_path: Path):
    base = sim.base_url  # instead of 'https://api.useapi.net/v1/google-flow'
    token = sim.token  # instead of 'YOUR_API_TOKEN'
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # First generate a video
    generate_response = httpx.post(
        f"{base}/videos",
        headers=headers,
        json={"prompt": "A serene mountain landscape at sunset"},
        timeout=30,
    )
    generated = generate_response.json()
    # Prefer media[] over deprecated operations[]
    media_generation_id = generated["media"][0]["mediaGenerationId"]

    # Upscale the video
    upscale_response = httpx.post(
        f"{base}/videos/upscale",
        headers=headers,
        json={"mediaGenerationId": media_generation_id, "resolution": "1080p"},
        timeout=30,
    )
    upscaled = upscale_response.json()
    # Prefer media[] over deprecated operations[]
    video_url = upscaled["media"][0]["videoUrl"]

    # Download upscaled video
    video_response = httpx.get(video_url)
    out = tmp_path / "upscaled_video.mp4"
    with open(out, "wb") as f:
        f.write(video_response.content)

    assert generate_response.status_code == 200
    assert upscale_response.status_code == 200
    assert video_response.status_code == 200
    assert video_response.headers["content-type"] == "video/mp4"
    info = probe_mp4(out)
    assert (info.width, info.height) == (1920, 1080)
    assert info.codec == "h264" and info.boxes.sample_entry == "avc1"
    assert (info.boxes.width, info.boxes.height) == (1920, 1080)
    assert info.frames > 0
    # The thumbnail is a real JPEG of the same size.
    thumb = httpx.get(upscaled["media"][0]["thumbnailUrl"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"


def test_4k_upscale_downloads_a_3840x2160_mp4(calm_sim, client):
    source = client.post("/videos", json={"prompt": "a lighthouse"}).json()["media"][0]
    # The source itself is a playable 720p video.
    assert probe_mp4(httpx.get(source["videoUrl"]).content).height == 720
    body = client.post(
        "/videos/upscale",
        json={"mediaGenerationId": source["mediaGenerationId"], "resolution": "4K"},
    ).json()
    info = probe_mp4(httpx.get(body["media"][0]["videoUrl"]).content)
    assert (info.width, info.height) == (3840, 2160) and info.codec == "h264"
    thumb = Image.open(io.BytesIO(httpx.get(body["media"][0]["thumbnailUrl"]).content))
    assert thumb.format == "JPEG"
