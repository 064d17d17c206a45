"""Mistakes a type checker must catch in user code (tests/test_typing.py expects each
line marked `# error:` to be reported by mypy, proving the public surface is typed)."""

from __future__ import annotations

import flowup_nb as fu


def mistakes(client: fu.FlowClient) -> None:
    client.upscale(12345)  # error: arg-type
    client.upscale("id", resolution=4)  # error: arg-type
    client.upscale_later("id")  # error: attr-defined
    result = client.upscale("id")
    result.video_urls  # noqa: B018  # error: attr-defined
    fu.Ledger(path=3.5)  # error: arg-type
