"""Tasks: enqueue, execute, results, scheduling, retries, expiry, cancellation."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from hueyd import CancelExecution, ResultTimeout, RetryTask, TaskException
from tests.unit.test_api_support import drain, run_due


def test_call_enqueues_and_execute_stores_the_result(make_huey):
    huey = make_huey()

    @huey.task()
    def add(a, b=0):
        return a + b

    result = add(2, b=3)
    assert len(huey) == 1 and huey.pending_count() == 1
    assert result() is None  # not run yet
    task = huey.dequeue()
    assert (task.args, task.kwargs, task.id) == ((2,), {"b": 3}, result.id)
    assert huey.execute(task) == 5
    assert len(huey) == 0
    assert result() == 5
    assert result.get() == 5  # cached on the handle after the first read
    assert huey.result_count() == 0  # reading removed it from storage


def test_preserve_and_huey_result_by_id(make_huey):
    huey = make_huey()

    @huey.task()
    def echo(x):
        return x

    result = echo("hi")
    drain(huey)
    assert huey.result(result.id, preserve=True) == "hi"
    assert huey.result(result.id) == "hi"
    assert huey.result(result.id) is None


def test_blocking_get_times_out_and_can_revoke(make_huey):
    huey = make_huey()

    @huey.task()
    def never_run():
        return 1

    result = never_run()
    started = time.monotonic()
    with pytest.raises(ResultTimeout):
        result.get(blocking=True, timeout=0.2, revoke_on_timeout=True)
    assert 0.2 <= time.monotonic() - started < 2
    assert result.is_revoked()
    drain(huey)
    assert huey.result_count() == 0


def test_none_is_stored_only_with_store_none(make_huey):
    plain, keeping = make_huey("plain"), make_huey("keeping", store_none=True)
    for huey in (plain, keeping):
        @huey.task()
        def nothing():
            return None

        nothing()
        drain(huey)
    assert plain.result_count() == 0
    assert keeping.result_count() == 1


def test_results_false_returns_no_handle(make_huey):
    huey = make_huey(results=False)

    @huey.task()
    def add(a, b):
        return a + b

    assert add(1, 2) is None
    drain(huey)
    assert huey.result_count() == 0


def test_failure_raises_task_exception_with_metadata(make_huey):
    huey = make_huey()

    @huey.task()
    def boom():
        raise ValueError("no luck")

    result = boom()
    drain(huey)
    with pytest.raises(TaskException) as info:
        result.get()
    meta = info.value.metadata
    assert meta["error"] == "ValueError('no luck')"
    assert meta["task_id"] == result.id and meta["retries"] == 0
    assert "Traceback" in meta["traceback"] and "no luck" in meta["traceback"]
    assert str(info.value) == "ValueError('no luck')"


def test_retries_without_delay_requeue_at_once(make_huey):
    huey = make_huey()
    attempts = []

    @huey.task(retries=2)
    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    result = flaky()
    taken = drain(huey)
    assert len(taken) == 3 and len(attempts) == 3
    assert [t.retries for t in taken] == [1, 0, 0]  # what each run left for the next
    assert result() == "ok"


def test_retry_delay_goes_through_the_schedule(make_huey):
    huey = make_huey()
    attempts = []

    @huey.task(retries=2, retry_delay=30)
    def flaky():
        attempts.append(1)
        raise RuntimeError("down")

    result = flaky()
    drain(huey)
    assert len(attempts) == 1
    assert huey.pending_count() == 0 and huey.scheduled_count() == 1
    [scheduled] = huey.scheduled()
    assert scheduled.id == result.id and scheduled.retries == 1
    eta = huey.next_scheduled_time()
    assert time.time() + 25 < eta < time.time() + 35
    assert huey.enqueue_due(time.time()) == 0  # not due yet
    assert run_due(huey, 31) and len(attempts) == 2
    assert run_due(huey, 62) and len(attempts) == 3
    assert huey.scheduled_count() == 0 and huey.pending_count() == 0
    with pytest.raises(TaskException) as info:
        result.get()
    assert info.value.metadata["retries"] == 0


def test_retry_backoff_grows_the_delay(make_huey):
    huey = make_huey()

    @huey.task(retries=2, retry_delay=10, retry_backoff=2)
    def down():
        raise RuntimeError("down")

    down()
    drain(huey)
    first = huey.next_scheduled_time() - time.time()
    run_due(huey, 11)
    second = huey.next_scheduled_time() - time.time()
    assert 8 < first < 12 and 18 < second < 22


def test_retry_task_exception_with_delay_and_eta(make_huey):
    huey = make_huey()
    calls = []

    @huey.task()
    def poll(mode):
        calls.append(mode)
        if len(calls) == 1:
            raise RetryTask(delay=20) if mode == "delay" else RetryTask(
                eta=dt.datetime.now() + dt.timedelta(seconds=40))
        return len(calls)

    for mode, ahead in (("delay", 21), ("eta", 41)):
        calls.clear()
        result = poll(mode)
        drain(huey)
        assert huey.scheduled_count() == 1 and result() is None
        assert run_due(huey, ahead - 2) == []
        assert len(run_due(huey, ahead)) == 1
        assert result() == 2


def test_retry_task_without_delay_runs_again_immediately(make_huey):
    huey = make_huey()
    calls = []

    @huey.task()
    def again():
        calls.append(1)
        if len(calls) < 3:
            raise RetryTask()
        return "done"

    result = again()
    assert len(drain(huey)) == 3
    assert result() == "done"


@pytest.mark.parametrize("retry,retries,expect_runs", [
    (None, 0, 1), (None, 1, 2), (True, 0, 2), (False, 3, 1)])
def test_cancel_execution_retry_rules(make_huey, retry, retries, expect_runs):
    huey = make_huey()
    runs = []

    @huey.task(retries=retries)
    def cancel_me():
        runs.append(1)
        if len(runs) == 1:
            raise CancelExecution(retry=retry)
        return "second"

    cancel_me()
    drain(huey)
    assert len(runs) == expect_runs


def test_schedule_with_delay_eta_and_shorthands(make_huey):
    huey = make_huey()

    @huey.task()
    def stamp(tag):
        return tag

    by_delay = stamp.schedule(("delay",), delay=60)
    by_eta = stamp.schedule(args=("eta",), eta=dt.datetime.now() + dt.timedelta(seconds=120))
    by_number = stamp.schedule(90)
    by_aware = stamp.schedule(("aware",), eta=dt.datetime.now(dt.UTC)
                              + dt.timedelta(seconds=150))
    with pytest.raises(ValueError):
        stamp.schedule(("x",))
    with pytest.raises(ValueError):
        stamp.schedule(("x",), ["not a dict"], delay=1)

    drain(huey)  # not due: each goes from the queue to the schedule
    assert huey.pending_count() == 0 and huey.scheduled_count() == 4
    assert run_due(huey, 61)[0].id == by_delay.id
    assert [t.id for t in run_due(huey, 100)] == [by_number.id]
    assert [t.id for t in run_due(huey, 121)] == [by_eta.id]
    assert [t.id for t in run_due(huey, 151)] == [by_aware.id]
    assert by_delay() == "delay" and by_eta() == "eta" and by_aware() == "aware"


def test_localtime_huey_schedules_on_the_same_instants(make_huey):
    huey = make_huey(utc=False)

    @huey.task()
    def later():
        return "later"

    result = later.schedule(delay=45)
    drain(huey)
    assert abs(huey.next_scheduled_time() - (time.time() + 45)) < 5
    run_due(huey, 46)
    assert result() == "later"


def test_expired_task_is_not_run(make_huey):
    huey = make_huey()
    runs = []

    @huey.task(expires=10)
    def fresh_only():
        runs.append(1)
        return 1

    stale = fresh_only()
    fresh = fresh_only.schedule(expires=dt.timedelta(seconds=100), delay=0)
    drain(huey, time.time() + 20)
    assert runs == [1]
    assert stale() is None and fresh() == 1


def test_task_options_via_s_and_schedule(make_huey, storage_kind):
    huey = make_huey()
    if storage_kind == "redis":  # a plain RedisHuey refuses priorities, as huey's does
        huey = make_huey("prio", storage_class="hueyd.storage.redis:PriorityRedisStorage")

    @huey.task(retries=1, retry_delay=5, priority=3, name="renamed")
    def configured(x):
        return x

    task = configured.s(1, id="fixed-id", retries=4, priority=9)
    assert (task.id, task.retries, task.retry_delay, task.priority) == ("fixed-id", 4, 5, 9)
    assert task.name == "renamed" and configured.retries == 1 and configured.retry_delay == 5
    result = huey.enqueue(task)
    [queued] = huey.pending()
    assert (queued.id, queued.retries, queued.priority) == ("fixed-id", 4, 9)
    drain(huey)
    assert result() == 1


def test_context_task_receives_itself(make_huey):
    huey = make_huey()

    @huey.task(context=True, retries=1)
    def introspect(x, task=None):
        if task.retries:
            raise RuntimeError("once more")
        return (x, task.id)

    result = introspect(7)
    drain(huey)
    assert result() == (7, result.id)


def test_call_local_map_and_unregister(make_huey):
    huey = make_huey()

    @huey.task()
    def square(x, y=1):
        return x * x * y

    assert square.call_local(4) == 16
    group = square.map([1, 2, (3, 2)])
    drain(huey)
    assert group.get() == [1, 4, 18]
    square(5)
    assert square.unregister() is True
    with pytest.raises(Exception, match="not found"):
        square(6)
    assert huey.dequeue() is None  # an unknown task now: dead-lettered, not run
    assert huey.storage.dead_letter_count() == 1
    assert "unknown task" in huey.storage.dead_letters()[0].reason


def test_duplicate_task_names_are_refused(make_huey):
    huey = make_huey()

    @huey.task()
    def dup():
        pass

    with pytest.raises(ValueError, match="already registered"):
        @huey.task(name="dup")
        def other():
            pass


def test_async_function_is_refused(make_huey):
    from hueyd import ConfigurationError
    huey = make_huey()
    with pytest.raises(ConfigurationError, match="async"):
        @huey.task()
        async def coro():
            pass


def test_priority_orders_the_queue(make_huey, storage_kind):
    if storage_kind == "redis":
        pytest.skip("plain RedisHuey is FIFO; PriorityRedisHuey orders by priority")
    huey = make_huey()

    @huey.task()
    def job(tag):
        return tag

    for tag, priority in (("low", 1), ("none", None), ("high", 10), ("mid", 5)):
        huey.enqueue(job.s(tag, priority=priority))
    order = [t.args[0] for t in drain(huey)]
    assert order == ["high", "mid", "low", "none"]
