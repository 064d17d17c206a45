"""The public surface is typed: names resolve to real classes for a type checker, and a
type checker catches misuse of them. (`make test` also runs `mypy --strict` on the
whole package and tests/typecheck/usage_example.py.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mypy.api

import flowup_nb

ROOT = Path(__file__).resolve().parent.parent
MISUSE = ROOT / "tests" / "typecheck" / "misuse_example.py"


def _type_checking_imports() -> list[ast.ImportFrom]:
    tree = ast.parse((ROOT / "flowup_nb" / "__init__.py").read_text())
    return [
        item
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for item in ast.walk(node)
        if isinstance(item, ast.ImportFrom)
    ]


def _type_checking_names() -> set[str]:
    return {alias.asname or alias.name for node in _type_checking_imports() for alias in node.names}


def test_every_lazy_export_is_also_imported_for_type_checkers() -> None:
    lazy = set(flowup_nb.__all__) - {"__version__"}
    assert _type_checking_names() == lazy


def test_every_lazy_export_resolves_to_the_object_type_checkers_see() -> None:
    import importlib

    checked = 0
    for node in _type_checking_imports():
        if node.module and node.module.startswith("flowup_nb"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                seen_by_checker = getattr(module, alias.name)
                assert getattr(flowup_nb, alias.asname or alias.name) is seen_by_checker
                checked += 1
    assert checked == len(flowup_nb.__all__) - 1


def test_mypy_reports_each_misuse_of_the_public_api() -> None:
    marks = (
        (number, re.search(r"# error: ([a-z-]+)$", line))
        for number, line in enumerate(MISUSE.read_text().splitlines(), start=1)
    )
    expected = {number: mark.group(1) for number, mark in marks if mark}
    assert len(expected) >= 5
    out, _err, status = mypy.api.run(
        ["--strict", "--follow-imports=silent", "--no-incremental", str(MISUSE)]
    )
    reported = {
        int(match.group(1)): match.group(2)
        for match in re.finditer(r"misuse_example\.py:(\d+): error: .*\[([a-z-]+)\]", out)
    }
    assert status == 1, out
    assert reported == expected, out
