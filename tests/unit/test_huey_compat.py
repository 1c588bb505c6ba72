"""An app written for huey runs on hueyd after changing only its imports.

The app below is huey code as its docs teach it. The test rewrites its
``from huey...``/``import huey`` lines to hueyd, writes it to a temporary
directory, imports it and runs its tasks in-process as a consumer would.
"""
from __future__ import annotations

import importlib
import re
import sys
import textwrap

import pytest

HUEY_APP = textwrap.dedent('''
    import os

    from huey import RedisHuey, crontab
    from huey.exceptions import CancelExecution, RetryTask, TaskException
    from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR, SIGNAL_EXECUTING

    huey = RedisHuey("compat-app", url=os.environ["COMPAT_REDIS_URL"])
    events = []


    @huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
    def log_outcome(signal, task, exc=None):
        events.append((signal, task.name, type(exc).__name__ if exc else None))


    @huey.signal(SIGNAL_EXECUTING)
    def log_start(signal, task):
        events.append((signal, task.name, None))


    @huey.pre_execute()
    def refuse_banned(task):
        if task.kwargs.get("banned"):
            raise CancelExecution()


    @huey.task()
    def add(a, b, banned=False):
        return a + b


    @huey.task(retries=2)
    def flaky(state_key):
        attempts = (huey.get(state_key) or 0) + 1
        huey.put(state_key, attempts)
        if attempts < 3:
            raise RetryTask()
        return attempts


    @huey.task()
    def fail():
        raise ValueError("broken")


    @huey.task()
    @huey.lock_task("reports")
    def report(n):
        return "report %d" % n


    @huey.periodic_task(crontab(minute="*/5"))
    def sweep():
        events.append(("sweep", "sweep", None))
''')


def port(source: str) -> str:
    """Change only the import lines: huey -> hueyd."""
    source = re.sub(r"^(\s*)from huey(\.|\s)", r"\1from hueyd\2", source, flags=re.M)
    return re.sub(r"^(\s*)import huey\b", r"\1import hueyd", source, flags=re.M)


def test_port_touches_imports_only():
    ported = port(HUEY_APP)
    assert "from hueyd import RedisHuey, crontab" in ported
    assert "from hueyd.signals import SIGNAL_COMPLETE" in ported
    assert port("import huey.api\nx = 'from huey import y'\n") == \
        "import hueyd.api\nx = 'from huey import y'\n"
    changed = [line for line in ported.splitlines() if line not in HUEY_APP.splitlines()]
    assert all(line.startswith("from hueyd") for line in changed) and len(changed) == 3


@pytest.fixture
def app(tmp_path, redis_url, monkeypatch):
    (tmp_path / "compat_app.py").write_text(port(HUEY_APP))
    monkeypatch.setenv("COMPAT_REDIS_URL", redis_url)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("compat_app")
    try:
        yield module
    finally:
        module.huey.storage.close()
        sys.modules.pop("compat_app", None)


def run_all(huey):
    while (task := huey.dequeue()) is not None:
        huey.execute(task)


def test_ported_app_runs(app):
    import datetime as dt

    huey = app.huey
    assert type(huey).__module__.startswith("hueyd")
    total = app.add(2, 3)
    refused = app.add(1, 1, banned=True)
    retried = app.flaky("flaky-attempts")
    failed = app.fail()
    pipeline = huey.enqueue(app.add.s(1, 2).then(app.add, 10))
    with huey.lock_task("reports"):
        locked = app.report(1)
        run_all(huey)
    run_all(huey)

    assert total() == 5 and total.id
    assert refused() is None
    assert retried() == 3
    with pytest.raises(app.TaskException, match="broken"):
        failed.get()
    assert pipeline.get() == [3, 13]
    with pytest.raises(app.TaskException, match="TaskLockedException"):
        locked.get()
    unlocked = app.report(2)
    run_all(huey)
    assert unlocked() == "report 2"
    assert ("error", "fail", "ValueError") in app.events
    assert ("complete", "add", None) in app.events and ("executing", "add", None) in app.events

    due = huey.read_periodic(dt.datetime(2024, 1, 1, 10, 5))
    assert [t.name for t in due] == ["sweep"]
    for task in due:
        huey.enqueue(task)
    run_all(huey)
    assert ("sweep", "sweep", None) in app.events
    assert len(huey) == 0 and huey.scheduled_count() == 0
