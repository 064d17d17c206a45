"""form.wait() on every kind of loop: never a hang.

The form's tasks live on the kernel's loop. A cell that blocks in ``form.wait()`` can only
let them run by re-entering that loop (nest_asyncio, asyncio's own loops: tested in
test_tasks_and_nest.py). Where the loop cannot be re-entered (uvloop, or
FLOWUP_NO_NEST_ASYNCIO set: the same path) wait() says so at once and names
``await form.settle()``; from another thread it waits on the kernel's loop. Each case runs
in a fresh interpreter (nest_asyncio patches asyncio process-wide), whose timeout turns a
hang into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_KERNEL = """
    import asyncio, threading
    import flowup_nb as fu
    import flowup_nb.sim as simulator
    from flowup_nb.widgets.form import UpscaleForm

    with simulator.start(seed=5, time_scale=0.001, captcha_acceptance=1.0) as sim:
        async def kernel():
            client = fu.FlowClient(sim.token, base_url=sim.base_url,
                                   poll_interval=(0.005, 0.05), upscale_timeout=30.0)
            client.simulator = sim
            form = UpscaleForm(client, ledger=fu.Ledger())
            try:
                await cells(form)
            finally:
                form.close()
                client.close()

        asyncio.run(kernel())
"""


def _run(cells: str, **env: str) -> list[str]:
    code = textwrap.dedent(cells) + textwrap.dedent(_KERNEL)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_a_cell_on_a_loop_that_cannot_be_reentered_is_told_to_await_settle() -> None:
    lines = _run(
        """
        async def cells(form):
            form.upscale_button.click()
            try:
                form.wait()  # sync, in the cell: the loop cannot run the form meanwhile
            except RuntimeError as error:
                print("refused:", type(error).__name__)
                print("names:", "await form.settle()" in str(error))
                print("env:", "FLOWUP_NO_NEST_ASYNCIO" in str(error))
            await form.settle()  # what the message says: the form finishes
            print("then:", form.state.phase, form.result.resolution)
        """,
        FLOWUP_NO_NEST_ASYNCIO="1",
    )
    assert lines == [
        "refused: LoopNotReentrantError",
        "names: True",
        "env: True",
        "then: completed 1080p",
    ]


def test_wait_from_another_thread_waits_on_the_kernels_loop() -> None:
    for env in ({}, {"FLOWUP_NO_NEST_ASYNCIO": "1"}):
        lines = _run(
            """
            async def cells(form):
                form.upscale_button.click()
                loop = asyncio.get_running_loop()
                state = await loop.run_in_executor(None, form.wait)  # a worker thread
                print("state:", state.phase, form.result.resolution)
            """,
            **env,
        )
        assert lines == ["state: completed 1080p"], env


def test_wait_with_nothing_under_way_returns_at_once_on_any_loop() -> None:
    lines = _run(
        """
        async def cells(form):
            await form.settle()  # the account checks the form starts on its own
            print("idle:", form.wait().phase)
            form.upscale_button.click()
            await form.settle()
            print("done:", form.wait().phase)
        """,
        FLOWUP_NO_NEST_ASYNCIO="1",
    )
    assert lines == ["idle: idle", "done: completed"]
