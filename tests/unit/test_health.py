"""Health verdicts (a pure function of snapshot, now and limits), heartbeat slots and STATUS."""
from __future__ import annotations

import os

import pytest

from hueyd.consumer.health import Limits, Observation, State, judge, judge_all
from hueyd.consumer.heartbeat import Beat, make_slots
from hueyd.daemon.status import Observed, blocking_problems, status_line
from hueyd.storage.base import Message

NOW = 1000.0
LIMITS = Limits(worker_hang_after=25.0, scheduler_hang_after=10.0, task_timeout=60.0)


def idle(last_beat: float) -> Beat:
    return Beat(beat=last_beat)


def busy(started: float) -> Beat:
    return Beat(beat=started, task_started=started, task_id="t-1", task_name="app.slow")


@pytest.mark.parametrize("alive,beat,kind,limits,state,seconds", [
    # alive and stamping: healthy
    (True, idle(NOW - 1), "worker", LIMITS, State.HEALTHY, 0),
    (True, idle(NOW - 25), "worker", LIMITS, State.HEALTHY, 0),
    # silent outside a task: hung, measured from the last beat
    (True, idle(NOW - 26), "worker", LIMITS, State.HUNG, 26),
    (True, idle(NOW - 11), "scheduler", LIMITS, State.HUNG, 11),
    (True, idle(NOW - 9), "scheduler", LIMITS, State.HEALTHY, 0),
    # inside a task: the task limit applies, not the heartbeat
    (True, busy(NOW - 59), "worker", LIMITS, State.HEALTHY, 0),
    (True, busy(NOW - 61), "worker", LIMITS, State.STUCK, 61),
    (True, busy(NOW - 10_000), "worker", Limits(25.0, task_timeout=None), State.HEALTHY, 0),
    # not alive: dead, whatever the slot says
    (False, idle(NOW), "worker", LIMITS, State.DEAD, 0),
    (False, busy(NOW - 1), "worker", LIMITS, State.DEAD, 0),
    (False, idle(NOW), "scheduler", LIMITS, State.DEAD, 0),
])
def test_verdicts(alive, beat, kind, limits, state, seconds):
    verdict = judge(Observation("Worker-1", alive, beat, kind), NOW, limits)
    assert verdict.state is state
    assert verdict.seconds == pytest.approx(seconds)
    assert verdict.healthy is (state is State.HEALTHY)


def test_stuck_and_dead_verdicts_name_the_task():
    stuck = judge(Observation("Worker-2", True, busy(NOW - 75)), NOW, LIMITS)
    assert stuck.task_id == "t-1" and stuck.task_name == "app.slow"
    assert stuck.describe() == "Worker-2 stuck in app.slow (t-1) for 75s"
    dead = judge(Observation("Worker-3", False, busy(NOW - 1)), NOW, LIMITS)
    assert dead.task_id == "t-1" and dead.describe() == "Worker-3 dead"
    hung = judge(Observation("Scheduler", True, idle(NOW - 30), "scheduler"), NOW, LIMITS)
    assert hung.describe() == "Scheduler hung: no heartbeat for 30s"


def test_judge_all_keeps_the_order():
    seen = [Observation("Scheduler", True, idle(NOW), "scheduler"),
            Observation("Worker-1", False, idle(NOW)),
            Observation("Worker-2", True, busy(NOW - 100))]
    assert [v.state for v in judge_all(seen, NOW, LIMITS)] == [
        State.HEALTHY, State.DEAD, State.STUCK]


@pytest.mark.parametrize("shared", [False, True])
def test_slots_record_beats_tasks_and_errors(shared):
    slot = make_slots(1, shared)[0]
    slot.reset(5.0)
    message = Message(b"payload", (7, 9))
    slot.start_task(6.0, "id-1", "app.task", message)
    assert slot.read() == Beat(beat=6.0, task_started=6.0, task_id="id-1", task_name="app.task")
    assert slot.message() == message
    slot.record_error(6.5, "app.task: ValueError: é")
    slot.end_task(7.0)
    slot.set_mark(29_000_000)
    assert slot.message() is None
    slot.reset(8.0)  # a replacement keeps the count, the error and the mark
    assert slot.read() == Beat(beat=8.0, mark=29_000_000, done=1,
                               error="app.task: ValueError: é", error_at=6.5)


def test_shared_slots_are_written_by_a_forked_child():
    slots = make_slots(2, shared=True)
    pid = os.fork()
    if pid == 0:  # the child writes its slot, as a process worker does
        slots[1].start_task(42.0, "child-task", "app.child", Message(b"m", ("r",)))
        os._exit(0)
    os.waitpid(pid, 0)
    assert slots[1].read().task_id == "child-task"
    assert slots[1].message() == Message(b"m", ("r",))
    assert slots[0].read() == Beat()


def test_a_message_too_large_for_the_slot_is_not_kept():
    slot = make_slots(1, shared=True)[0]
    slot.start_task(1.0, "big", "app.big", Message(b"x" * 70_000, None))
    assert slot.read().task_id == "big" and slot.message() is None


def test_watchdog_gate():
    healthy = judge(Observation("Worker-1", True, idle(NOW)), NOW, LIMITS)
    dead = judge(Observation("Worker-2", False, idle(NOW)), NOW, LIMITS)
    stuck = judge(Observation("Worker-3", True, busy(NOW - 100)), NOW, LIMITS)
    assert blocking_problems([healthy, dead], dead_counts=False) == []
    assert blocking_problems([healthy, dead], dead_counts=True) == [dead]
    assert blocking_problems([stuck, healthy], dead_counts=False) == [stuck]


def test_status_line():
    seen = Observed("blog", 4, "process", "running", 12, 340)
    assert status_line(seen, []) == "blog: 4 process workers, 12 queued, 340 done"
    stuck = judge(Observation("Worker-3", True, busy(NOW - 100)), NOW, LIMITS)
    one = Observed("blog", 1, "thread", "draining", None, 0, "app.x: Boom\nline two")
    assert status_line(one, [stuck]) == (
        "draining, blog: 1 thread worker, queue unreachable, 0 done; "
        "Worker-3 stuck in app.slow (t-1) for 100s; last error: app.x: Boom line two")
    rate = Observed("blog", 2, "thread", "running", 0, 900, "send: ValueError: x", 14.96)
    assert status_line(rate, []) == ("blog: 2 thread workers, 0 queued, 900 done, "
                                     "15.0 tasks/s; last error: send: ValueError: x")
    lost = Observed("blog", 2, "thread", "running", None, 9, failing_over=True)
    assert status_line(lost, []) == "blog: 2 thread workers, failing over, queue unreachable, 9 done"
