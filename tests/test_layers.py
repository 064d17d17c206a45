"""The package's layers point one way: no import cycle between any two modules.

Every ``import`` of every module counts, wherever it is written: at the top, inside a
function (a lazy import) or under ``if TYPE_CHECKING:``. An import of a package counts
as an import of its ``__init__``; ``from package import name`` counts as an import of
the submodule ``package.name`` when there is one. The layers are drawn in
docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import flowup_nb

ROOT = Path(flowup_nb.__file__).parent
PACKAGE = "flowup_nb"
# What the ledger may import from the client package: the pure bottom layer.
LEDGER_MAY_IMPORT = frozenset(
    f"{PACKAGE}.api.{name}"
    for name in ("times", "errors", "models", "exchange", "prices", "money", "accounts", "media")
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The package's modules that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                yield _nearest_module(target, known)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    # A relative import counts from the module's package (a package's own, for __init__).
    anchor = module.split(".")
    if not is_package:
        anchor.pop()
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _nearest_module(target: str, known: Mapping[str, Path]) -> str:
    while target not in known and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {
        module: set(_imported(module, path, known)) - {module} for module, path in known.items()
    }


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Cycles (a -> ... -> a) covering every module caught in one: within each strongly
    connected group of modules, the shortest cycle through each member, once each."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles: list[list[str]] = []
    for group in groups:
        for member in sorted(group):
            if not any(member in cycle for cycle in cycles):
                cycles.append(_cycle_through(member, group, graph))
    return cycles


def _cycle_through(start: str, group: set[str], graph: Mapping[str, set[str]]) -> list[str]:
    """The shortest cycle from ``start`` back to itself inside ``group`` (breadth-first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def _short(module: str) -> str:
    return module.removeprefix(PACKAGE + ".")


def test_no_module_imports_itself_back() -> None:
    cycles = _cycles(_graph())
    named = [" -> ".join(_short(module) for module in cycle) for cycle in cycles]
    assert not named, "import cycles:\n" + "\n".join(named)


# The simulator's one edge out: `flowup_nb.sim.history()` is a lazy door (an import inside
# that function, in the package's __init__) to the composition root's history module,
# which drives the real client against the simulator. No module of the simulator's own
# machinery imports anything outside it, so the oracle stays independent of the client.
SIM_MAY_IMPORT = frozenset({("sim", "history")})


def test_the_simulator_imports_nothing_else_of_the_package() -> None:
    graph = _graph()
    outside = {
        f"{_short(module)} -> {_short(target)}"
        for module, targets in graph.items()
        if module.startswith(f"{PACKAGE}.sim")
        for target in targets
        if not target.startswith(f"{PACKAGE}.sim")
        and (_short(module), _short(target)) not in SIM_MAY_IMPORT
    }
    assert not outside, f"the simulator must stay an independent oracle: {sorted(outside)}"


def test_the_ledger_imports_only_the_bottom_of_the_client() -> None:
    graph = _graph()
    above = {
        f"{_short(module)} -> {_short(target)}"
        for module, targets in graph.items()
        if module.startswith(f"{PACKAGE}.ledger")
        for target in targets
        if not target.startswith(f"{PACKAGE}.ledger") and target not in LEDGER_MAY_IMPORT
    }
    assert not above, f"the ledger may import only the bottom layer: {sorted(above)}"


# -- the checker itself: it must see what it claims to see ------------------------------


def _write(tmp: Path, files: Mapping[str, str]) -> dict[str, Path]:
    known = {}
    for name, source in files.items():
        path = tmp / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        known[name.removesuffix(".__init__")] = path
    return known


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("import flowup_nb.api.models", "flowup_nb.api.models"),
        ("from flowup_nb.api import models", "flowup_nb.api.models"),
        ("from flowup_nb.api.models import Job", "flowup_nb.api.models"),
        ("from flowup_nb import __version__", "flowup_nb"),  # the package's __init__
        ("from flowup_nb import api", "flowup_nb.api"),
        ("from . import models", "flowup_nb.api.models"),
        ("from .models import Job", "flowup_nb.api.models"),
        ("from .. import batch", "flowup_nb.batch"),
        ("def f():\n    from flowup_nb.api.models import Job", "flowup_nb.api.models"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flowup_nb.batch",
            "flowup_nb.batch",
        ),
    ],
)
def test_every_kind_of_import_is_seen(tmp_path: Path, source: str, imported: str) -> None:
    known = _write(
        tmp_path,
        {
            "flowup_nb.__init__": "",
            "flowup_nb.api.__init__": "",
            "flowup_nb.api.models": "",
            "flowup_nb.api.client": source,
            "flowup_nb.batch.__init__": "",
        },
    )
    found = set(_imported("flowup_nb.api.client", known["flowup_nb.api.client"], known))
    assert found == {imported}


def test_cycles_are_named_in_import_order() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    # Two loops through one module: each is named, so neither hides behind the other.
    graph = {"a": {"b", "x"}, "b": {"a"}, "x": {"y"}, "y": {"a"}}
    assert _cycles(graph) == [["a", "b", "a"], ["x", "y", "a", "x"]]


# -- the order of the layers --------------------------------------------------------------

# Lowest first; a module may import its own layer and the ones before it. The prefixes are
# the rooms of docs/architecture.md. The simulator stands apart (tested above).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "parsing, models, errors, rules",
        (
            "_version",
            "runloop",
            "api.times",
            "api.errors",
            "api.prices",
            "api.money",
            "api.models",
            "api.parsing",
            "api.media",
            "api.accounts",
            "api.exchange",
            "api.policy",
            "api.poll_plan",
        ),
    ),
    ("the client", ("api",)),
    ("ledger, batch, webhooks", ("ledger", "batch", "webhooks", "calibration")),
    ("widgets", ("widgets",)),
    (
        "the composition root",
        (
            "connecting",
            "history",
            "bundled",
            "walkthrough",
            "demo",
            "cli",
            "calibrate",
            "__main__",
        ),
    ),
)
# The sanctioned calls upward, each a lazy import inside one method, kept because users
# rely on the method: `UpscaleForm(client=None)` means `connect()`, and
# `client.upscale_many()` / `client.resume()` hand the client to the batch engine (which
# knows the client only through the protocol in api/calls.py).
UPWARD_ALLOWED = frozenset({("widgets.form", "connecting"), ("api.client", "batch")})


def _layer_of(module: str) -> int | None:
    name = _short(module)
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for rank, (_title, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = name == prefix or name.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def test_every_module_has_a_layer() -> None:
    homeless = [
        _short(m)
        for m in _graph()
        if m != PACKAGE and not m.startswith(f"{PACKAGE}.sim") and _layer_of(m) is None
    ]
    assert not homeless, f"add these modules to a layer in LAYERS: {homeless}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        here = _layer_of(module)
        if here is None:
            continue
        for target in targets:
            there = _layer_of(target)
            edge = (_short(module), _short(target))
            if there is not None and there > here and edge not in UPWARD_ALLOWED:
                upward.append(f"{edge[0]} ({LAYERS[here][0]}) -> {edge[1]} ({LAYERS[there][0]})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(sorted(upward))
