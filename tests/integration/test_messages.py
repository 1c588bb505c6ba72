"""No message stays in flight, and no flood of log lines (issue 14, items 7 and 10), on
real daemons.

- Every kind of bad message an attacker with access to the queue can write (tests/
  hostile.py: missing or unhashable names, out-of-range etas, wrong types, truncated,
  nested too deep...), among good ones, on Redis and SQLite: each becomes a dead letter
  whose reason names the problem, nothing is left in flight, the good tasks run and the
  daemon keeps its PID and workers.
- 10,000 garbage messages: a few log lines, which still count them all.
- Redis at maxmemory while a task runs: its result cannot be stored. The outcome is
  tried again (the task does not run again), then set aside as a dead letter naming
  the error; the worker takes no other task meanwhile, and the log stays short. With
  room back in time, the result is stored instead.

Each test prints its numbers (run pytest with -s to see them).
"""
from __future__ import annotations

import contextlib
import re
import sqlite3
import time

import pytest

from tests.helpers import wait_for
from tests.hostile import bad_messages, fill, unfill
from tests.integration.conftest import App

FAST = ("-n", "-c", "1", "-d", "0.01", "-m", "0.05")


def held(app: App) -> int:
    """Messages in flight, read from the storage itself: Redis in-flight lists, SQLite
    claimed rows."""
    storage = app.huey.storage
    if app.kind == "redis":
        lists = storage.conn.keys(f"{storage.keys.prefix}:inflight:*")
        return sum(storage.conn.llen(key) for key in lists)
    with contextlib.closing(sqlite3.connect(app.storage)) as conn:
        return conn.execute("SELECT count(*) FROM hueyd_queue WHERE claim IS NOT NULL"
                            ).fetchone()[0]


def accounted(lines: list[str]) -> int:
    """Messages a set of "set aside" lines stands for: one each, plus "N more like it"."""
    return sum(1 + sum(int(n) for n in re.findall(r"\((\d+) more like it", line))
               for line in lines)


def set_aside_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "as a dead letter" in line]


@pytest.mark.parametrize("kind,worker_type", [
    ("redis", "thread"), ("redis", "process"), ("redis", "greenlet"), ("sqlite", "thread"),
    ("sqlite", "process")])
def test_every_bad_message_becomes_a_dead_letter_with_its_reason(make_app, hueyd_proc, kind,
                                                                 worker_type):
    app = make_app(kind, name=f"hostile-{worker_type}")
    huey, storage = app.huey, app.huey.storage
    bad = bad_messages(huey.serialize_task(app.tasks.add.s(0, 0)))
    results = []
    for n, (_, data, _) in enumerate(bad):  # a good task between every two bad ones
        results.append(app.tasks.add(n, n))
        storage.enqueue(data)
    storage.add_to_schedule(b"garbage in the schedule", time.time() - 1)
    expected = {data: word for _, data, word in bad}
    expected[b"garbage in the schedule"] = "undecodable"
    if kind == "redis":  # a schedule member that is not "<priority>:<data>" at all
        storage.conn.zadd(storage.keys.schedule, {b"no-priority-here": time.time() - 1})
        expected[b"no-priority-here"] = "undecodable"

    daemon = hueyd_proc(app, "tasksapp.huey", "-k", worker_type, "-w", "2", *FAST)
    for n, result in enumerate(results):
        assert result.get(blocking=True, timeout=30) == 2 * n
    wait_for(lambda: storage.dead_letter_count() >= len(expected), 30,
             message=lambda: f"{len(expected)} dead letters, not "
             f"{storage.dead_letter_count()}: {daemon.output[-3000:]}")
    workers = daemon.children()
    wait_for(lambda: held(app) == 0, 10, message="nothing held in flight")

    letters = storage.dead_letters()
    assert len(letters) == len(expected)
    names = {data: name for name, data, _ in bad}
    for letter in letters:
        word = expected[letter.data]
        assert word in letter.reason, (names.get(letter.data), letter.reason)
        assert len(letter.reason) <= 500
    print(f"\n{kind}/{worker_type}: {len(letters)} dead letters, e.g. "
          + "; ".join(sorted({d.reason[:70] for d in letters})[:6]))
    assert storage.queue_size() == 0 and held(app) == 0
    assert daemon.running() and daemon.children() == workers
    output = daemon.output
    assert "Traceback" not in output and " died" not in output and "restarting" not in output
    assert len(output.splitlines()) < 3 * len(results), output[-3000:]


def test_ten_thousand_garbage_messages_write_a_few_lines_that_count_them(make_app,
                                                                         hueyd_proc):
    app = make_app("redis", name="flood")
    storage = app.huey.storage
    pipe = storage.conn.pipeline(transaction=False)
    for n in range(10_000):
        pipe.lpush(storage.keys.queue, b"garbage %d" % n)
    pipe.execute()
    started = time.monotonic()
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "4", *FAST)
    wait_for(lambda: storage.dead_letter_count() == 10_000, 60,
             message=lambda: f"10,000 dead letters, not {storage.dead_letter_count()}")
    drained = time.monotonic() - started
    # each process counts what it set aside, and says so at most every 10 s
    wait_for(lambda: accounted(set_aside_lines(daemon.output)) == 10_000, 30,
             message=lambda: "lines that count 10,000 messages:\n"
             + "\n".join(set_aside_lines(daemon.output)))
    lines = daemon.output.splitlines()
    print(f"\n10,000 garbage messages: set aside in {drained:.1f}s, {len(lines)} log lines:\n"
          + "\n".join(lines))
    assert len(lines) < 100
    assert held(app) == 0 and daemon.running()


def test_a_result_redis_has_no_room_for_is_tried_again_then_set_aside(own_redis, hueyd_proc,
                                                                      tmp_path):
    app = App(tmp_path / "oom", own_redis.url, "oom")
    storage = app.huey.storage
    try:
        daemon = hueyd_proc(app, "tasksapp.huey", "-k", "thread", "-w", "1", "-n", "-c", "1")
        first = app.tasks.slow(1.0, "t0")
        second = app.tasks.slow(0.5, "t1")
        wait_for(lambda: app.marks("t0"), 15, message="the first task to start")
        filler = fill(own_redis.port)
        full_at, log_start = time.time(), len(daemon.output)
        wait_for(storage.dead_letter_count, 40, message=lambda: daemon.output[log_start:])
        (letter,) = storage.dead_letters()
        full_log = daemon.output[log_start:].splitlines()
        print(f"\nRedis full: the outcome was set aside {letter.timestamp - full_at:.1f}s "
              f"later: {letter.reason!r}; {len(full_log)} log lines meanwhile:\n"
              + "\n".join(full_log))
        assert "maxmemory" in letter.reason and first.id in letter.reason
        assert 10 <= letter.timestamp - full_at <= 25  # tried for ~15 s (1+2+4+8)
        assert [text for _, _, text in app.marks("t0")] == ["start", "done"]  # ran once
        assert held(app) <= 1  # the second task, taken once the first was set aside
        assert all(t >= letter.timestamp for t, _, _ in app.marks("t1"))  # not before
        assert len(full_log) <= 20

        unfill(filler)  # room again: the second task's result is stored, the first reruns
        assert second.get(blocking=True, timeout=30) == "finished"
        assert storage.requeue_dead_letters() == 1
        assert first.get(blocking=True, timeout=30) == "finished"
        assert [text for _, _, text in app.marks("t0")] == ["start", "done"] * 2
        assert [text for _, _, text in app.marks("t1")] == ["start", "done"]
        wait_for(lambda: held(app) == 0, 10, message="nothing held in flight")
        assert storage.dead_letter_count() == 0 and daemon.running()
        assert "Traceback" not in daemon.output and " died" not in daemon.output
    finally:
        storage.close()


def test_a_result_is_stored_once_redis_has_room_again(own_redis, hueyd_proc, tmp_path):
    app = App(tmp_path / "room", own_redis.url, "room")
    storage = app.huey.storage
    try:
        daemon = hueyd_proc(app, "tasksapp.huey", "-k", "thread", "-w", "1", "-n", "-c", "1")
        result = app.tasks.slow(1.0, "t0")
        wait_for(lambda: app.marks("t0"), 15, message="the task to start")
        filler = fill(own_redis.port)
        daemon.wait_for_log("cannot store the outcome of task", 15)
        unfill(filler)
        assert result.get(blocking=True, timeout=15) == "finished"
        assert [text for _, _, text in app.marks("t0")] == ["start", "done"]  # once
        wait_for(lambda: held(app) == 0, 10, message="nothing held in flight")
        assert storage.dead_letter_count() == 0 and daemon.running()
    finally:
        storage.close()


def test_redis_at_maxmemory_for_ten_seconds_writes_few_lines(own_redis, hueyd_proc, tmp_path):
    """Four process workers and the scheduler find Redis full for 10 s: a few lines,
    no restart; once there is room, every task runs and none is set aside."""
    app = App(tmp_path / "full", own_redis.url, "full")
    storage = app.huey.storage
    try:
        daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "4", "-n", "-c", "1")
        wait_for(lambda: len(daemon.children()) == 5, 15, message="the workers")
        workers = daemon.children()
        results = [app.tasks.add(n, n) for n in range(200)]
        filler = fill(own_redis.port)
        log_start = len(daemon.output)
        time.sleep(0.5)  # the full period is measured from here, below: 10 s of it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert daemon.running() and daemon.children() == workers
            time.sleep(0.2)
        full_log = daemon.output[log_start:].splitlines()
        unfill(filler)
        assert [r.get(blocking=True, timeout=30) for r in results] == [2 * n for n in range(200)]
        print(f"\nRedis full for 10 s, 4 process workers: {len(full_log)} log lines:\n"
              + "\n".join(full_log))
        assert len(full_log) <= 25
        assert storage.dead_letter_count() == 0 and daemon.children() == workers
        assert "Traceback" not in daemon.output
    finally:
        storage.close()
