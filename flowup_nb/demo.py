"""``flowup-nb demo``: the notebooks in a folder of yours, opened in JupyterLab on the
quickstart, or a walk-through in the terminal.

    flowup-nb demo                     # copies the notebooks into ./flowup-notebooks, opens Lab
    flowup-nb demo ~/work/flowup       # ... into a folder of your choice
    flowup-nb demo --script            # no browser: generate -> upscale -> download
    python -m flowup_nb.demo ...       # the same, without the console command

Without ``USEAPI_TOKEN`` both use the embedded simulator (no account, no credits).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from flowup_nb.bundled import QUICKSTART, checkout_root, copy_notebooks, notebooks_dir

__all__ = ["DEFAULT_FOLDER", "add_arguments", "main", "open_lab", "run"]

DEFAULT_FOLDER = Path("flowup-notebooks")
DESCRIPTION = (
    "Copy the notebooks into a folder (existing files are never replaced) and open the "
    "quickstart in JupyterLab, or walk through an upscale in the terminal (--script). "
    "Uses the embedded simulator when USEAPI_TOKEN is unset."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=DEFAULT_FOLDER,
        help=f"where the notebooks go and JupyterLab opens (default: ./{DEFAULT_FOLDER})",
    )
    parser.add_argument("--script", action="store_true", help="terminal walk-through, no browser")
    parser.add_argument("--port", type=int, default=0, help="JupyterLab port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--source", help="--script: the mediaGenerationId to upscale")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="--script on the real API: generate a video first (this spends credits)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("flowup-demo"), help="--script: where to save videos"
    )


def run(args: argparse.Namespace) -> int:
    if args.script:
        from flowup_nb.walkthrough import walk_through

        return walk_through(source=args.source, generate=args.generate, out=args.out)
    return open_lab(args.folder, port=args.port, open_browser=not args.no_browser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowup_nb.demo", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


# -- JupyterLab -----------------------------------------------------------------------


def open_lab(folder: Path = DEFAULT_FOLDER, *, port: int = 0, open_browser: bool = True) -> int:
    """Copy the notebooks into ``folder``, then become JupyterLab there (never returns
    unless something is missing)."""
    source = notebooks_dir()
    if source is None:
        print(
            "flowup-nb demo: the notebooks are missing from this installation (neither "
            "flowup_nb/notebooks nor a source checkout's notebooks/). Reinstall flowup-nb, "
            "or try `flowup-nb demo --script`.",
            file=sys.stderr,
        )
        return 2
    if importlib.util.find_spec("jupyterlab") is None:
        print(
            "flowup-nb demo: JupyterLab is not installed. Install it with "
            "`pip install 'flowup-nb[lab]'` (`make demo` does), or try "
            "`flowup-nb demo --script`.",
            file=sys.stderr,
        )
        return 2
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        print(
            f"flowup-nb demo: {folder} is a file: name a folder for the notebooks", file=sys.stderr
        )
        return 2
    for line in copy_notebooks(source, folder).lines():
        print(f"flowup-nb demo: {line}")
    port = port or _free_port(8888)
    # A token of our own, so the URL printed here is the one that opens the notebook.
    lab_token = secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{port}/lab/tree/{QUICKSTART}?token={lab_token}"
    if os.environ.get("USEAPI_TOKEN", "").strip():
        print("flowup-nb demo: USEAPI_TOKEN is set: the notebook talks to the real API.")
    else:
        print(
            "flowup-nb demo: USEAPI_TOKEN is not set: the notebook uses the embedded "
            "simulator (no account, no real credits)."
        )
    print(f"flowup-nb demo: JupyterLab on {url}", flush=True)
    env = dict(os.environ)
    root = checkout_root()
    if root is not None:
        # The kernel imports flowup_nb from this checkout even when it is not installed.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        QUICKSTART,
        f"--ServerApp.root_dir={folder}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={lab_token}",
        f"--ServerApp.open_browser={open_browser}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses it
    # Become JupyterLab (no child process): Ctrl-C and signals reach the server itself.
    os.chdir(folder)
    os.execve(sys.executable, command, env)
    return 0  # not reached


def _free_port(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


if __name__ == "__main__":
    sys.exit(main())
