"""Every task-lifecycle signal, with huey's names, values and handler signature."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from hueyd import CancelExecution, RetryTask
from hueyd import signals as S
from tests.unit.test_api_support import Recorder, drain

HUEY_VALUES = {
    "SIGNAL_CANCELED": "canceled", "SIGNAL_COMPLETE": "complete", "SIGNAL_ERROR": "error",
    "SIGNAL_EXECUTING": "executing", "SIGNAL_EXPIRED": "expired", "SIGNAL_LOCKED": "locked",
    "SIGNAL_RETRYING": "retrying", "SIGNAL_REVOKED": "revoked",
    "SIGNAL_SCHEDULED": "scheduled", "SIGNAL_INTERRUPTED": "interrupted",
    "SIGNAL_ENQUEUED": "enqueued", "SIGNAL_TIMEOUT": "timeout",
    "SIGNAL_RATE_LIMITED": "rate-limited",
}


def test_constants_match_huey():
    for name, value in HUEY_VALUES.items():
        assert getattr(S, name) == value
    assert set(S.ALL_SIGNALS) == set(HUEY_VALUES.values())


@pytest.fixture
def watched(make_huey):
    huey = make_huey()
    recorder = Recorder()
    huey.signal()(recorder)
    return huey, recorder


def test_success_sequence(watched):
    huey, rec = watched

    @huey.task()
    def ok():
        return 1

    result = ok()
    drain(huey)
    assert rec.calls == [(S.SIGNAL_ENQUEUED, result.id, ()),
                         (S.SIGNAL_EXECUTING, result.id, ()),
                         (S.SIGNAL_COMPLETE, result.id, ())]


def test_error_passes_the_exception_then_retrying(watched):
    huey, rec = watched

    @huey.task(retries=1, retry_delay=60)
    def bad():
        raise ValueError("x")

    bad()
    drain(huey)
    assert rec.signals() == [S.SIGNAL_ENQUEUED, S.SIGNAL_EXECUTING, S.SIGNAL_ERROR,
                             S.SIGNAL_RETRYING, S.SIGNAL_SCHEDULED]
    (exc,) = rec.calls[2][2]
    assert isinstance(exc, ValueError)


def test_scheduled_revoked_expired_canceled(watched):
    huey, rec = watched

    @huey.task()
    def job():
        raise CancelExecution()

    later = job.schedule(delay=60)
    revoked = job()
    revoked.revoke()
    expired = job.schedule(expires=1, delay=0)
    canceled = job()
    drain(huey, time.time() + 5)
    seen = {(sig, tid) for sig, tid, _ in rec.calls}
    assert (S.SIGNAL_SCHEDULED, later.id) in seen
    assert (S.SIGNAL_REVOKED, revoked.id) in seen
    assert (S.SIGNAL_EXPIRED, expired.id) in seen
    assert (S.SIGNAL_CANCELED, canceled.id) in seen
    assert S.SIGNAL_ERROR not in rec.signals()


def test_retry_task_emits_retrying_without_error(watched):
    huey, rec = watched
    calls = []

    @huey.task()
    def again():
        calls.append(1)
        if len(calls) == 1:
            raise RetryTask()

    again()
    drain(huey)
    assert rec.signals().count(S.SIGNAL_RETRYING) == 1
    assert S.SIGNAL_ERROR not in rec.signals()


def test_locked(watched):
    huey, rec = watched

    @huey.task()
    def guarded():
        with huey.lock_task("l"):
            return 1

    with huey.lock_task("l"):
        guarded()
        drain(huey)
    assert S.SIGNAL_LOCKED in rec.signals()


def test_interrupted_is_emitted_by_whoever_interrupts(watched):
    huey, rec = watched

    @huey.task()
    def job():
        pass

    job()
    task = huey.dequeue()
    huey.emit(S.SIGNAL_INTERRUPTED, task)  # what the consumer does on a hard stop
    assert rec.calls[-1] == (S.SIGNAL_INTERRUPTED, task.id, ())


def test_timeout_signal_through_the_timeout_handler(watched):
    from contextlib import contextmanager

    from hueyd import TaskException
    from hueyd.exceptions import TaskTimeout
    huey, rec = watched

    @contextmanager
    def handler(seconds):
        yield
        raise TaskTimeout(f"took more than {seconds}s")

    huey.timeout_handler = handler

    @huey.task(timeout=0.5)
    def slow():
        return 1

    result = slow()
    drain(huey)
    assert S.SIGNAL_TIMEOUT in rec.signals()
    with pytest.raises(TaskException, match="TaskTimeout"):
        result.get()


def test_specific_signals_disconnect_and_broken_handlers(make_huey):
    huey = make_huey()
    only_complete, everything = Recorder(), Recorder()

    @huey.signal(S.SIGNAL_COMPLETE, S.SIGNAL_ERROR)
    def broken(signal, task, *args):
        raise RuntimeError("handler bug")

    huey.signal(S.SIGNAL_COMPLETE)(only_complete)
    huey.signal()(everything)

    @huey.task()
    def ok():
        return 1

    ok()
    drain(huey)
    assert only_complete.signals() == [S.SIGNAL_COMPLETE]  # a broken handler stops nothing
    huey.disconnect_signal(only_complete, S.SIGNAL_COMPLETE)
    huey.disconnect_signal(everything)
    ok()
    drain(huey)
    assert len(only_complete.calls) == 1 and len(everything.calls) == 3


def test_enqueued_and_scheduled_carry_the_task(watched):
    huey, rec = watched

    @huey.task()
    def later():
        pass

    captured = []
    huey.signal(S.SIGNAL_SCHEDULED)(lambda sig, task: captured.append(task.eta))
    later.schedule(eta=dt.datetime.now() + dt.timedelta(hours=1))
    drain(huey)
    assert len(captured) == 1 and isinstance(captured[0], dt.datetime)


def test_receivers_connected_or_disconnected_between_runs_are_heard(make_huey):
    """``send`` keeps, per signal, the receivers it calls (two sends per run): a handler
    connected after runs have been sent is still called, and a disconnected one is not."""
    huey = make_huey()
    heard: list[tuple[str, str]] = []

    @huey.task()
    def ok():
        return 1

    ok()
    drain(huey)  # no receiver yet: nothing heard, the empty answer kept
    huey.signal(S.SIGNAL_EXECUTING)(lambda signal, task: heard.append(("one", signal)))

    def catch_all(signal, task, *args):
        heard.append(("all", signal))

    huey.signal()(catch_all)
    ok()
    drain(huey)
    assert heard == [("all", S.SIGNAL_ENQUEUED), ("one", S.SIGNAL_EXECUTING),
                     ("all", S.SIGNAL_EXECUTING), ("all", S.SIGNAL_COMPLETE)]
    huey.disconnect_signal(catch_all)
    heard.clear()
    ok()
    drain(huey)
    assert heard == [("one", S.SIGNAL_EXECUTING)]
