"""Every notebook runs top to bottom in a real kernel, on a simulator, without an error;
and none is committed with outputs."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import flowup_nb.sim as simulator
from flowup_nb.sim import SimHandle

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SIM_SEED = "7"

sys.path.insert(0, str(ROOT / "tools"))
from strip_notebooks import has_outputs  # noqa: E402


def test_the_expected_notebooks_exist() -> None:
    names = {path.name for path in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_cost_latency_analysis.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_outputs_are_committed(path: Path) -> None:
    book = json.loads(path.read_text(encoding="utf-8"))
    assert not has_outputs(book), f"run: python tools/strip_notebooks.py {path}"


@pytest.fixture
def api() -> Iterator[SimHandle]:
    """The API the kernels talk to: a seeded simulator hosted by this test process.

    The kernel gets it as USEAPI_TOKEN and FLOWUP_BASE_URL, so connect() treats it as the
    real service: the run is reproducible (a fixed seed, every captcha accepted), which
    connect()'s own randomly seeded simulator is not.
    """
    with simulator.start(seed=515, time_scale=0.01, fail_rate=0.0, captcha_acceptance=1.0) as sim:
        yield sim


def _kernel_env(tmp_path: Path, api: SimHandle | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("USEAPI_TOKEN", "FLOWUP_BASE_URL")}
    if api is not None:
        env["USEAPI_TOKEN"] = api.token
        env["FLOWUP_BASE_URL"] = api.base_url
    env["FLOWUP_SIM_SEED"] = SIM_SEED  # connect()'s own simulator, pinned: same run every time
    env["FLOWUP_SIM_TIME_SCALE"] = "0.005"  # 200x the real service's speed
    env["FLOWUP_LEDGER"] = str(tmp_path / "ledger.sqlite")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


# (notebook, where its API is): connect()'s own simulator (no token), or the hosted
# simulator posing as the real API (USEAPI_TOKEN set), for both of the quickstart's branches.
RUNS = [
    (path.stem, where)
    for path in NOTEBOOKS
    for where in (("simulator", "token") if path.stem == "01_quickstart" else ("simulator",))
]


@pytest.mark.parametrize(("stem", "where"), RUNS, ids=[f"{s}-{w}" for s, w in RUNS])
def test_the_notebook_runs_top_to_bottom(
    stem: str, where: str, tmp_path: Path, api: SimHandle
) -> None:
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute(env=_kernel_env(tmp_path, api if where == "token" else None))

    outputs = [
        output
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]
    errors = [(o.get("ename"), o.get("evalue")) for o in outputs if o.output_type == "error"]
    assert not errors
    stderr = [o.get("text", "") for o in outputs if o.get("name") == "stderr"]
    assert not any("Traceback" in text or "Error" in text for text in stderr), stderr
    counts = [c.execution_count for c in book.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))  # every code cell ran, in order

    widgets = _data(outputs, "application/vnd.jupyter.widget-view+json")
    html = "".join(_data(outputs, "text/html"))
    text = "".join(o.get("text", "") for o in outputs)
    if stem == "01_quickstart":
        assert len(widgets) == 2  # the form and the ledger view
        assert html.count("<video") >= 2  # the result and the cached repeat play inline
        assert "data:video/mp4;base64," in html  # the repeat came back inline
        assert "cached: True" in text
        stats = api.stats()
        if where == "token":
            # It generated a video (no sample ids on a "real" API), upscaled it, and asked
            # again: the hosted simulator saw exactly that.
            assert stats["generations"] == 1
            assert stats["upscale_submissions"] == 2 and stats["cache_hits"] == 1
        else:
            assert "embedded simulator" in text
            assert sum(stats["requests"].values()) == 0  # the hosted one was not used
    elif stem == "02_cost_latency_analysis":
        assert len(_data(outputs, "image/png")) >= 5  # credits, costs, latency, captcha, errors
        assert len(widgets) == 1
        assert "credits_spent" in html and "solve_rate" in html and "captcha_cost" in html
    elif stem == "03_batch_upscale":
        assert len(widgets) >= 4  # a tqdm progress bar per batch
        assert "polls: 0" in text  # the webhook batch completed without polling
        assert "InputError" in html  # 4K on the Pro account refused before sending
        # the re-run took the finished videos from the ledger (origin counts)
        plain = "".join(_data(outputs, "text/plain"))
        assert re.search(r"origin\s*\nledger\s+\d+", plain), plain


def _data(outputs: list[nbformat.NotebookNode], mime: str) -> list[str]:
    return [str(o["data"][mime]) for o in outputs if mime in o.get("data", {})]
