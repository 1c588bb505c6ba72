"""Imports point one way: daemon -> consumer -> api -> storage (exitcodes, ratelog
and selfpipe from anywhere).

Every module under hueyd/ is parsed (not imported); an import that points up
the layers fails the test, naming the file and line, and so does an import cycle
anywhere in hueyd/ (runtime imports: those under ``if TYPE_CHECKING:`` never run,
so they may point back). Also checks that
``import hueyd`` stays lazy, so the CLI can monkey-patch for gevent first.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "hueyd")

#: contrib (huey's hueyd.contrib.*: asyncio, helpers, mini, djhuey for Django) sits on top:
#: it may use any layer, the command line included; nothing in hueyd imports it
RANK = {"shared": -1, "storage": 0, "api": 1, "consumer": 2, "daemon": 3, "cli": 4,
        "contrib": 5}
#: modules directly under hueyd/ and the layer each belongs to
TOP_LEVEL = {"__init__": "api", "signals": "api", "exceptions": "api", "exitcodes": "shared",
             "ratelog": "shared", "selfpipe": "shared", "cli": "cli", "__main__": "cli"}


def module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "__init__":
        rel = rel[:-1]
    return ".".join(rel)


def layer_of(module: str) -> str | None:
    """The layer of a hueyd module; None for modules outside hueyd."""
    parts = module.split(".")
    if parts[0] != "hueyd":
        return None
    if len(parts) == 1:
        return TOP_LEVEL["__init__"]
    if parts[1] in RANK and parts[1] != "cli" and parts[1] != "shared":
        return parts[1]
    if parts[1] not in TOP_LEVEL:
        raise AssertionError(f"hueyd.{parts[1]} belongs to no layer: add it to TOP_LEVEL "
                             "in tests/unit/test_layers.py")
    return TOP_LEVEL[parts[1]]


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from hueyd import api`` imports the submodule, ``from hueyd import X`` the package
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                path = os.path.join(ROOT, *sub.split("."))
                is_module = (os.path.isdir(path) or os.path.exists(path + ".py")
                             or (target == "hueyd" and (alias.name in TOP_LEVEL
                                                        or alias.name in RANK)))
                found.append((node.lineno, sub if is_module else target))
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    own = layer_of(module)
    bad = []
    for line, target in imported_modules(source, module, is_package):
        layer = layer_of(target)
        if layer is None or layer == own or layer == "shared":
            continue
        if RANK[layer] > RANK[own]:
            bad.append(f"{module}:{line} ({own}) imports {target} ({layer})")
    return bad


def all_modules() -> list[tuple[str, str]]:
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found.append((path, module_name(path)))
    return sorted(found)


def test_no_import_points_up_the_layers():
    problems = []
    for path, module in all_modules():
        with open(path, encoding="utf-8") as f:
            problems += violations(f.read(), module, path.endswith("__init__.py"))
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_every_layer_has_modules():
    layers = {layer_of(module) for _, module in all_modules()}
    assert {"storage", "api"} <= layers


@pytest.mark.parametrize("module,source,expected", [
    ("hueyd.storage.redis", "from hueyd.api.huey import Huey", 1),
    ("hueyd.storage.redis", "import hueyd.exceptions", 1),
    ("hueyd.storage.redis", "from hueyd import signals", 1),
    ("hueyd.storage.redis", "from ..api import task", 1),
    ("hueyd.storage.redis", "from hueyd import exitcodes\nfrom .base import Storage", 0),
    ("hueyd.api.huey", "from hueyd.consumer.worker import Worker", 1),
    ("hueyd.api.huey", "from hueyd.storage.base import Storage\nimport time", 0),
    ("hueyd.consumer.worker", "from hueyd.daemon import logs", 1),
    ("hueyd.consumer.worker", "from hueyd import RedisHuey", 0),
    ("hueyd.daemon.master", "from hueyd.consumer.consumer import Consumer", 0),
    ("hueyd.daemon.master", "from hueyd import cli", 1),
    ("hueyd.cli", "from hueyd.daemon import master", 0),
    ("hueyd.contrib.asyncio", "from hueyd.api.result import Result", 0),
    ("hueyd.consumer.worker", "from hueyd.contrib import mini", 1),
])
def test_checker_flags_upward_imports(module, source, expected):
    assert len(violations(source, module)) == expected


def test_unknown_top_level_module_is_reported():
    with pytest.raises(AssertionError, match="belongs to no layer"):
        layer_of("hueyd.mystery")


def test_import_hueyd_is_lazy():
    probe = ("import sys, hueyd, hueyd.storage\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
             "('redis', 'sqlite3', 'threading', 'gevent', 'pickle') or "
             "m.startswith(('hueyd.api', 'hueyd.consumer', 'hueyd.daemon')))\n"
             "print(heavy)\n"
             "assert not heavy, heavy\n"
             "assert hueyd.MemoryHuey.__name__ == 'MemoryHuey'\n"
             "assert 'redis' not in sys.modules and 'sqlite3' not in sys.modules\n"
             "for name in hueyd.__all__: getattr(hueyd, name)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout


def test_unknown_export_is_an_attribute_error():
    import hueyd
    with pytest.raises(AttributeError):
        hueyd.NoSuchThing  # noqa: B018


def runtime_imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Like :func:`imported_modules`, without the imports under ``if TYPE_CHECKING:``
    (annotations only: they never run)."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return [(line, target) for line, target in imported_modules(source, module, is_package)
            if line not in skipped]


def import_graph() -> dict[str, set[str]]:
    """hueyd module -> the hueyd modules it imports at run time."""
    modules = dict((module, path) for path, module in all_modules())
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            found = runtime_imports(f.read(), module, path.endswith("__init__.py"))
        graph[module] = {target for _, target in found if target in modules and target != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles (runtime imports):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_cycle_finder_sees_a_cycle_and_ignores_type_checking_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hueyd.api import huey\n"
    assert runtime_imports(source, "hueyd.api.task", False) == [(1, "typing")]
