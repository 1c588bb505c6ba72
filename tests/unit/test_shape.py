"""The package's size limits, kept by a test: small modules, short functions.

A module over 400 lines or a function over 60 has stopped doing one job; the
limit is checked on every module under hueyd/ (parsed, not imported).
"""
from __future__ import annotations

import ast
import os

from tests.helpers import ROOT

MODULE_LINES = 400
FUNCTION_LINES = 60


def sources() -> list[tuple[str, str]]:
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "hueyd")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    found.append((os.path.relpath(path, ROOT), f.read()))
    return found


def too_long(source: str) -> list[str]:
    """The functions of ``source`` longer than FUNCTION_LINES, with their length."""
    return [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > FUNCTION_LINES]


def test_no_module_over_the_limit():
    over = [f"{path}: {source.count(chr(10))} lines" for path, source in sources()
            if source.count("\n") > MODULE_LINES]
    assert not over, "\n".join(over)


def test_no_function_over_the_limit():
    over = [f"{path}: {name}" for path, source in sources() for name in too_long(source)]
    assert not over, "\n".join(over)


def test_the_function_check_can_fail():
    body = "\n".join(f"    x{n} = {n}" for n in range(FUNCTION_LINES))
    assert too_long(f"def f():\n{body}\n") == [f"f ({FUNCTION_LINES + 1} lines)"]


def test_the_internals_picture_lists_every_module():
    """docs/internals.md draws the layout, one line per module: a new module joins it."""
    with open(os.path.join(ROOT, "docs", "internals.md"), encoding="utf-8") as f:
        text = f.read()
    picture = text[text.index("## The layout"):]
    picture = picture[picture.index("```") + 3:]
    picture = picture[:picture.index("```")]
    listed = {line.split()[0] for line in picture.splitlines() if line.strip()}
    missing = [path for path, _ in sources()
               if os.path.basename(path) not in listed and not path.endswith("__init__.py")]
    # names repeat across folders (leases.py, storage.py): each file's folder must be listed too
    folders = {os.path.basename(os.path.dirname(path)) + "/" for path, _ in sources()}
    assert not missing and folders <= listed, (missing, folders - listed)
