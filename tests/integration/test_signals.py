"""Operator signals on a real daemon, every worker type at once (README §2).

SIGINT: running tasks finish, then exit 0. SIGTERM: running tasks interrupted
and handed back, exit 0 promptly. SIGHUP: running tasks finish, the master
re-executes in place (same PID) and loads changed code. SIGUSR1/SIGHUP: log
files reopened by the master and by process workers.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import WORKER_TYPES, processes, write_config

FAST = ("-c", "1", "-m", "0.2", "-n")


def start_all(make_app, hueyd_proc, kind="redis", *args):
    """One app + daemon per worker type, all started before anything waits."""
    started = []
    for worker_type in WORKER_TYPES:
        app = make_app(kind, name=worker_type)
        started.append((worker_type, app, hueyd_proc(app, "tasksapp.huey", "-k", worker_type,
                                                     *FAST, *args)))
    return started


def wait_started(app, marker: str, count: int = 1) -> None:
    wait_for(lambda: len([m for m in app.marks(marker) if m[2] == "start"]) >= count, 15,
             message=f"{marker} to start")


def test_sigint_lets_running_tasks_finish_then_exits_0(make_app, hueyd_proc):
    runs = []
    for worker_type, app, daemon in start_all(make_app, hueyd_proc, "redis", "-w", "1"):
        runs.append((worker_type, app, daemon, app.tasks.slow(1.5, "slow"), app.tasks.add(1, 2)))
    for _worker_type, app, daemon, *_ in runs:
        wait_started(app, "slow")
        daemon.signal(signal.SIGINT)
    for worker_type, app, daemon, slow, _queued in runs:
        assert daemon.wait(15) == 0, (worker_type, daemon.output)
        assert [m[2] for m in app.marks("slow")] == ["start", "done"], worker_type
        assert slow.get(preserve=True) == "finished", worker_type
        # no new task was started after SIGINT: the queued one waits for the next run
        assert [t.name for t in app.huey.pending()] == ["add"], worker_type
        assert daemon.children() == [], worker_type


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_sigint_hands_back_what_outlives_shutdown_timeout(make_app, hueyd_proc, kind):
    app = make_app(kind)
    daemon = hueyd_proc(app, "--config", write_config(app, shutdown_timeout=1), "-k",
                        "process", "-w", "1", *FAST)
    slow = app.tasks.slow(60, "slow")
    wait_started(app, "slow")
    daemon.signal(signal.SIGINT)
    assert daemon.wait(15) == 0, daemon.output
    assert [m[2] for m in app.marks("slow")] == ["start"]  # interrupted at the timeout
    assert [t.id for t in app.huey.pending()] == [slow.id]  # and back in the queue
    assert "shutdown timeout" in daemon.output
    # nothing of the daemon's process group is left running the task
    assert [pid for pid, state, _, group in processes()
            if group == daemon.pid and state != "Z"] == []


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_sigterm_interrupts_running_tasks_and_hands_them_back(make_app, hueyd_proc, kind):
    runs = [(t, app, daemon, app.tasks.slow(60, "slow"))
            for t, app, daemon in start_all(make_app, hueyd_proc, kind, "-w", "2")]
    for _worker_type, app, _daemon, _ in runs:
        wait_started(app, "slow")
    stopped = time.monotonic()
    for _worker_type, _app, daemon, _ in runs:
        daemon.signal(signal.SIGTERM)
    for worker_type, app, daemon, slow in runs:
        assert daemon.wait(10) == 0, (worker_type, daemon.output)
        assert [m[2] for m in app.marks("slow")] == ["start"], worker_type  # interrupted
        assert [t.id for t in app.huey.pending()] == [slow.id], worker_type  # back in the queue
        assert daemon.children() == [], worker_type
    assert time.monotonic() - stopped < 5  # promptly: nobody waited for the 60 s task


def test_sigterm_lets_a_thread_end_a_short_task_instead_of_running_it_twice(make_app,
                                                                            hueyd_proc):
    """A thread cannot be interrupted: a task that ends within ABANDON_AFTER of the
    SIGTERM is acknowledged by its thread, not also handed back to run again."""
    app = make_app("redis", name="term-short")
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "thread", "-w", "1", *FAST)
    short = app.tasks.slow(0.1, "short")
    wait_started(app, "short")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.output
    assert [m[2] for m in app.marks("short")] == ["start", "done"]
    assert short.get(preserve=True) == "finished"
    assert app.huey.pending() == [], daemon.output  # not handed back: it would run again
    assert "handed back" not in daemon.output


def test_sighup_finishes_tasks_then_reexecutes_in_place_with_new_code(make_app, hueyd_proc):
    runs = []
    for worker_type, app, daemon in start_all(make_app, hueyd_proc, "redis", "-w", "1"):
        assert app.tasks.version().get(blocking=True, timeout=15) == 1
        runs.append((worker_type, app, daemon, app.tasks.slow(1.5, "slow")))
    for _worker_type, app, daemon, _ in runs:
        wait_started(app, "slow")
        app.set_version(2)
        daemon.signal(signal.SIGHUP)
    for worker_type, app, daemon, slow in runs:
        assert slow.get(blocking=True, timeout=15) == "finished", worker_type
        assert [m[2] for m in app.marks("slow")] == ["start", "done"], worker_type
        daemon.wait_for_log("re-executing")
        assert app.tasks.version().get(blocking=True, timeout=15) == 2, daemon.output
        where = app.tasks.whoami().get(blocking=True, timeout=15)
        master = where["ppid"] if worker_type == "process" else where["pid"]
        assert master == daemon.pid and daemon.running(), worker_type


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGHUP])
def test_log_files_are_reopened_by_the_master_and_process_workers(make_app, hueyd_proc,
                                                                  tmp_path, signum):
    app = make_app("redis")
    log = tmp_path / "hueyd.log"
    config = write_config(app, logging=f"{{file: {log}, format: '%(process)d %(message)s'}}")
    daemon = hueyd_proc(app, "--config", config, "-k", "process", "-w", "2", *FAST)
    wait_for(lambda: len(daemon.children()) == 3, 10, message="scheduler and two workers")
    assert app.tasks.add(1, 1).get(blocking=True, timeout=15) == 2
    wait_for(lambda: log.exists() and "executing tasksapp.add" in log.read_text(), 10,
             message="the first log lines")
    os.rename(log, tmp_path / "hueyd.log.1")
    daemon.signal(signum)
    wait_for(log.exists, 10, message="a new log file at the old path")
    wait_for(lambda: "log files reopened" in log.read_text(), 10, message="master's line")
    workers = {pid for pid in daemon.children()} if signum == signal.SIGUSR1 else None

    def writers() -> set[int]:
        """The processes that wrote a task line into the new file."""
        return {int(line.split(" ", 1)[0]) for line in log.read_text().splitlines()
                if "executing tasksapp.slow" in line}

    def both_workers_wrote() -> bool:
        # two overlapping 0.3 s tasks: a busy worker leaves the second to the other one
        results = [app.tasks.slow(0.3, "after-reopen") for _ in range(2)]
        for result in results:
            result.get(blocking=True, timeout=15)
        return len(writers()) >= 2

    wait_for(both_workers_wrote, 30, message=lambda: f"both workers' lines in the new file "
             f"(writers so far: {writers()})")
    if workers is not None:  # SIGUSR1 restarts nothing: the same two processes reopened
        assert writers() <= workers, (writers(), workers)
    old = (tmp_path / "hueyd.log.1").read_text()
    assert "executing tasksapp.slow" not in old
    assert daemon.running()


#: when the early signal is sent, after the spawn (the brief's instants)
EARLY = (0.02, 0.05, 0.1, 0.2)


def disposition(pid: int, signum: int) -> set[str]:
    """What ``pid`` does with ``signum`` now, from /proc: {"held"} while it is blocked,
    {"handled"} once a handler is installed (both for an instant), neither by default."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    bit = 1 << (signum - 1)
    return {name for name, mask in (("held", "SigBlk"), ("handled", "SigCgt"))
            if int(fields[mask], 16) & bit}


def wait_until_safe(daemon, signum: int) -> None:
    """Until ``signum`` is held or handled. The interpreter's own start, before any
    hueyd code runs, is neither; after it the hold must come first: a daemon that
    goes straight to the handler left a window where the signal kills."""
    def safe() -> set[str]:
        seen = disposition(daemon.pid, signum) if daemon.running() else {"exited"}
        if not seen:
            default.append(True)
        assert not (default and seen == {"handled"}), \
            f"{signal.Signals(signum).name} handled by {daemon} without being held first"
        return seen
    default: list[bool] = []  # seen in the default disposition, where it kills
    wait_for(safe, 10, interval=0.001, message=f"{signal.Signals(signum).name} held")


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGUSR1])
def test_a_signal_in_the_first_instants_does_not_kill(make_app, hueyd_proc, signum):
    """SIGHUP (an operator) or SIGUSR1 (logrotate) right after the start: held until the
    master handles it (a reopen of the log files), never the default action (death).
    The interpreter's own start, before any hueyd code runs, cannot be covered: where
    an instant falls inside it, the signal goes once the hold is in place (hueyd run
    without the hold goes straight to its handler, and fails here)."""
    started = []
    for delay in EARLY:
        app = make_app("sqlite", name=f"early{int(delay * 1000)}")
        daemon = hueyd_proc(app, "tasksapp.huey", "-w", "1", *FAST)
        spawned = time.monotonic()
        time.sleep(max(0.0, spawned + delay - time.monotonic()))
        wait_until_safe(daemon, signum)
        daemon.signal(signum)
        started.append((app, daemon, time.monotonic() - spawned))
    name = signal.Signals(signum).name
    for app, daemon, sent in started:
        assert app.tasks.add(1, 2).get(blocking=True, timeout=30) == 3, \
            f"sent {sent * 1000:.0f} ms after the spawn: {daemon.proc.poll()}\n{daemon.output}"
        daemon.wait_for_log(f"received {name}")  # pending, then handled by the master
        daemon.signal(signal.SIGINT)
        assert daemon.wait(15) == 0, daemon.output


def mask_names(bits: int) -> set[str]:
    """The master's signals among the bits of a SigBlk mask."""
    from hueyd.daemon.wakeup import MASTER_SIGNALS
    return {signal.Signals(s).name for s in MASTER_SIGNALS if bits & (1 << (s - 1))}


def test_nothing_stays_blocked_after_a_start_or_a_reexec(make_app, hueyd_proc):
    """hueyd run holds SIGHUP and SIGUSR1 from its start, a re-exec holds every signal of
    the old image (SIGCHLD too, with process workers). Neither may outlive the handlers:
    not in the master, a worker, or a subprocess a task starts (it inherits the mask),
    even when the new image has thread workers and does not handle SIGCHLD itself."""
    app = make_app("redis")
    config = write_config(app, worker_type="process")
    daemon = hueyd_proc(app, "--config", config, *FAST)
    assert mask_names(app.tasks.blocked_signals().get(blocking=True, timeout=30)) == set()
    write_config(app, worker_type="thread")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("re-executing", timeout=30)
    wait_for(lambda: "1 thread worker(s), PID" in daemon.output, 30, message="thread workers")
    assert mask_names(app.tasks.blocked_signals().get(blocking=True, timeout=30)) == set()
    with open(f"/proc/{daemon.pid}/status") as f:
        master = dict(line.split(":", 1) for line in f if ":" in line)
    assert mask_names(int(master["SigBlk"], 16)) == set()
