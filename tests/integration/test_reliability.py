"""No task lost to crashes, Redis outages or bad messages (issue 9), on real daemons.

- 1,000 queued tasks, the daemon's whole process group SIGKILLed mid-drain, a new
  daemon started: every task ran at least once, and only tasks that were in
  flight (at most one per worker) ran twice; also with tasks short enough that
  each worker holds several more, taken ahead. With SIGTERM instead, none twice.
- redis-server stopped for 10 s mid-drain and started again on the same port:
  nothing lost, work resumes within 5 s, at most 15 log lines about it; a task that
  finished during the outage stores its outcome when Redis returns (it does not run again).
- 1,000 malformed messages among 1,000 good ones: the good ones run, the bad ones
  are dead letters with a reason, and no process is restarted.
- A task that kills its whole daemon (thread workers) is set aside after 5 deaths.
- ``hueyd status`` (the real command line) shows those in-flight and dead-letter
  counts; ``hueyd dead-letter list|requeue|purge`` handles the letters.

Each test prints its numbers (run pytest with -s to see them).
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import signal
import subprocess
import time
from collections import Counter

import pytest
import redis

from hueyd.consumer.take_ahead import AHEAD_MOST
from tests.helpers import RedisServer, wait_for
from tests.integration.conftest import HUEYD, ROOT, App, processes

TASKS = 1000
WORKERS = 4
#: seconds one task sleeps: long enough that a kill lands mid-task
TASK_SECONDS = 0.01
#: a task short enough that workers take the next ones ahead (take_ahead.AHEAD_BELOW)
SHORT_SECONDS = 0.0005


def enqueue_many(app: App, count: int = TASKS, seconds: float = TASK_SECONDS,
                 slow_first: int = 0, slow_seconds: float = 0.0) -> None:
    """``count`` ``slow`` tasks named t0..t<count-1>; the first ``slow_first`` of them
    sleep ``slow_seconds`` instead of ``seconds``."""
    huey = app.huey
    for n in range(count):
        wait = slow_seconds if n < slow_first else seconds
        huey.storage.enqueue(huey.serialize_task(app.tasks.slow.s(wait, f"t{n}")))


def completions(app: App, count: int = TASKS) -> Counter:
    """Task number -> how many runs completed (from the tasks' own marker files)."""
    done: Counter = Counter()
    for n in range(count):
        done[n] = sum(1 for _, _, text in app.marks(f"t{n}") if text == "done")
    return done


def unrun(app: App, count: int = TASKS) -> list[int]:
    return [n for n, runs in completions(app, count).items() if not runs]


def finished(app: App) -> int:
    """Distinct tasks finished: ``slow`` stores a result per task id (cheap to count)."""
    return app.huey.storage.result_store_size()


def hueyd_status(app: App) -> dict:
    """``hueyd status --json`` through the real command line, for this app's queue."""
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}",
           "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([*HUEYD, "status", "tasksapp.huey", "--json"], cwd=app.dir, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def kill_group(daemon) -> None:
    """SIGKILL the daemon and every process of its session (it runs under setsid)."""
    with contextlib.suppress(ProcessLookupError):  # nothing left of it
        os.killpg(daemon.pid, signal.SIGKILL)
    daemon.wait(10)
    wait_for(lambda: not group_members(daemon.pid), 10, message="the killed group to be gone")


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    return [pid for pid, state, _, group in processes() if group == pgid and state != "Z"]


def started_by(app: App, pids: set[int], count: int = TASKS) -> set[int]:
    """Tasks that some process in ``pids`` started."""
    return {n for n in range(count)
            for _, pid, text in app.marks(f"t{n}") if text == "start" and pid in pids}


# -- crashes ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind,worker_type,seconds", [
    ("redis", "process", TASK_SECONDS), ("redis", "thread", TASK_SECONDS),
    ("sqlite", "process", TASK_SECONDS),
    # short tasks: each worker holds up to AHEAD_MOST more, taken ahead, never started
    ("redis", "process", SHORT_SECONDS), ("redis", "thread", SHORT_SECONDS)])
def test_sigkill_mid_drain_loses_nothing(make_app, hueyd_proc, kind, worker_type, seconds):
    app = make_app(kind, name=f"kill-{worker_type}")
    enqueue_many(app, seconds=seconds)
    args = ("tasksapp.huey", "-k", worker_type, "-w", str(WORKERS), "-n", "-c", "1",
            "-m", "0.05", "-d", "0.01")
    first = hueyd_proc(app, *args)
    wait_for(lambda: finished(app) >= TASKS // 4, 60, message="a quarter of the drain")
    first_pids = {first.pid, *first.children()}
    kill_group(first)
    at_kill = finished(app)

    # its lease still runs, but its process is gone: status says so after a short grace
    report = wait_for(lambda: (r := hueyd_status(app))["consumers_alive"] == 0 and r, 15,
                      message="status to see the consumer gone")
    (dead,) = report["consumers"]
    held = dead["in_flight"]
    assert not dead["alive"]
    # a long task: itself, and the next one once its own code returned (taken while its
    # outcome is stored); short ones: up to AHEAD_MOST more, taken ahead
    assert 0 < held <= WORKERS * (2 if seconds > SHORT_SECONDS else AHEAD_MOST + 1)
    assert report["in_flight"] == held
    assert report["queued"] + held + at_kill >= TASKS  # nothing vanished

    restarted = time.monotonic()
    second = hueyd_proc(app, *args)
    second.wait_for_log("took back", 15)
    took_back = time.monotonic() - restarted
    wait_for(lambda: finished(app) == TASKS, 120, message="the drain to finish")
    wait_for(lambda: hueyd_status(app)["in_flight"] == 0, 15, message="no message in flight")

    done = completions(app)
    twice = sorted(n for n, runs in done.items() if runs > 1)
    print(f"\n{kind}/{worker_type}: {at_kill} finished at the kill, {held} in flight, "
          f"taken back {took_back:.1f}s after the restart, ran twice: {twice}")
    assert min(done.values()) >= 1, [n for n, runs in done.items() if runs == 0][:20]
    assert len(twice) <= min(held, WORKERS) and max(done.values()) <= 2  # one per worker
    assert set(twice) <= started_by(app, first_pids)  # only what the killed daemon ran
    assert app.huey.storage.queue_size() == 0 and app.huey.storage.dead_letter_count() == 0


@pytest.mark.parametrize("kind,worker_type,short", [
    ("redis", "process", False), ("redis", "greenlet", False), ("sqlite", "process", False),
    ("redis", "process", True), ("redis", "greenlet", True), ("redis", "thread", True)])
def test_sigterm_mid_drain_runs_no_task_twice(make_app, hueyd_proc, kind, worker_type, short):
    app = make_app(kind, name=f"term-{worker_type}")
    if short:  # SIGTERM lands while workers hold tasks taken ahead: they go back unrun
        enqueue_many(app, seconds=SHORT_SECONDS)
    else:  # SIGTERM lands among the first 100 tasks, 0.3 s each (a stop interrupts only
        # a task's own code, never the storing of its outcome)
        enqueue_many(app, slow_first=100, slow_seconds=0.3)
    args = ("tasksapp.huey", "-k", worker_type, "-w", str(WORKERS), "-n", "-c", "1",
            "-m", "0.05", "-d", "0.01")
    first = hueyd_proc(app, *args)
    wait_for(lambda: finished(app) >= (TASKS // 4 if short else 40), 60,
             message="tasks to be done before the stop")
    first.signal(signal.SIGTERM)
    assert first.wait(15) == 0, first.output
    interrupted = len(re.findall(r"interrupted, handed back", first.output))
    report = hueyd_status(app)
    assert report["in_flight"] == 0  # every interrupted task went back at once
    assert report["consumers"] == []  # and the stopped consumer dropped its lease

    hueyd_proc(app, *args)
    wait_for(lambda: finished(app) == TASKS, 120, message="the drain to finish")
    done = completions(app)
    print(f"\n{kind}/{worker_type} SIGTERM: {interrupted} interrupted and handed back, "
          f"ran twice: {sorted(n for n, runs in done.items() if runs > 1)}")
    assert min(done.values()) == 1 and max(done.values()) == 1


# -- a Redis outage ------------------------------------------------------------------------

OUTAGE = 10.0
#: log lines that speak of the storage (workers, scheduler, master)
ABOUT_STORAGE = re.compile(r"storage|queue again|read the queue|reach|unreachable|redis|"
                           r"outcome of task|Connection", re.IGNORECASE)


@pytest.fixture
def restartable_redis():
    """A redis-server of this test's own that keeps its data across stop/start (it saves
    on shutdown and loads at start), on a port that stays the same."""
    server = RedisServer().start()
    client = redis.Redis(port=server.port)
    client.config_set("save", "3600 1")  # the suite's default, which this test relies on
    client.close()
    try:
        yield server
    finally:
        server.cleanup()


def test_a_redis_outage_loses_nothing_and_recovers_by_itself(
        restartable_redis, hueyd_proc, notify_socket, tmp_path):
    server = restartable_redis
    app = App(tmp_path / "outage", server.url, "outage")
    listener = notify_socket()
    try:
        enqueue_many(app, seconds=0.02)
        daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", str(WORKERS), "-n",
                            "-c", "1", env={"NOTIFY_SOCKET": listener.path,
                                            "WATCHDOG_USEC": "2000000"}, watchdog_pid=True)
        listener.wait_for_key("READY", 15)
        wait_for(lambda: finished(app) >= TASKS // 5, 60, message="a fifth of the drain")
        workers = daemon.children()
        log_start = len(daemon.output)
        server.stop()
        down = time.monotonic()
        # while Redis is away: same master, same workers (the watchdog is checked below)
        while time.monotonic() - down < OUTAGE:
            assert daemon.running() and daemon.children() == workers
            time.sleep(0.2)
        server.start()
        back = time.monotonic()
        app.huey.storage.close()  # the test's own connections died with the server
        before = finished(app)
        wait_for(lambda: finished(app) > before, 10, message="work to resume")
        resumed = time.monotonic() - back
        wait_for(lambda: app.huey.storage.queue_size() == 0, 60, message="the queue to drain")
        # Nothing lost: every task ran (a worker that lost Redis around a run hands the
        # task back when Redis answers again), and nothing is left in flight.
        wait_for(lambda: not unrun(app) and hueyd_status(app)["in_flight"] == 0, 30,
                 message="every task to run, nothing left in flight")
        settled = daemon.output[log_start:]

        done = completions(app)
        statuses = [f.get("STATUS", "") for t, f in listener.messages if down < t < back]
        pings = [t for t in listener.pings() if down <= t <= back]
        about = [line for line in settled.splitlines() if ABOUT_STORAGE.search(line)]
        twice = sorted(n for n, runs in done.items() if runs > 1)
        print(f"\noutage {OUTAGE:.0f}s: work resumed {resumed:.2f}s after Redis returned; "
              f"{len(about)} log lines about it; {len(pings)} watchdog pings during the "
              f"outage; ran twice: {twice}; not run yet (held in flight): {unrun(app)}; "
              f"{finished(app)} results stored\n" + "\n".join(about))
        assert resumed <= 5.0
        assert len(about) <= 15
        assert any("queue unreachable" in s for s in statuses), statuses
        assert len(pings) >= OUTAGE / 2 - 1  # every second, outage or not
        assert daemon.children() == workers and daemon.running()
        assert "restarting" not in settled and " died" not in settled
    finally:
        app.huey.storage.close()


def test_a_task_whose_outcome_could_not_be_stored_stores_it_when_redis_returns(
        restartable_redis, hueyd_proc, tmp_path):
    """Redis goes away while two tasks run: they finish but cannot store their results
    or ack. When Redis is back their outcomes are stored and acknowledged: they do not
    run again, nor stay in flight."""
    server = restartable_redis
    app = App(tmp_path / "unsettled", server.url, "unsettled")
    try:
        hueyd_proc(app, "tasksapp.huey", "-k", "thread", "-w", "2", "-n", "-c", "1")
        results = [app.tasks.slow(1.0, f"t{n}") for n in range(2)]
        wait_for(lambda: all(app.marks(f"t{n}") for n in range(2)), 15,
                 message="both tasks to start")
        server.stop()
        wait_for(lambda: all(len(app.marks(f"t{n}")) == 2 for n in range(2)), 10,
                 message="both tasks to finish during the outage")
        server.start()
        app.huey.storage.close()
        for result in results:
            assert result.get(blocking=True, timeout=15) == "finished"
        wait_for(lambda: hueyd_status(app)["in_flight"] == 0, 10, message="nothing in flight")
        assert [len(app.marks(f"t{n}")) for n in range(2)] == [2, 2]  # start, done: once
    finally:
        app.huey.storage.close()


# -- poison messages -----------------------------------------------------------------------

def malformed(n: int, good: bytes) -> bytes:
    """The n-th bad message: one of eight ways a message can be unusable."""
    envelope = pickle.loads(good)
    kinds = [
        lambda: os.urandom(40),                                       # noise
        lambda: b"",                                                  # nothing
        lambda: good[: len(good) // 2],                               # truncated
        lambda: pickle.dumps([1, 2, 3]),                              # not an envelope
        lambda: pickle.dumps({**envelope, "name": "tasksapp.gone"}),  # unknown task
        lambda: pickle.dumps({k: v for k, v in envelope.items() if k != "args"}),  # fields
        lambda: pickle.dumps({**envelope, "v": 99}),                  # another version
        lambda: b"\x80\x04cnosuchmodule\nthing\n.",                   # missing global
    ]
    return kinds[n % len(kinds)]()


def test_malformed_messages_become_dead_letters_and_nothing_restarts(make_app, hueyd_proc):
    app = make_app("redis", name="poison")
    huey = app.huey
    bad: list[bytes] = []
    for n in range(TASKS):
        good = huey.serialize_task(app.tasks.add.s(n, n))
        huey.storage.enqueue(good)
        bad.append(malformed(n, good))
        huey.storage.enqueue(bad[-1])
    started = time.time()
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", str(WORKERS), "-n",
                        "-c", "1")
    workers = wait_for(lambda: len(kids := daemon.children()) == WORKERS + 1 and kids, 10,
                       message="the scheduler and the workers")
    wait_for(lambda: huey.storage.dead_letter_count() == TASKS and finished(app) == TASKS, 60,
             message=lambda: f"every message handled: {huey.storage.dead_letter_count()} dead "
             f"letters, {finished(app)} finished, {huey.storage.queue_size()} queued, "
             f"daemon output tail {daemon.output[-2000:]!r}")
    assert huey.storage.queue_size() == 0
    letters = huey.storage.dead_letters()
    assert Counter(d.data for d in letters) == Counter(bad)
    assert all(d.reason and started - 1 <= d.timestamp <= time.time() for d in letters)
    reasons = Counter(d.reason.split(":")[0].split(" '")[0] for d in letters)
    print(f"\n{TASKS} good + {TASKS} bad: reasons {dict(reasons)}")
    assert reasons["unknown task"] == TASKS // 8
    assert daemon.running() and daemon.children() == workers  # nothing was replaced
    assert "restarting" not in daemon.output and " died" not in daemon.output

    report = hueyd_status(app)
    assert (report["dead_letters"], report["in_flight"], report["queued"]) == (TASKS, 0, 0)
    assert report["consumers_alive"] == 1

    # requeued, they are refused again, one by one, by the same workers
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}"}
    cli = [*HUEYD, "dead-letter"]
    done = subprocess.run([*cli, "requeue", "tasksapp.huey", "--limit", "100"], cwd=app.dir,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "100 dead letter(s)" in done.stdout, done.stderr
    wait_for(lambda: huey.storage.dead_letter_count() == TASKS, 30,
             message="the requeued letters to be dead-lettered again")
    listed = subprocess.run([*cli, "list", "tasksapp.huey", "--limit", "2"], cwd=app.dir,
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.startswith(f"2 of {TASKS} dead letter(s)")
    purged = subprocess.run([*cli, "purge", "tasksapp.huey"], cwd=app.dir, env=env,
                            capture_output=True, text=True, timeout=60)
    assert purged.returncode == 0 and huey.storage.dead_letter_count() == 0
    assert daemon.children() == workers


# -- a task that kills its whole daemon ------------------------------------------------------

CRASH_APP = '''"""tasksapp plus a task that kills the process running it (thread workers: the daemon)."""
import os
import signal

from tasksapp import huey, mark


@huey.task()
def crash():
    mark("crash")
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_task_that_keeps_killing_its_daemon_is_set_aside(make_app, hueyd_proc):
    """Thread workers run in the daemon's process: a task that kills it (a segfault, the
    OOM killer) comes back after each restart, five deaths at most, then it is a dead
    letter and the queue behind it drains. One worker: with more, the tasks that happen
    to run beside it die with it and are counted too (storage cannot tell them apart)."""
    app = make_app("redis", name="crash")
    (app.dir / "crashapp.py").write_text(CRASH_APP)

    def crash():  # the same task, registered here under the daemon's name for it
        pass

    crash.__module__, crash.__qualname__ = "crashapp", "crash"
    app.huey.task()(crash)()
    enqueue_many(app, count=20)
    starts = 0
    while not app.huey.storage.dead_letter_count():  # the operator (systemd) restarts it
        assert starts < 8, "the crashing task was never set aside"
        daemon = hueyd_proc(app, "crashapp.huey", "-k", "thread", "-w", "1", "-n", "-c", "1")
        starts += 1
        wait_for(lambda daemon=daemon: not daemon.running()
                 or app.huey.storage.dead_letter_count(), 30,
                 message="a crash, or the task set aside")
        if not daemon.running():
            kill_group(daemon)
    assert daemon.running()
    (letter,) = app.huey.storage.dead_letters()
    print(f"\ncrashing task: {len(app.marks('crash'))} runs, {starts} daemon starts, "
          f"then a dead letter: {letter.reason!r}")
    assert letter.reason == "killed its consumer 5 times"
    assert len(app.marks("crash")) == 5 and starts == 6
    wait_for(lambda: finished(app) == 20, 30, message="the tasks behind it")
