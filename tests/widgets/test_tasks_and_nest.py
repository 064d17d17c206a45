"""TaskKeeper (tasks from sync callbacks) and run_sync (async work from sync code)."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from flowup_nb.runloop import can_patch
from flowup_nb.widgets.tasks import NoRunningLoopError, TaskKeeper

ROOT = Path(__file__).resolve().parents[2]


def test_a_spawned_task_survives_without_outside_references() -> None:
    async def scenario() -> list[str]:
        done: list[str] = []
        keeper = TaskKeeper(on_error=lambda exc: done.append(f"error {exc}"))

        async def work() -> None:
            await asyncio.sleep(0.01)
            done.append("finished")

        keeper.spawn(work())  # the caller drops the task at once, as a callback does
        gc.collect()
        assert len(keeper.tasks) == 1
        await keeper.settle()
        assert not keeper.tasks
        return done

    assert asyncio.run(scenario()) == ["finished"]


def test_a_failing_task_reports_its_exception_and_cancel_does_not() -> None:
    async def scenario() -> list[BaseException]:
        errors: list[BaseException] = []
        keeper = TaskKeeper(on_error=errors.append)

        async def fail() -> None:
            raise ValueError("shown, not lost")

        async def forever() -> None:
            await asyncio.sleep(3600)

        failing = keeper.spawn(fail())
        keeper.spawn(forever())
        await asyncio.wait([failing])  # it has failed (and been reported) before the cancel
        keeper.cancel_all()
        await keeper.settle()
        return errors

    errors = asyncio.run(scenario())
    assert [str(e) for e in errors] == ["shown, not lost"]


def test_spawning_outside_a_loop_explains_and_leaves_no_warning() -> None:
    keeper = TaskKeeper(on_error=lambda exc: None)

    async def work() -> None:
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would fail here
        with pytest.raises(NoRunningLoopError, match="running event loop"):
            keeper.spawn(work())
        gc.collect()


def _run(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter: nest_asyncio patches asyncio process-wide."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


_INSIDE_A_LOOP = """
    import asyncio, threading
    import flowup_nb as fu
    import flowup_nb.widgets
    from flowup_nb.runloop import run_sync
    fu.UpscaleForm, fu.LedgerView  # import the whole notebook layer
    print("patched at import:", hasattr(asyncio, "_nest_patched"))

    async def where():
        await asyncio.sleep(0)
        return threading.current_thread().name

    async def kernel_cell():
        # Sync code inside a running loop, as a notebook cell calling a sync helper.
        return run_sync(where())

    print("ran on:", asyncio.run(kernel_cell()))
    print("patched after:", hasattr(asyncio, "_nest_patched"))
    print("no loop:", run_sync(where()))
"""


def test_run_sync_patches_lazily_inside_a_running_loop() -> None:
    out = _run(_INSIDE_A_LOOP)
    assert out.splitlines() == [
        "patched at import: False",
        "ran on: MainThread",
        "patched after: True",
        "no loop: MainThread",
    ]


def test_run_sync_falls_back_to_a_thread_where_it_cannot_patch() -> None:
    out = _run(_INSIDE_A_LOOP, FLOWUP_NO_NEST_ASYNCIO="1")
    lines = out.splitlines()
    assert lines[0] == "patched at import: False"
    assert lines[1].startswith("ran on: flowup-run-sync")
    assert lines[2] == "patched after: False"


def test_only_asyncio_loops_are_patchable(monkeypatch: pytest.MonkeyPatch) -> None:
    # nest_asyncio can only patch asyncio's own loops (not uvloop's): for any other loop
    # run_sync takes the worker thread (the path checked just above).
    class ForeignLoop(asyncio.AbstractEventLoop):
        pass

    loop = asyncio.new_event_loop()
    try:
        assert can_patch(loop)
        assert not can_patch(ForeignLoop())
        monkeypatch.setenv("FLOWUP_NO_NEST_ASYNCIO", "1")
        assert not can_patch(loop)
    finally:
        loop.close()


def test_form_wait_blocks_a_cell_while_the_form_works() -> None:
    # A notebook cell (sync code on the kernel's running loop) clicks and waits: the
    # form's task must make progress while the cell blocks, through run_sync.
    out = _run(
        """
        import asyncio
        import flowup_nb as fu
        import flowup_nb.sim as simulator
        from flowup_nb.widgets.form import UpscaleForm

        with simulator.start(seed=5, time_scale=0.001, captcha_acceptance=1.0) as sim:
            async def kernel():
                client = fu.FlowClient(sim.token, base_url=sim.base_url,
                                       poll_interval=(0.005, 0.05), upscale_timeout=30.0)
                client.simulator = sim

                def cell():  # sync, like a notebook cell
                    form = UpscaleForm(client, ledger=fu.Ledger())
                    form.upscale_button.click()
                    state = form.wait()
                    return state.phase, form.result.resolution

                result = cell()
                client.close()
                return result

            print(*asyncio.run(kernel()))
        """
    )
    assert out == "completed 1080p"
