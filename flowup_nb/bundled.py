"""The notebooks that come with flowup-nb, and copying them where a user works.

An installed wheel carries them as package data (``flowup_nb/notebooks``); a source
checkout (editable install included) has them at the top level, ``notebooks/``.
"""

from __future__ import annotations

import filecmp
import importlib.resources
import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["QUICKSTART", "CopyReport", "checkout_root", "copy_notebooks", "notebooks_dir"]

QUICKSTART = "01_quickstart.ipynb"
_PACKAGE_ROOT = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None when it is installed."""
    root = _PACKAGE_ROOT.parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks" / QUICKSTART).is_file():
        return root
    return None


def notebooks_dir() -> Path | None:
    """Where the bundled notebooks are: the wheel's package data, else the checkout's."""
    packaged = importlib.resources.files("flowup_nb") / "notebooks"
    # A wheel installs as plain files, so the resource is a real directory on disk.
    if isinstance(packaged, Path) and (packaged / QUICKSTART).is_file():
        return packaged
    root = checkout_root()
    return root / "notebooks" if root is not None else None


@dataclass
class CopyReport:
    """What ``copy_notebooks`` did with each notebook."""

    target: Path
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the user's version differs: left alone
    in_place: bool = False  # the target is where the notebooks come from (a checkout)

    def lines(self) -> list[str]:
        if self.in_place:
            return [f"the notebooks where they are: {self.target}"]
        said = []
        if self.copied:
            said.append(f"copied {', '.join(self.copied)} into {self.target}")
        if self.unchanged:
            said.append(f"already there, unchanged: {', '.join(self.unchanged)}")
        for name in self.kept:
            said.append(
                f"kept your {self.target / name}: it differs from the bundled one "
                "(rename or delete it to get the original back)"
            )
        return said


def copy_notebooks(source: Path, target: Path) -> CopyReport:
    """Copy every ``*.ipynb`` of ``source`` into ``target``, never replacing a file that
    is already there: a notebook the user edited (or ran) stays as it is."""
    target.mkdir(parents=True, exist_ok=True)
    report = CopyReport(target=target)
    if target.resolve() == source.resolve():
        report.in_place = True
        report.unchanged = sorted(path.name for path in source.glob("*.ipynb"))
        return report
    for path in sorted(source.glob("*.ipynb")):
        destination = target / path.name
        if _copy_if_absent(path, destination):
            report.copied.append(path.name)
        elif filecmp.cmp(path, destination, shallow=False):
            report.unchanged.append(path.name)
        else:
            report.kept.append(path.name)
    return report


def _copy_if_absent(source: Path, destination: Path) -> bool:
    try:
        # "x": the file is created here or not at all, so one that exists survives.
        with source.open("rb") as original, destination.open("xb") as copy:
            shutil.copyfileobj(original, copy)
    except FileExistsError:
        return False
    return True
