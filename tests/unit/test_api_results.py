"""Result, ResultGroup and ChordResult, method by method, as huey 3.5.4's api.rst
describes them; on memory, SQLite and Redis."""
from __future__ import annotations

import threading
import time

import pytest

from hueyd import ResultTimeout, TaskException, chord, group
from hueyd.api.result import Error
from tests.unit.test_api_support import drain, step


@pytest.fixture
def app(make_huey):
    huey = make_huey()
    state = {"fail": set()}

    @huey.task(retries=0)
    def add(a, b):
        if (a, b) in state["fail"]:
            raise ValueError(f"cannot add {a} and {b}")
        return a + b

    @huey.task()
    def total(values):
        return sum(values)

    @huey.task()
    def double(x):
        return 2 * x

    huey.add, huey.total, huey.double, huey.state = add, total, double, state
    return huey


def later(huey, seconds: float) -> threading.Thread:
    """Run one queued task in another thread after ``seconds`` (a consumer, late)."""
    def run():
        time.sleep(seconds)
        step(huey)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_get_call_is_ready_and_read_once(app):
    result = app.add(1, 2)
    assert result.get() is None and result() is None and not result.is_ready()
    drain(app)
    assert result.is_ready()  # reads the value into this handle
    assert result() == 3 and result.get() == 3  # cached on the handle
    other = type(result)(app, result.task)
    assert other.get() is None  # results are read once


def test_preserve_leaves_the_result_for_another_reader(app):
    result = app.add(2, 2)
    drain(app)
    assert result.get(preserve=True) == 4
    assert type(result)(app, result.task).get() == 4


def test_get_raw_result_returns_the_error_without_raising(app):
    app.state["fail"].add((1, 1))
    result = app.add(1, 1)
    drain(app)
    raw = result.get_raw_result()
    assert isinstance(raw, Error) and "cannot add 1 and 1" in raw.metadata["error"]
    with pytest.raises(TaskException) as info:
        result.get()
    assert info.value.metadata["task_id"] == result.id


def test_reset_reads_a_retry_after_a_cached_error(make_huey):
    """api.rst, Result.reset: the first get() caches the error; reset() lets the
    retry's value be read."""
    huey = make_huey()
    attempts = []

    @huey.task(retries=1)
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    result = flaky()
    step(huey)
    with pytest.raises(TaskException):
        result.get()
    drain(huey)
    with pytest.raises(TaskException):
        result.get()  # still the cached error
    result.reset()
    assert result.get() == "ok"


def test_blocking_get_waits_with_backoff_up_to_max_delay(app):
    result = app.add(20, 22)
    thread = later(app, 0.3)
    start = time.monotonic()
    assert result.get(blocking=True, timeout=10, backoff=2, max_delay=0.05) == 42
    thread.join(10)
    assert time.monotonic() - start < 2


def test_blocking_get_times_out_and_revokes_on_timeout(app):
    result = app.add(5, 5)
    start = time.monotonic()
    with pytest.raises(ResultTimeout):
        result.get(blocking=True, timeout=0.2)
    assert 0.15 < time.monotonic() - start < 2
    assert not result.is_revoked()
    with pytest.raises(ResultTimeout):
        result(blocking=True, timeout=0, revoke_on_timeout=True)
    assert result.is_revoked()
    drain(app)
    assert result() is None  # skipped: revoked


def test_revoke_once_restore_and_is_revoked(app):
    skipped = app.add(1, 0)
    skipped.revoke()
    assert skipped.is_revoked()
    drain(app)
    assert skipped() is None
    assert not skipped.is_revoked()  # revoke_once=True by default: spent
    kept = app.add(2, 0)
    kept.revoke(revoke_once=False)
    assert kept.restore() is True and not kept.is_revoked()
    drain(app)
    assert kept() == 2


def test_reschedule_keeps_or_drops_the_pipeline(app):
    first, _second = app.enqueue(app.add.s(1, 2).then(app.double))
    moved_head, moved_tail = app_results = first.reschedule(delay=30)  # a pipeline: a group
    bare = first.reschedule(preserve_pipeline=False)  # one task: a Result
    assert len(app_results) == 2 and len({first.id, moved_head.id, bare.id}) == 3
    assert moved_head.task.on_complete is not None and bare.task.on_complete is None
    drain(app)  # the original is revoked; bare runs; the moved one goes to the schedule
    assert first() is None and bare() == 3
    assert app.scheduled_count() == 1
    future = time.time() + 31
    app.enqueue_due(future)
    drain(app, future)
    assert moved_head() == 3 and moved_tail() == 6


def test_result_group_get_iter_len_getitem(app):
    tasks = [app.add.s(i, i) for i in range(3)]
    group_result = app.enqueue(group(tasks))
    assert len(group_result) == 3 and [r.id for r in group_result] == [t.id for t in tasks]
    assert group_result.get() == [None, None, None]
    thread = later(app, 0.1)
    assert list(group_result)[0].get(blocking=True, timeout=10) == 0
    thread.join(10)
    drain(app)
    assert group_result[0] == 0  # ready: __getitem__ (a blocking get) returns at once
    assert group_result.get() == [0, 2, 4] and group_result() == [0, 2, 4]


def test_result_group_get_raises_at_the_first_failed_member(app):
    app.state["fail"].add((1, 1))
    members = app.add.map([(0, 0), (1, 1), (2, 2)])
    drain(app)
    with pytest.raises(TaskException, match="cannot add 1 and 1"):
        members.get()
    good = list(members)
    assert good[0].get() == 0 and good[2].get() == 4  # read once, kept on the handles


def test_as_completed_yields_in_the_order_tasks_finish(app):
    members = app.add.map([(1, 0), (2, 0), (3, 0)])
    queued = [app.dequeue() for _ in range(3)]
    for task in reversed(queued):
        app.execute(task)
    assert sorted(members.as_completed(backoff=1.5, max_delay=0.05)) == [1, 2, 3]
    fresh = app.add.map([(4, 0), (5, 0)])
    taken = [app.dequeue() for _ in range(2)]
    app.execute(taken[1])

    def finish_first():
        time.sleep(0.2)
        app.execute(taken[0])
    thread = threading.Thread(target=finish_first)
    thread.start()
    assert list(fresh.as_completed(backoff=1.5, max_delay=0.05)) == [5, 4]
    thread.join(10)


def test_chord_result(app):
    outcome = app.enqueue(chord([app.add.s(1, 1), app.add.s(2, 2)], app.total.s())
                          .then(app.double))
    stages = list(outcome.pipeline_results)
    assert len(outcome.results) == 2 and outcome.callback is stages[0] and len(stages) == 2
    drain(app)
    assert outcome.results.get() == [2, 4]
    assert outcome.get() == 6 and outcome() == 6
    assert stages[1].is_ready()  # so the blocking __getitem__ below returns at once
    assert outcome.pipeline_results[1] == 12
    outcome.reset()
    assert outcome.get() is None  # read once: the stored value was taken
    plain = app.enqueue(chord([app.add.s(0, 1)], app.total.s()))
    assert plain.pipeline_results is None
    drain(app)
    assert plain(blocking=True, timeout=5) == 1
