"""The example blog app (examples/blog) works as the demo and the docs describe."""
from __future__ import annotations

import datetime as dt
import importlib
import os
import sys

import pytest

from hueyd import TaskException
from tests.unit.test_api_support import drain, run_due

BLOG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "blog")


@pytest.fixture
def blog(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOG_DB", str(tmp_path / "blog.db"))
    monkeypatch.syspath_prepend(os.path.abspath(BLOG_DIR))
    for name in ("blog.main", "blog"):
        sys.modules.pop(name, None)
    module = importlib.import_module("blog.main")
    try:
        yield module
    finally:
        module.huey.storage.close()
        for name in ("blog.main", "blog"):
            sys.modules.pop(name, None)


def test_blog_tasks(blog):
    huey = blog.huey
    assert type(huey).__name__ == "SqliteHuey" and huey.name == "blog"
    assert huey.storage_kwargs["filename"] == os.environ["BLOG_DB"]
    total, quick, failing = blog.add(1, 2), blog.slow(0.01), blog.fail()
    flaky = blog.flaky(2)
    drain(huey)
    assert total() == 3 and quick() == 0.01
    with pytest.raises(TaskException, match="always fails"):
        failing.get()
    assert huey.scheduled_count() == 1  # flaky waits retry_delay=1 between attempts
    run_due(huey, 1.5)
    run_due(huey, 3)
    assert flaky() == 3


def test_blog_heartbeat_is_every_minute(blog):
    huey = blog.huey
    due = huey.read_periodic(dt.datetime(2024, 1, 1, 12, 34))
    assert [t.name for t in due] == ["heartbeat"]
    huey.enqueue(due[0])
    drain(huey)
    assert huey.get(blog.HEARTBEAT_KEY, peek=True) > 0
