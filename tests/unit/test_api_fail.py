"""Huey.fail: the consumer's public call for a task whose worker was lost."""
from __future__ import annotations

import pytest

from hueyd import TaskException
from hueyd import signals as S
from tests.unit.test_api_support import Recorder


def record_run(runs):
    runs.append(1)


def test_fail_stores_the_error_and_acks_the_message(make_huey):
    huey, ran = make_huey(), []
    result = huey.task()(record_run)(ran)
    task = huey.dequeue()
    recorder = Recorder()
    huey.signal()(recorder)
    huey.fail(task, RuntimeError("worker lost"))
    assert ran == []  # the task's own code never runs again
    assert recorder.signals() == [S.SIGNAL_EXECUTING, S.SIGNAL_ERROR]
    assert task.message is None and huey.pending_count() == 0
    with pytest.raises(TaskException, match="worker lost"):
        result.get()


def test_fail_retries_with_the_task_own_settings(make_huey):
    huey = make_huey()

    @huey.task(retries=1, timeout=30)
    def work():
        pass

    work()
    task = huey.dequeue()
    huey.fail(task, RuntimeError("worker lost"))
    retry = huey.dequeue()
    assert retry.id == task.id and retry.retries == 0
    assert retry.timeout == 30  # the replay is untimed, the retry is not
