"""check_link against the simulator's media host: fresh, expired, gone, unreachable."""

from __future__ import annotations

import socket
from typing import Any

from formkit import FAST, ULTRA

import flowup_nb as fu
from flowup_nb.widgets.player import check_link


def _result(sim: Any) -> Any:
    with fu.FlowClient(sim.token, base_url=sim.base_url, **FAST) as client:
        return client.upscale(sim.sample_ids(ULTRA)[0])


def test_a_fresh_link_is_ok_and_sends_no_token(sim: Any) -> None:
    result = _result(sim)
    before = sim.stats()["media_requests"]
    check = check_link(result.video_url)
    assert check.ok and check.status_code in (200, 206)
    stats = sim.stats()
    assert stats["media_requests"] == before + 1
    assert stats["media_requests_with_authorization"] == 0


def test_an_expired_link_is_detected(sim: Any) -> None:
    result = _result(sim)
    sim.advance(7 * 3600 * sim.time_scale)
    check = check_link(result.video_url)
    assert not check.ok and check.expired and check.status_code == 403


def test_a_tampered_or_unknown_link(sim: Any) -> None:
    result = _result(sim)
    tampered = result.video_url.replace("Signature=", "Signature=x")
    assert check_link(tampered).expired
    unknown = result.video_url.replace("/video/", "/video/nothing-")
    assert check_link(unknown).status_code in (403, 404)


def test_an_unreachable_host() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = check_link(f"http://127.0.0.1:{port}/video/x.mp4")
    assert not check.ok and check.status_code is None and "unreachable" in check.reason
