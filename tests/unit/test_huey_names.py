"""Every public name of huey 3.5.4 imports from the hueyd module of the same name.

tests/data/huey-names.txt lists them, one ``module name`` a line, as scripts/huey-names
derived them from huey's source (the rule is in that script). A port is then
``s/huey/hueyd/`` on import lines. Names another helper is still building are in
PENDING (skipped, the lead empties it as their branches land); names that are huey's
internals with no counterpart in hueyd are in NOT_PROVIDED, each with the reason that
docs/compat.md gives too.
"""
from __future__ import annotations

import importlib
import os
import re

import pytest

from tests.helpers import ROOT

NAMES_FILE = os.path.join(ROOT, "tests", "data", "huey-names.txt")

#: (module, name) -> the helper who adds it
PENDING: dict[tuple[str, str], str] = {}

HUEY_CONSUMER = "huey's consumer machinery; hueyd's is hueyd.consumer.runtime (docs/internals.md)"
#: (module, name) -> why hueyd has no such name (docs/compat.md says the same)
NOT_PROVIDED = {
    ("huey.api", "dash_re"): "huey's crontab parser",
    ("huey.api", "every_re"): "huey's crontab parser",
    ("huey.storage", "SCHEDULE_POP_LUA"): "huey's Redis script; hueyd's keys and scripts differ",
    ("huey.storage", "RedisPriorityQueue"): "huey's Redis queue; hueyd's is storage/redis/queues.py",
    ("huey.registry", "Message"): "huey's envelope; hueyd's is a dict of builtins",
    ("huey.storage", "BaseSqlStorage"): "huey's base for its SQL storages; hueyd's SQLite and "
                                        "PostgreSQL storages share hueyd's Storage contract",
    **{("huey.consumer", name): HUEY_CONSUMER for name in (
        "BaseProcess", "ConsumerStopped", "Environment", "ForkSafeFlag",
        "GreenletEnvironment", "ProcessEnvironment", "ThreadEnvironment",
        "WORKER_TO_ENVIRONMENT", "WorkerRecycle")},
    **{(module, name): "needs cysqlite (not in Debian 12): SqliteHuey serves several processes"
       for module, name in (("huey", "CySqliteHuey"), ("huey.api", "CySqliteHuey"),
                            ("huey.api", "CySqliteStorage"), ("huey.storage", "CySqliteStorage"))},
}


def huey_names() -> list[tuple[str, str]]:
    with open(NAMES_FILE, encoding="utf-8") as f:
        return [tuple(line.split()) for line in f if line.strip()]


def hueyd_module(module: str) -> str:
    return "hueyd" + module[len("huey"):]


@pytest.mark.parametrize("module,name", huey_names(), ids=[" ".join(n) for n in huey_names()])
def test_huey_name_imports_from_the_same_hueyd_module(module, name):
    if (module, name) in PENDING:
        pytest.skip(f"{name}: {PENDING[module, name]} adds it")
    if (module, name) in NOT_PROVIDED:
        pytest.skip(f"{name}: not provided: {NOT_PROVIDED[module, name]}")
    target = hueyd_module(module)
    namespace: dict = {}
    exec(f"from {target} import {name}", namespace)  # the line a port writes
    assert namespace[name] is getattr(importlib.import_module(target), name)


def test_the_list_is_huey_3_5_4s_and_the_sets_name_only_listed_names():
    names = set(huey_names())
    assert len(names) == len(huey_names()) > 150
    assert {("huey", "RedisHuey"), ("huey.constants", "EmptyData"),
            ("huey.serializer", "SignedSerializer"), ("huey.utils", "normalize_time")} <= names
    assert not (set(PENDING) | set(NOT_PROVIDED)) - names
    assert not set(PENDING) & set(NOT_PROVIDED)


def test_pending_names_are_still_missing():
    """A name that has landed leaves PENDING (the lead's checklist)."""
    landed = []
    for module, name in PENDING:
        try:
            exec(f"from {hueyd_module(module)} import {name}", {})
        except ImportError:
            continue
        landed.append(f"{module} {name}")
    assert not landed, "remove from PENDING: " + ", ".join(landed)


def test_compat_md_has_a_row_per_name():
    """docs/compat.md: one table per module, a row per name (``| `name` | status |``)."""
    with open(os.path.join(ROOT, "docs", "compat.md"), encoding="utf-8") as f:
        text = f.read()
    rows, module = set(), None
    for line in text.splitlines():
        heading = re.match(r"#+ `(hueyd[\w.]*)`", line)
        if heading:
            module = "huey" + heading.group(1)[len("hueyd"):]
        row = re.match(r"\| `(\w+)` \|", line)
        if row and module:
            rows.add((module, row.group(1)))
    missing = [f"{m} {n}" for m, n in huey_names() if (m, n) not in rows]
    assert not missing, "docs/compat.md lacks rows for: " + ", ".join(missing)
