"""The Huey facade wires its helpers; the helpers never reach back into it."""
from __future__ import annotations

import ast
import contextlib
import os

import hueyd
from tests.unit.test_api_support import drain

API = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "hueyd", "api")
#: the facade, its storage-bound flavours, and the user handles that hold a Huey
#: (Result, TaskWrapper: huey's public ``.huey`` attribute)
HOLDERS = {"huey.py", "flavours.py", "result.py", "task.py"}


def test_no_helper_imports_the_facade():
    offenders = []
    for name in sorted(os.listdir(API)):
        if not name.endswith(".py") or name in HOLDERS:
            continue
        with open(os.path.join(API, name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "hueyd.api.huey":
                offenders.append(f"hueyd/api/{name}:{node.lineno}")
    assert offenders == []


def test_a_flag_set_after_construction_takes_effect():
    huey = hueyd.MemoryHuey("flags")

    @huey.task()
    def add(a, b):
        return a + b

    huey.store_none = True
    huey.results = False
    assert add(1, 2) is None
    drain(huey)
    assert huey.result_count() == 0
    huey.results = True
    result = add(2, 3)
    drain(huey)
    assert result.get() == 5


def test_a_new_storage_is_used_by_every_helper_and_keeps_the_timeout_handler():
    huey = hueyd.MemoryHuey("swap")
    huey.timeout_handler = lambda seconds: contextlib.nullcontext()
    handler = huey.timeout_handler
    old = huey.storage

    @huey.task()
    def echo(x):
        return x

    huey.replace_storage()
    assert huey.storage is not old and huey.timeout_handler is handler
    result = echo(7)
    assert huey.pending_count() == 1 and old.queue_size() == 0
    drain(huey)
    assert result.get() == 7


def test_delegating_methods_keep_their_documentation():
    assert hueyd.Huey.dequeue.__doc__ and "runnable task" in hueyd.Huey.dequeue.__doc__
    assert hueyd.Huey.fail.__doc__


def test_a_wired_attribute_not_set_yet_is_an_attribute_error():
    huey = hueyd.Huey.__new__(hueyd.Huey)
    assert not hasattr(huey, "storage")
