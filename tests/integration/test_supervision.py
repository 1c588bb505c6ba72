"""The master's supervision: dead workers replaced (or not, with -C), time limits,
and a storage that never answers at start."""
from __future__ import annotations

import os
import signal
import time

from hueyd import TaskException
from tests.helpers import free_port, wait_for
from tests.integration.conftest import children_of, outcome, write_config


def worker_pid(app) -> int:
    return app.tasks.whoami().get(blocking=True, timeout=15)["pid"]


def test_a_killed_process_worker_is_replaced_only_with_health_checks(make_app, hueyd_proc):
    checked_app, unchecked_app = make_app("redis", "checked"), make_app("redis", "unchecked")
    common = ("-k", "process", "-w", "1", "-n", "-m", "0.2")
    checked = hueyd_proc(checked_app, "tasksapp.huey", *common, "-c", "1")
    unchecked = hueyd_proc(unchecked_app, "tasksapp.huey", *common, "-C")
    victims = {d.pid: worker_pid(a) for a, d in ((checked_app, checked),
                                                 (unchecked_app, unchecked))}
    killed = time.monotonic()
    for pid in victims.values():
        os.kill(pid, signal.SIGKILL)
    # -c 1: a new worker within about one interval (the scheduler is the other child)
    wait_for(lambda: len(set(checked.children()) - {victims[checked.pid]}) == 2, 5,
             message="a replacement worker")
    assert time.monotonic() - killed < 3
    assert worker_pid(checked_app) not in victims.values()
    # -C: nothing replaces it, however long we look (two intervals of the other daemon)
    wait_for(lambda: time.monotonic() - killed > 2.0, 5, message="two health-check intervals")
    assert len(unchecked.children()) == 1 and unchecked.running()
    assert "restarting" not in unchecked.output


def test_a_task_whose_worker_is_killed_counts_as_failed_and_is_retried(make_app, hueyd_proc):
    app = make_app("sqlite")
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "1", "-n", "-c", "1",
                        "-m", "0.2")
    result = app.tasks.hang_once("hang", 60)
    wait_for(lambda: app.marks("hang"), 15, message="the first run")
    os.kill(app.marks("hang")[0][1], signal.SIGKILL)
    assert wait_for(lambda: outcome(result) == "second run", 15, message="the retry")
    assert len(app.marks("hang")) == 2 and daemon.running()


def test_a_killed_process_worker_hands_back_the_task_it_had_taken_ahead(make_app, hueyd_proc):
    """Short tasks first, so the worker takes its next task ahead: while the hanging one
    runs, the task queued behind it waits in this worker's in-flight list. Killed and
    replaced, the worker's list goes back to the queue at once, not at the next stop."""
    app = make_app("redis", "ahead")
    app.tasks.add(1, 1)
    app.tasks.add(2, 2)
    hung = app.tasks.hang_once("hang", 60)
    after = app.tasks.add(10, 10)
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "1", "-n", "-c", "1",
                        "-m", "0.2")
    wait_for(lambda: app.marks("hang"), 15, message="the hanging task")
    in_flight = lambda: sum(c.in_flight for c in app.huey.storage.consumers())  # noqa: E731
    wait_for(lambda: app.huey.storage.queue_size() == 0 and in_flight() == 2, 5,
             message=lambda: f"the next task taken ahead: {in_flight()} in flight")
    os.kill(app.marks("hang")[0][1], signal.SIGKILL)
    assert wait_for(lambda: outcome(after), 15, message="the task taken ahead") == 20
    assert wait_for(lambda: outcome(hung), 15, message="the retry") == "second run"
    wait_for(lambda: in_flight() == 0, 5, message=lambda: f"{in_flight()} in flight")
    assert "handed back 1 message(s) held by worker process" in daemon.output


def test_thread_and_greenlet_workers_whose_loop_dies_are_replaced(make_app, hueyd_proc):
    runs = []
    for worker_type in ("thread", "greenlet"):
        app = make_app("redis", worker_type)
        daemon = hueyd_proc(app, "tasksapp.huey", "-k", worker_type, "-w", "1", "-n", "-c", "1")
        app.tasks.end_worker()
        runs.append((worker_type, app, daemon, app.tasks.add(2, 3)))
    for worker_type, _app, daemon, result in runs:
        # -w 1: only a replacement can run the second task
        assert result.get(blocking=True, timeout=15) == 5, (worker_type, daemon.output)
        assert "Worker-1" in daemon.output and "restarting" in daemon.output


def test_task_timeout_fails_the_task_and_kills_a_stuck_process_worker(make_app, hueyd_proc):
    process_app, thread_app = make_app("redis", "process"), make_app("redis", "thread")
    process = hueyd_proc(process_app, "--config", write_config(process_app, task_timeout=1),
                         "-k", "process", "-w", "1", "-n", "-c", "1")
    thread = hueyd_proc(thread_app, "--config", write_config(thread_app, task_timeout=1),
                        "-k", "thread", "-w", "1", "-n", "-c", "1")
    # the worker's own SIGALRM stops an overlong task: a failed run with TaskTimeout
    timed_out = process_app.tasks.slow(30, "slow")
    # a task that blocks SIGALRM: the master kills the worker; the task is retried
    hang = process_app.tasks.hang_once("hang", 60)
    # a thread cannot be stopped: its task runs on and is reported as stuck
    stuck = thread_app.tasks.slow(3, "slow")
    try:
        timed_out.get(blocking=True, timeout=15)
        raise AssertionError("the overlong task returned")
    except TaskException as exc:
        assert "TaskTimeout" in exc.metadata["error"]
    # the first run's error is stored (huey's store_intermediate_errors) until the retry ends
    assert wait_for(lambda: outcome(hang) == "second run", 15, message="the retry of hang_once")
    first, second = process_app.marks("hang")
    assert first[1] != second[1] and first[1] not in children_of(process.pid)
    assert "stuck in hang_once" in process.output and "killed" in process.output
    assert stuck.get(blocking=True, timeout=15) == "finished"
    assert "stuck in" in thread.output and thread.running()


def test_storage_unreachable_at_start_exits_69(make_app, hueyd_proc):
    app = make_app("sqlite")
    app.env["HUEYD_TEST_STORAGE"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens
    started = time.monotonic()
    daemon = hueyd_proc(app, "--config", write_config(app, startup_timeout=1))
    assert daemon.wait(15) == 69, daemon.output
    assert time.monotonic() - started < 10
    assert "unreachable" in daemon.output
