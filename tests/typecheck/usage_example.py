"""A typed tour of the public API, checked by `mypy --strict` in `make test`.

Never run: it exists so the type checker can prove that every name `fu.` exports
resolves to its real class or function (not `Any`), as an editor sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import assert_type

import pandas as pd

import flowup_nb as fu
from flowup_nb.api.client import AsyncFlowClient, FlowClient
from flowup_nb.api.errors import FlowError, InputError
from flowup_nb.api.models import GenerationResult, Job, UpscaleResult
from flowup_nb.ledger.store import Ledger
from flowup_nb.widgets.form import UpscaleForm
from flowup_nb.widgets.ledger_view import LedgerView

# The names resolve to their classes, not to Any.
assert_type(fu.FlowClient, type[FlowClient])
assert_type(fu.AsyncFlowClient, type[AsyncFlowClient])
assert_type(fu.Ledger, type[Ledger])
assert_type(fu.UpscaleForm, type[UpscaleForm])
assert_type(fu.LedgerView, type[LedgerView])
assert_type(fu.UpscaleResult, type[UpscaleResult])
assert_type(fu.InputError, type[InputError])


def upscale_and_save(video_id: str, folder: Path) -> Path:
    ledger = fu.Ledger(folder / "ledger.sqlite")
    with fu.FlowClient("a-token", base_url="http://127.0.0.1:8787", ledger=ledger) as client:
        result = client.upscale(video_id, "1080p", captcha_retry=5)
        assert_type(result, UpscaleResult)
        job = client.submit_upscale(video_id, "4K")
        assert_type(job, Job)
        finished = client.wait(job, timeout=600.0, on_update=lambda j: print(j.status))
        assert_type(finished, UpscaleResult | GenerationResult)
        frame = client.upscale_many([video_id], "1080p", concurrency=2, progress=False)
        assert_type(frame, pd.DataFrame)
        return client.download(result, folder / "out.mp4")


async def upscale_async(video_id: str) -> str | None:
    async with fu.AsyncFlowClient("a-token", base_url="http://127.0.0.1:8787") as client:
        try:
            result = await client.upscale(video_id)
        except FlowError as error:
            return str(error)
        assert_type(result.video_url, str | None)
        assert_type(result.remaining_credits, int | None)
        return result.video_url


def analyse(ledger: Ledger) -> float:
    summary = ledger.summary()
    assert_type(summary, pd.DataFrame)
    return float(len(ledger.frame(since="7 days")))


def simulate() -> str:
    with fu.sim.start(seed=7, time_scale=0.01) as sim:
        client = fu.connect(ledger=False)
        client.close()
        return sim.base_url
