"""binder/: what mybinder.org needs to run the notebooks on the simulator."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"


def test_post_build_is_a_strict_executable_script_that_installs_the_package() -> None:
    script = BINDER / "postBuild"
    assert os.access(script, os.X_OK), "chmod +x binder/postBuild"
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n")
    commands = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[0].startswith("set -e")  # the first command: stop at the first failure
    assert "pip install --no-cache-dir -e ." in text
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0


def test_requirements_and_runtime() -> None:
    requirements = [
        line.split(">=")[0]
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert {"jupyterlab", "ipykernel", "ipywidgets"} <= set(requirements)
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
