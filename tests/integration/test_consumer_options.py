"""huey_consumer's options on a real ``hueyd run``: -M recycles workers of every type,
-g TERM makes SIGTERM the graceful stop, -f/-L flush stale locks, -S logs time and
message only. Real processes, real signals, SQLite and Redis."""
from __future__ import annotations

import re
import signal

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import WORKER_TYPES


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
def test_max_tasks_recycles_each_worker_type(make_app, hueyd_proc, worker_type):
    app = make_app("sqlite")
    proc = hueyd_proc(app, "tasksapp.huey", "-w", "1", "-k", worker_type, "-M", "2",
                      "-n", "-m", "0.2", "-d", "0.05")  # -n: no periodic task counts
    seen = []
    for _ in range(6):  # one at a time: each runs on the worker alive then
        seen.append(app.tasks.where().get(blocking=True, timeout=20))
    assert [seen.count(r) for r in dict.fromkeys(seen)] == [2, 2, 2], (seen, proc.output)
    assert proc.output.count("recycled after 2 tasks") >= 2, proc.output
    assert "died" not in proc.output and "restarting it" not in proc.output, proc.output
    proc.signal(signal.SIGINT)
    assert proc.wait(20) == 0, proc.output


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_graceful_signal_term_lets_the_task_finish_and_int_interrupts(make_app, hueyd_proc,
                                                                      kind):
    app = make_app(kind)
    proc = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-g", "TERM", "-t", "30",
                      "-m", "0.2")
    slow = app.tasks.slow(1.5, "graceful")
    wait_for(lambda: app.marks("graceful"), 20, message="the task to start")
    proc.signal(signal.SIGTERM)  # graceful under -g TERM
    assert proc.wait(20) == 0, proc.output
    assert [m[2] for m in app.marks("graceful")] == ["start", "done"], proc.output
    assert slow.get(preserve=True) == "finished"

    proc = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-g", "TERM", "-m", "0.2")
    app.tasks.slow(30, "interrupted")
    wait_for(lambda: app.marks("interrupted"), 20, message="the long task to start")
    proc.signal(signal.SIGINT)  # the other signal: interrupts, the task goes back
    assert proc.wait(20) == 0, proc.output
    assert [m[2] for m in app.marks("interrupted")] == ["start"]
    assert "handed back to the queue" in proc.output, proc.output
    assert app.huey.pending_count() == 1


def test_flush_locks_and_extra_locks_at_start(make_app, hueyd_proc):
    """As huey: -L flushes the named locks and those the app declares; -f those alone."""
    app = make_app("sqlite")
    storage = app.huey.storage
    for name in ("tasksapp-held", "stale", "other"):
        assert storage.put_if_empty(f"itest.lock.{name}", b"1")
    proc = hueyd_proc(app, "tasksapp.huey", "-L", "stale", "-m", "0.2")
    proc.wait_for_log("found stale locks: stale, tasksapp-held", 20)
    assert storage.has_data_for_key("itest.lock.other")  # neither named nor declared
    proc.signal(signal.SIGINT)
    assert proc.wait(20) == 0
    assert storage.put_if_empty("itest.lock.tasksapp-held", b"1")
    proc = hueyd_proc(app, "tasksapp.huey", "-f", "-m", "0.2")
    proc.wait_for_log("found stale locks: tasksapp-held", 20)
    assert not storage.has_data_for_key("itest.lock.tasksapp-held")
    assert storage.has_data_for_key("itest.lock.other")


def test_simple_log_format(make_app, hueyd_proc):
    app = make_app("sqlite")
    proc = hueyd_proc(app, "tasksapp.huey", "-S", "-m", "0.2")
    assert app.tasks.add(1, 2).get(blocking=True, timeout=20) == 3
    proc.signal(signal.SIGINT)
    assert proc.wait(20) == 0
    lines = [line for line in proc.output.splitlines() if line.strip()
             and not line.startswith("+ ")]  # the banner's list of tasks
    assert lines and all(re.match(r"\d\d:\d\d:\d\d \S", line) for line in lines), lines[:5]
