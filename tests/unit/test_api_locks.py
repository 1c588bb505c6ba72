"""lock_task as decorator and context manager, TaskLockedException, flush_locks."""
from __future__ import annotations

import pytest

from hueyd import TaskException, TaskLockedException
from hueyd.signals import SIGNAL_LOCKED
from tests.unit.test_api_support import Recorder, drain, step


def test_context_manager_takes_and_releases(make_huey):
    huey = make_huey()
    lock = huey.lock_task("report")
    assert not huey.is_locked("report")
    with lock:
        assert huey.is_locked("report") and lock.is_locked()
        with pytest.raises(TaskLockedException, match="report"):
            with huey.lock_task("report"):
                pass
    assert not huey.is_locked("report")


def test_decorated_task_that_finds_the_lock_taken(make_huey):
    huey = make_huey()
    recorder = Recorder()
    huey.signal(SIGNAL_LOCKED)(recorder)

    @huey.task()
    @huey.lock_task("nightly")
    def nightly():
        return "done"

    with huey.lock_task("nightly"):
        blocked = nightly()
        drain(huey)
    allowed = nightly()
    drain(huey)
    assert recorder.calls == [(SIGNAL_LOCKED, blocked.id, ())]
    with pytest.raises(TaskException, match="TaskLockedException"):
        blocked.get()
    assert allowed() == "done"


def test_locked_task_with_retries_is_retried_not_failed(make_huey):
    huey = make_huey()

    @huey.task(retries=1)
    @huey.lock_task("once")
    def guarded():
        return "got it"

    lock = huey.lock_task("once")
    lock.acquire()
    result = guarded()
    step(huey)  # the first run finds the lock and requeues itself
    assert result() is None  # a retrying lock failure is not surfaced as an error
    lock.release()
    drain(huey)
    assert result() == "got it"


def test_flush_locks_clears_known_and_named_locks(make_huey):
    huey = make_huey()
    huey.lock_task("a").acquire()
    huey.lock_task("b").acquire()
    assert huey.flush_locks() == {"a", "b"}
    assert not huey.is_locked("a") and not huey.is_locked("b")
    # A lock another process took is unknown here: flushed by naming it.
    assert huey.put_if_empty(f"{huey.name}.lock.c", "1")
    assert huey.is_locked("c")
    assert huey.flush_locks(" c ") == {"c"}
    assert huey.flush_locks("c") == set()


def test_lock_ttl_lets_a_dead_holder_go(make_huey):
    from tests.helpers import wait_for
    huey = make_huey()
    huey.lock_task("short", ttl=1).acquire()
    assert huey.is_locked("short")
    wait_for(lambda: not huey.is_locked("short"), timeout=5, message="lock ttl")
    with huey.lock_task("short"):
        pass
