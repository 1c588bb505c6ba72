"""A task whose worker was lost fails through the executor's guard hook: retries,
signals and error results follow huey's rules, and the task object is left intact."""
from __future__ import annotations

from hueyd.api import signals as S
from hueyd.consumer.abandoned import WorkerLost, fail
from tests.unit.test_api_support import Recorder, drain


def test_a_lost_worker_fails_the_run_and_leaves_the_task_intact(make_huey):
    huey = make_huey()
    ran: list[int] = []

    @huey.task(retries=1)
    def work(n):
        ran.append(n)

    recorder = Recorder()
    huey.signal(S.SIGNAL_ERROR)(recorder)
    work(7)
    task = huey.dequeue()
    fail(huey, task, WorkerLost("Worker-1 was killed"))
    assert ran == [] and recorder.signals() == [S.SIGNAL_ERROR]
    assert isinstance(recorder.calls[0][2][0], WorkerLost)
    assert "execute" not in vars(task)  # not patched: the task still runs its own code
    task.execute()
    assert ran == [7]
    assert [t.retries for t in drain(huey)] == [0]  # the retry ran, with its body
    assert ran == [7, 7]
