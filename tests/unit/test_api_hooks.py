"""pre_execute / post_execute / on_startup / on_shutdown and their unregister_* twins."""
from __future__ import annotations

from hueyd import CancelExecution
from hueyd.signals import SIGNAL_CANCELED
from tests.unit.test_api_support import Recorder, drain


def test_pre_and_post_execute_see_each_task(make_huey):
    huey = make_huey()
    log = []

    @huey.pre_execute()
    def before(task):
        log.append(("pre", task.name))

    @huey.post_execute(name="after")
    def after_hook(task, value, exc):
        log.append(("post", task.name, value, type(exc).__name__ if exc else None))

    @huey.task()
    def ok():
        return 1

    @huey.task()
    def bad():
        raise KeyError("k")

    ok(), bad()
    drain(huey)
    assert log == [("pre", "ok"), ("post", "ok", 1, None),
                   ("pre", "bad"), ("post", "bad", None, "KeyError")]
    assert huey.unregister_pre_execute(before) is True
    assert huey.unregister_post_execute("after") is True
    assert huey.unregister_post_execute("after") is False
    ok()
    drain(huey)
    assert len(log) == 4


def test_pre_execute_cancel_skips_the_task(make_huey):
    huey = make_huey()
    recorder = Recorder()
    huey.signal(SIGNAL_CANCELED)(recorder)
    runs = []

    @huey.pre_execute()
    def gate(task):
        if task.args == ("no",):
            raise CancelExecution()

    @huey.pre_execute()
    def broken(task):
        raise RuntimeError("a hook bug does not stop the task")

    @huey.task()
    def job(arg):
        runs.append(arg)

    refused = job("no")
    job("yes")
    drain(huey)
    assert runs == ["yes"]
    assert recorder.calls == [(SIGNAL_CANCELED, refused.id, ())]


def test_startup_and_shutdown_hooks(make_huey):
    huey = make_huey()
    log = []

    @huey.on_startup()
    def open_db():
        log.append("open")

    @huey.on_startup()
    def broken():
        raise RuntimeError("logged, not raised")

    @huey.on_shutdown()
    def close_db():
        log.append("close")

    huey.run_startup_hooks()
    huey.run_shutdown_hooks()
    assert log == ["open", "close"]
    assert huey.unregister_on_startup("open_db") and huey.unregister_on_shutdown(close_db)
    huey.run_startup_hooks()
    huey.run_shutdown_hooks()
    assert log == ["open", "close"]
