"""download(): real MP4s of both resolutions, resume after a break, rawBytes, refusals."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from client_support import ULTRA
from mp4probe import probe_mp4

import flowup_nb as fu


@pytest.mark.parametrize(("resolution", "size"), [("1080p", (1920, 1080)), ("4K", (3840, 2160))])
def test_download_of_both_resolutions_is_a_playable_mp4(
    resolution: str, size: tuple[int, int], sim: Any, client: Any, tmp_path: Path, exchanges: list
) -> None:
    result = client.upscale(sim.new_video_id(ULTRA), resolution)
    path = client.download(result, tmp_path / "out.mp4")
    assert path == tmp_path / "out.mp4"
    info = probe_mp4(path)
    assert (info.width, info.height) == size
    assert not (tmp_path / "out.mp4.part").exists()
    download = exchanges[-1]
    assert download.operation == "download"
    assert download.http_status == 200
    assert download.bytes_received == path.stat().st_size
    assert download.account == ULTRA
    assert sim.stats()["media_requests_with_authorization"] == 0


def test_a_truncated_transfer_resumes_with_range(
    sim: Any, client: Any, tmp_path: Path, exchanges: list
) -> None:
    result = client.upscale(sim.new_video_id(ULTRA), "4K")
    whole = client.download(result, tmp_path / "clean.mp4").read_bytes()
    exchanges.clear()

    sim.inject("media", "truncate")
    path = client.download(result, tmp_path / "resumed.mp4")

    assert path.read_bytes() == whole
    assert probe_mp4(path).width == 3840
    broken, resumed = exchanges
    assert broken.outcome == "error" and broken.will_retry
    assert 0 < broken.bytes_received < len(whole)
    assert resumed.http_status == 206  # the rest only, not the whole file again
    assert resumed.bytes_received == len(whole) - broken.bytes_received
    assert sim.stats()["media_requests_with_authorization"] == 0


def test_a_dropped_media_request_is_retried(sim: Any, client: Any, tmp_path: Path) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    sim.inject("media", "drop")
    path = client.download(result, tmp_path / "out.mp4")
    assert probe_mp4(path).height == 1080


def test_cached_raw_bytes_are_written(sim: Any, client: Any, tmp_path: Path) -> None:
    source = sim.new_video_id(ULTRA)
    first = client.upscale(source)
    again = client.upscale(source)  # the server caches: rawBytes, no URL
    assert not first.cached
    assert again.cached and again.raw_bytes and again.video_url is None
    before = sim.stats()["media_requests"]
    path = client.download(again, tmp_path / "cached.mp4")
    assert path.read_bytes() == again.raw_bytes
    assert probe_mp4(path).height == 1080
    assert sim.stats()["media_requests"] == before  # nothing fetched


def test_a_directory_target_gets_a_file_named_after_the_video(
    sim: Any, client: Any, tmp_path: Path
) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    path = client.download(result, tmp_path)
    assert path.parent == tmp_path
    assert path.suffix == ".mp4"
    assert probe_mp4(path).width == 1920


def test_an_expired_url_says_upscaling_again_is_free(sim: Any, client: Any, tmp_path: Path) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    sim.advance(48 * 3600)
    with pytest.raises(fu.MediaExpiredError) as caught:
        client.download(result, tmp_path / "late.mp4")
    assert caught.value.status_code == 403
    assert "free" in str(caught.value)
    assert "?" not in caught.value.url  # the signature stays out of messages
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_a_body_that_is_not_mp4_is_refused(sim: Any, client: Any, tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"<html><body>Access denied</body></html>" * 10)
    url = sim.publish_file(fake)  # served as video/mp4, but it is not one
    with pytest.raises(fu.NotAVideoError) as caught:
        client.download(url, tmp_path / "out.mp4")
    assert "not an MP4" in str(caught.value)
    assert not (tmp_path / "out.mp4").exists()
    assert not (tmp_path / "out.mp4.part").exists()


def test_a_non_video_content_type_is_refused(
    client: Any, tmp_path: Path, local_server: Any
) -> None:
    def handle(request: Any) -> None:
        body = b"<html>Please sign in</html>"
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    url = local_server(handle)
    with pytest.raises(fu.NotAVideoError) as caught:
        client.download(f"{url}/video.mp4", tmp_path / "out.mp4")
    assert "text/html" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_the_token_is_not_sent_to_the_media_host(
    sim: Any, client: Any, tmp_path: Path, local_server: Any
) -> None:
    video = client.download(client.upscale(sim.new_video_id(ULTRA)), tmp_path / "a.mp4")
    seen_headers: list[dict[str, str]] = []

    def handle(request: Any) -> None:
        seen_headers.append(dict(request.headers))
        body = video.read_bytes()
        request.send_response(200)
        request.send_header("Content-Type", "video/mp4")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    url = local_server(handle)
    client.download(f"{url}/v.mp4", tmp_path / "b.mp4")
    assert seen_headers
    assert all("authorization" not in {k.lower() for k in h} for h in seen_headers)
    assert all(sim.token not in str(h) for h in seen_headers)


@pytest.mark.parametrize("bad", [42, "not a url", None])
def test_download_refuses_what_is_not_a_result(bad: Any, client: Any, tmp_path: Path) -> None:
    with pytest.raises(fu.InputError):
        client.download(bad, tmp_path / "x.mp4")


def test_download_refuses_a_missing_directory(sim: Any, client: Any, tmp_path: Path) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    with pytest.raises(fu.InputError, match="does not exist"):
        client.download(result, tmp_path / "nope" / "x.mp4")


def test_a_large_download_streams_in_constant_memory(sim: Any, client: Any, tmp_path: Path) -> None:
    size = 70 * 1024 * 1024  # more than two write-behind sync intervals
    source = tmp_path / "big.mp4"
    with open(source, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
        handle.write(os.urandom(1024 * 1024) * (size // (1024 * 1024)))
    url = sim.publish_file(source)
    tracemalloc.start()
    try:
        path = client.download(url, tmp_path / "copy.mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # a few chunks, not the file
    assert path.stat().st_size == source.stat().st_size
    with open(source, "rb") as a, open(path, "rb") as b:
        while chunk := a.read(1 << 20):
            assert chunk == b.read(1 << 20)
