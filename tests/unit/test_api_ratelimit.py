"""``huey.rate_limit``, written from huey 3.5.4's documentation (api.rst, RateLimit):
a fixed window shared by every caller, RateLimitExceeded past the limit, and the
four documented combinations of the limit's ``retry`` with the task's retries.
Run on memory, SQLite and Redis."""
from __future__ import annotations

import contextlib
import pickle
import time

import pytest

from hueyd import RateLimitExceeded, TaskException
from hueyd import signals as S
from tests.unit.test_api_support import Recorder, drain, step


def far_from_window_end(per: float) -> None:
    """Wait (at most 2 s) until the current window has at least 2 s left, so a test's
    calls all fall in one window."""
    while per - (int(time.time()) % per) < 2:
        time.sleep(0.05)


def test_context_manager_and_decorator_count_one_window(make_huey):
    huey = make_huey()
    limit = huey.rate_limit("api", limit=2, per=3600)
    far_from_window_end(3600)

    @huey.rate_limit("api", limit=2, per=3600)
    def call():
        return "called"

    with limit:
        pass
    assert call() == "called"
    with pytest.raises(RateLimitExceeded) as info:
        call()
    assert info.value.key == "api" and info.value.retry is True
    assert 0 < info.value.delay <= 3600
    with pytest.raises(RateLimitExceeded):
        with limit:
            pass
    assert limit.current_usage() == 4  # refused attempts count, as in huey
    limit.reset()
    assert limit.current_usage() == 0
    with limit:
        pass
    assert limit.current_usage() == 1


def test_a_new_window_starts_from_zero(make_huey):
    huey = make_huey()
    limit = huey.rate_limit("tick", limit=1, per=1)
    with limit:
        pass
    started = int(time.time())
    same_window = int(time.time()) == started
    with pytest.raises(RateLimitExceeded) if same_window else contextlib.nullcontext():
        with limit:
            pass
    deadline = time.monotonic() + 3
    while int(time.time()) == started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert limit.current_usage() == 0
    with limit:
        pass


def test_rate_limit_exceeded_pickles():
    exc = RateLimitExceeded("sync", 12.5, retry=False)
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.key, copy.delay, copy.retry) == ("sync", 12.5, False)
    assert str(copy) == str(exc) and "sync" in str(copy)
    assert "retry in 12.5s" in str(RateLimitExceeded("sync", 12.5))


def limited_task(huey, per=3600, retry=True, **task_options):
    runs = []

    @huey.task(**task_options)
    @huey.rate_limit("sync", limit=1, per=per, retry=retry)
    def sync(n):
        runs.append(n)
        return n

    return sync, runs


def test_retry_true_runs_again_when_the_next_window_opens(make_huey):
    """retry=True, no retries: scheduled for the next window; the retry count stays."""
    huey = make_huey()
    seen = Recorder()
    huey.signal(S.SIGNAL_RATE_LIMITED)(seen)
    sync, runs = limited_task(huey, per=3600)
    far_from_window_end(3600)
    sync(1)
    second = sync(2)
    drain(huey)
    assert runs == [1] and seen.signals() == [S.SIGNAL_RATE_LIMITED]
    [retry] = huey.scheduled()
    window_end = (int(time.time()) // 3600 + 1) * 3600
    assert retry.retries == 0
    assert abs(huey.next_scheduled_time() - window_end) < 2
    assert second() is None  # not an error: a retry is pending


def test_retry_true_with_retry_delay_uses_the_delay(make_huey):
    huey = make_huey()
    sync, runs = limited_task(huey, per=3600, retries=2, retry_delay=120)
    far_from_window_end(3600)
    sync(1)
    sync(2)
    drain(huey)
    [retry] = huey.scheduled()
    assert retry.retries == 2  # preserved: the limit's own retry
    assert 115 < huey.next_scheduled_time() - time.time() < 125


def test_retry_false_without_retries_is_a_final_error(make_huey):
    huey = make_huey()
    sync, runs = limited_task(huey, retry=False)
    far_from_window_end(3600)
    sync(1)
    refused = sync(2)
    drain(huey)
    assert runs == [1] and huey.scheduled_count() == 0
    with pytest.raises(TaskException) as info:
        refused()
    assert "RateLimitExceeded" in info.value.metadata["error"]


def test_retry_false_with_retries_uses_them_up(make_huey):
    huey = make_huey()
    sync, runs = limited_task(huey, retry=False, retries=2, retry_delay=120)
    far_from_window_end(3600)
    sync(1)
    sync(2)
    drain(huey)
    [retry] = huey.scheduled()
    assert retry.retries == 1
    assert 115 < huey.next_scheduled_time() - time.time() < 125


def test_a_rate_limited_task_runs_in_the_next_window(make_huey):
    huey = make_huey()
    sync, runs = limited_task(huey, per=1)
    sync(1)
    second = sync(2)
    drain(huey)
    if runs == [1, 2]:  # the second second began between the two runs
        return
    due = huey.next_scheduled_time()
    assert due is not None and due - time.time() <= 1.01
    deadline = time.monotonic() + 3
    while time.time() < due and time.monotonic() < deadline:
        time.sleep(0.02)
    huey.enqueue_due(time.time())
    step(huey)
    assert runs == [1, 2] and second() == 2


def test_rate_limit_arguments_are_checked(make_huey):
    huey = make_huey()
    with pytest.raises(ValueError, match="limit"):
        huey.rate_limit("bad", limit=0, per=10)
    with pytest.raises(ValueError, match="per"):
        huey.rate_limit("bad", limit=1, per=0)
