"""The media host: signed expiring URLs, Range, HEAD, content types, the token counter."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

JO = "jo.ultra@example.com"


@pytest.fixture
def video(calm_sim, client) -> dict:
    body = client.post(
        "/videos/upscale", json={"mediaGenerationId": calm_sim.sample_ids(JO)[0]}
    ).json()
    return body["media"][0]


@pytest.fixture
def media() -> httpx.Client:
    with httpx.Client(timeout=10) as c:
        yield c


def test_full_get_has_type_length_and_accept_ranges(video, media):
    response = media.get(video["videoUrl"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content) > 1000
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content[4:8] == b"ftyp"
    thumb = media.get(video["thumbnailUrl"])
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"


def test_head_has_headers_and_no_body(video, media):
    full = media.get(video["videoUrl"]).content
    head = media.head(video["videoUrl"])
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(full)


@pytest.mark.parametrize(
    "spec, span",
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, None)),
        ("bytes=-50", (-50, None)),
        ("bytes=10-10", (10, 10)),
    ],
)
def test_single_ranges_give_206(video, media, spec, span):
    full = media.get(video["videoUrl"]).content
    size = len(full)
    response = media.get(video["videoUrl"], headers={"Range": spec})
    assert response.status_code == 206
    start, end = span
    if start < 0:
        start, end = size + start, size - 1
    elif end is None:
        end = size - 1
    assert response.content == full[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert int(response.headers["content-length"]) == end - start + 1


def test_range_past_the_end_is_clipped_and_beyond_is_416(video, media):
    size = len(media.get(video["videoUrl"]).content)
    clipped = media.get(video["videoUrl"], headers={"Range": f"bytes={size - 5}-{size + 100}"})
    assert clipped.status_code == 206 and len(clipped.content) == 5
    refused = media.get(video["videoUrl"], headers={"Range": f"bytes={size}-"})
    assert refused.status_code == 416
    assert refused.headers["content-range"] == f"bytes */{size}"


def test_several_ranges_or_bad_syntax_serve_the_whole_file(video, media):
    size = len(media.get(video["videoUrl"]).content)
    for spec in ("bytes=0-1,5-6", "bytes=abc", "items=0-5"):
        response = media.get(video["videoUrl"], headers={"Range": spec})
        assert response.status_code == 200 and len(response.content) == size


def test_resume_a_download_with_range(video, media):
    full = media.get(video["videoUrl"]).content
    first = media.get(video["videoUrl"], headers={"Range": "bytes=0-999"}).content
    rest = media.get(video["videoUrl"], headers={"Range": f"bytes={len(first)}-"}).content
    assert first + rest == full


def test_urls_expire_after_six_hours_scaled(calm_sim, video, media):
    assert media.get(video["videoUrl"]).status_code == 200
    calm_sim.advance(6 * 3600 * calm_sim.time_scale + 2)  # 21.6 s at time_scale 0.001
    expired = media.get(video["videoUrl"])
    assert expired.status_code == 403
    assert "expired" in expired.text.lower()
    assert expired.headers["content-type"].startswith("text/plain")
    # The job record still holds the old URL; a fresh upscale call (cached) is the way back.


def test_bad_signatures_and_unknown_objects(video, media):
    url = video["videoUrl"]
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert media.get(tampered).status_code == 403
    assert media.get(url.split("?")[0]).status_code == 403  # unsigned
    later = url.replace("Expires=", "Expires=9")  # a longer life is not for sale
    assert media.get(later).status_code == 403
    assert media.get(url.replace("/video/", "/video/x")).status_code == 404
    assert media.post(url).status_code == 405


def test_media_requests_with_authorization_are_counted(calm_sim, video, media):
    media.get(video["videoUrl"])
    assert calm_sim.stats()["media_requests_with_authorization"] == 0
    media.get(video["videoUrl"], headers={"Authorization": f"Bearer {calm_sim.token}"})
    stats = calm_sim.stats()
    assert stats["media_requests"] == 2 and stats["media_requests_with_authorization"] == 1


def test_publish_file_streams_any_file_with_range(calm_sim, media, tmp_path: Path):
    data = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "big clip.mp4"
    path.write_bytes(data)
    url = calm_sim.publish_file(path)
    assert url.startswith(calm_sim.media_base + "/video/")
    response = media.get(url)
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "video/mp4"
    part = media.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    with pytest.raises(FileNotFoundError):
        calm_sim.publish_file(tmp_path / "missing.mp4")


def test_truncated_published_file(calm_sim, media, tmp_path: Path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 100_000)
    url = calm_sim.publish_file(path)
    calm_sim.inject("media", "truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        media.get(url)
    assert media.get(url).content == path.read_bytes()
