"""The ``flowup-nb`` command (also ``python -m flowup_nb``).

    flowup-nb demo [--script] [--no-browser] [FOLDER]   notebooks in JupyterLab, or a terminal run
    flowup-nb sim [--port 8787 --seed 7 ...]            the simulator on its own
    flowup-nb ledger summary|export FILE|path           the ledger of every exchange
    flowup-nb calibrate [--upscale ID ...]              the simulator against the real service

Each sub-command is one function below that adds its parser and sets ``run``, the
function called with the parsed arguments; ``SUBCOMMANDS`` lists them in help order.
Heavy imports (pandas, the client) happen inside ``run``, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from flowup_nb.ledger import Ledger

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

T = TypeVar("T")

__all__ = ["SUBCOMMANDS", "main"]


def _demo(commands: Commands) -> None:
    from flowup_nb import demo

    parser = commands.add_parser(
        "demo", help="open the notebooks in JupyterLab (or --script)", description=demo.DESCRIPTION
    )
    demo.add_arguments(parser)
    parser.set_defaults(run=demo.run)


def _sim(commands: Commands) -> None:
    # The simulator's own parser reads the rest of the line, --help included.
    parser = commands.add_parser(
        "sim",
        help="run the API simulator on its own (--help for its options)",
        add_help=False,
    )
    parser.set_defaults(run=_run_sim, passes_through=True)


def _run_sim(args: argparse.Namespace) -> int:
    from flowup_nb.sim.__main__ import main as sim_main

    return sim_main(args.rest)


def _calibrate(commands: Commands) -> None:
    from flowup_nb.calibration import command

    parser = commands.add_parser(
        "calibrate",
        help="compare the simulator's answers with the real service's (read-only)",
        description=command.DESCRIPTION,
    )
    command.add_arguments(parser)
    parser.set_defaults(run=command.run)


def _ledger(commands: Commands) -> None:
    parser = commands.add_parser(
        "ledger",
        help="the ledger of every exchange: summary, export, path",
        description="The ledger: one row per HTTP exchange with the API. Without --ledger, "
        "the per-user default ($FLOWUP_LEDGER when set).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    summary = actions.add_parser("summary", help="calls, jobs, success rate, credits, latency")
    summary.add_argument(
        "--since", help="only exchanges from this time on (e.g. 2026-12-01, 3h, 7 days, today)"
    )
    summary.add_argument("--until", help="only exchanges before this time")
    summary.set_defaults(run=_ledger_summary)

    export = actions.add_parser(
        "export", help="write the ledger to a .csv or .parquet file (signed URLs stripped)"
    )
    export.add_argument("file", type=Path, help="the file to write (.csv or .parquet)")
    export.add_argument(
        "--include-urls",
        action="store_true",
        help="keep the signed video URLs whole (a signed URL can act as a credential)",
    )
    export.set_defaults(run=_ledger_export)

    path = actions.add_parser("path", help="print where the ledger file is")
    path.set_defaults(run=_ledger_path)

    for action in (summary, export, path):
        action.add_argument("--ledger", type=Path, help="a ledger file other than the default")


def _ledger_file(args: argparse.Namespace) -> Path:
    from flowup_nb.ledger.paths import resolve_ledger_path

    return resolve_ledger_path(args.ledger)


def _existing_ledger(args: argparse.Namespace) -> Path | None:
    path = _ledger_file(args)
    if path.is_file():
        return path
    print(
        f"flowup-nb ledger: no ledger at {path} yet: it appears with the first call",
        file=sys.stderr,
    )
    return None


def _ledger_path(args: argparse.Namespace) -> int:
    print(_ledger_file(args))
    return 0


def _on_ledger(
    args: argparse.Namespace,
    action: str,
    read: Callable[[Ledger], T],
    errors: tuple[type[Exception], ...],
) -> tuple[Path, int, T] | int:
    """``read`` on the existing ledger, with its path and row count; or the exit code after
    saying why not (1: no ledger yet, 2: ``read`` raised one of ``errors``)."""
    path = _existing_ledger(args)
    if path is None:
        return 1
    from flowup_nb.ledger import Ledger

    with Ledger(path) as ledger:
        rows = len(ledger)
        try:
            value = read(ledger)
        except errors as exc:  # its message says why
            print(f"flowup-nb ledger {action}: {exc}", file=sys.stderr)
            return 2
    return path, rows, value


def _ledger_summary(args: argparse.Namespace) -> int:
    opened = _on_ledger(
        args,
        "summary",
        lambda ledger: ledger.summary(since=args.since, until=args.until),
        (ValueError,),  # a --since/--until it cannot read
    )
    if isinstance(opened, int):
        return opened
    path, rows, table = opened
    import pandas as pd

    print(f"{path}: {rows} exchange{'' if rows == 1 else 's'} in all")
    # Accounts as columns: the sixteen measures read down the page, not across it.
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(table.T.to_string())
    return 0


def _ledger_export(args: argparse.Namespace) -> int:
    opened = _on_ledger(
        args,
        "export",
        lambda ledger: ledger.export(args.file, include_urls=args.include_urls),
        (ValueError, ImportError, OSError),  # file type, pyarrow, permissions
    )
    if isinstance(opened, int):
        return opened
    _, rows, written = opened
    print(f"wrote {rows} exchange{'' if rows == 1 else 's'} to {written}")
    return 0


SUBCOMMANDS: tuple[Callable[[Commands], None], ...] = (_demo, _sim, _ledger, _calibrate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowup-nb",
        description="Upscale Google Flow videos from Jupyter, and see what it costs. "
        "Without USEAPI_TOKEN everything runs on the embedded simulator.",
    )
    from flowup_nb import __version__

    parser.add_argument("--version", action="version", version=f"flowup-nb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if rest and not getattr(args, "passes_through", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
