"""download() targets: several downloads to one path at once (a double-clicked Save, two
kernels), and a path ending in a separator (a folder, never a file of that name)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from client_support import FAST, ULTRA

import flowup_nb as fu
from flowup_nb.sim.media import ASSETS_DIR

VIDEO = (ASSETS_DIR / "upscaled_1080p.mp4").read_bytes()
TOGETHER = 3  # downloads to one path at once


def _serve_in_step(local_server: Callable[..., str], together: int) -> str:
    """A media host that sends each answer's first half, then holds every answer until
    ``together`` of them are half sent: the downloads overlap by construction."""
    halfway = threading.Barrier(together, timeout=30)

    def handle(request: Any) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "video/mp4")
        request.send_header("Content-Length", str(len(VIDEO)))
        request.end_headers()
        middle = len(VIDEO) // 2
        request.wfile.write(VIDEO[:middle])
        request.wfile.flush()
        halfway.wait()
        request.wfile.write(VIDEO[middle:])

    return local_server(handle) + "/video.mp4"


def _assert_one_whole_video(folder: Path, target: Path) -> None:
    assert target.read_bytes() == VIDEO
    assert sorted(p.name for p in folder.iterdir()) == [target.name]  # no .part left


def test_downloads_to_one_path_at_once_all_succeed_sync(
    sim: Any, tmp_path: Path, local_server: Callable[..., str]
) -> None:
    url = _serve_in_step(local_server, TOGETHER)
    target = tmp_path / "video.mp4"
    with (
        fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client,
        ThreadPoolExecutor(TOGETHER) as pool,
    ):
        saves = [pool.submit(client.download, url, target) for _ in range(TOGETHER)]
        paths = [save.result(timeout=60) for save in saves]
    assert paths == [target] * TOGETHER
    _assert_one_whole_video(tmp_path, target)


def test_downloads_to_one_path_at_once_all_succeed_async(
    sim: Any, tmp_path: Path, local_server: Callable[..., str]
) -> None:
    url = _serve_in_step(local_server, TOGETHER)
    target = tmp_path / "video.mp4"

    async def main() -> list[Path]:
        async with fu.AsyncFlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
            saves = [client.download(url, target) for _ in range(TOGETHER)]
            return list(await asyncio.gather(*saves))

    assert asyncio.run(main()) == [target] * TOGETHER
    _assert_one_whole_video(tmp_path, target)


def test_a_download_over_a_left_part_file_takes_it_over(sim: Any, tmp_path: Path) -> None:
    """A .part left by a killed kernel is not anyone's: the next download reuses and
    removes it (rather than leaving it forever beside a numbered one)."""
    target = tmp_path / "video.mp4"
    (tmp_path / "video.mp4.part").write_bytes(b"half a video from a killed kernel")
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        result = client.upscale(sim.new_video_id(ULTRA))
        assert client.download(result, target) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]


@pytest.mark.parametrize("separator", ["/", "\\"] if Path("a\\b").name == "b" else ["/"])
def test_a_trailing_separator_means_a_folder(
    sim: Any, client: Any, tmp_path: Path, separator: str
) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    missing = f"{tmp_path / 'new'}{separator}"
    with pytest.raises(fu.InputError, match="does not exist") as refused:
        client.download(result, missing)
    assert "mkdir" in str(refused.value)  # names the fix
    assert list(tmp_path.iterdir()) == []  # no file named `new`, nothing fetched

    (tmp_path / "new").mkdir()
    saved = client.download(result, missing)
    assert saved.parent == tmp_path / "new"
    assert saved.read_bytes()[4:8] == b"ftyp"


def test_a_trailing_separator_after_a_file_is_refused(
    sim: Any, client: Any, tmp_path: Path
) -> None:
    result = client.upscale(sim.new_video_id(ULTRA))
    existing = tmp_path / "video.mp4"
    existing.write_bytes(b"not a folder")
    with pytest.raises(fu.InputError, match="not a folder"):
        client.download(result, f"{existing}/")
    assert existing.read_bytes() == b"not a folder"
