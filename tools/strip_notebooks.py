"""Strip outputs from notebooks, so none are committed: ``python tools/strip_notebooks.py``.

With no paths it strips ``notebooks/*.ipynb``; ``--check`` only reports (exit status 1
when a notebook has outputs), for CI or a pre-commit hook. Standard library only: the
format is plain JSON and the job is small (nbstripout would be one more dependency).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Metadata that records a run rather than the notebook itself.
_RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
_NOTEBOOK_RUN_METADATA = ("widgets", "varInspector")


def has_outputs(book: dict[str, Any]) -> bool:
    """Whether any trace of a run is left: outputs, execution counts, widget state."""
    for cell in book.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            return True
        if any(key in cell.get("metadata", {}) for key in _RUN_METADATA):
            return True
    return any(key in book.get("metadata", {}) for key in _NOTEBOOK_RUN_METADATA)


def strip(book: dict[str, Any]) -> dict[str, Any]:
    for cell in book.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in _RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
    for key in _NOTEBOOK_RUN_METADATA:
        book.get("metadata", {}).pop(key, None)
    return book


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="report only; exit 1 if any")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        book = json.loads(path.read_text(encoding="utf-8"))
        if not has_outputs(book):
            continue
        dirty.append(path)
        if not args.check:
            text = json.dumps(strip(book), indent=1, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
    verb = "has outputs" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
