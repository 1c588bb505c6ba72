"""sd_notify against a real NOTIFY_SOCKET: READY/RELOADING/STOPPING in order, the
watchdog gated on health, and workers that never see systemd's variables."""
from __future__ import annotations

import os
import signal
import time

from tests.helpers import free_port, wait_for
from tests.integration.conftest import outcome, write_config

WATCHDOG_USEC = 1_000_000  # pings due at least every 0.5 s
#: the slack allowed on top of half a watchdog period (a loop iteration, a busy CI machine)
SLACK = 0.3


def notify_env(listener, watchdog: bool = False) -> dict[str, str]:
    env = {"NOTIFY_SOCKET": listener.path}
    if watchdog:
        env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    return env


def longest_gap(pings: list[float], start: float, end: float) -> float:
    inside = [start] + [t for t in pings if start < t < end] + [end]
    return max(b - a for a, b in zip(inside, inside[1:]))


def in_order(keys: list[str], expected: list[str]) -> bool:
    """``expected`` occurs in ``keys`` as a subsequence."""
    remaining = iter(keys)
    return all(key in remaining for key in expected)


def test_ready_reloading_ready_stopping_in_order(make_app, hueyd_proc, notify_socket):
    app, listener = make_app("redis"), notify_socket()
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "1", "-n", "-c", "1",
                        env=notify_env(listener), watchdog_pid=True)
    listener.wait_for_key("READY")
    asked = time.monotonic()
    assert app.tasks.add(1, 2).get(blocking=True, timeout=10) == 3  # READY meant ready
    assert time.monotonic() - asked < 2
    first_ready = listener.messages[listener.wait_for_key("READY")][1]
    assert "1 process worker" in first_ready.get("STATUS", ""), first_ready
    daemon.signal(signal.SIGHUP)
    reloading = listener.wait_for_key("RELOADING")
    usec = int(listener.messages[reloading][1]["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 10
    listener.wait_for_key("READY", timeout=15, after=1)  # sent by the re-executed image
    where = app.tasks.whoami().get(blocking=True, timeout=10)
    assert where["ppid"] == daemon.pid
    assert where["env"] == {"NOTIFY_SOCKET": None, "WATCHDOG_USEC": None, "WATCHDOG_PID": None}
    daemon.signal(signal.SIGINT)
    assert daemon.wait(15) == 0
    listener.wait_for_key("STOPPING")
    assert in_order(listener.keys(), ["READY", "RELOADING", "MONOTONIC_USEC", "READY",
                                      "STOPPING"]), listener.keys()


def test_an_invalid_yaml_on_sighup_is_refused_and_the_daemon_keeps_running(
        make_app, hueyd_proc, notify_socket):
    app, listener = make_app("sqlite"), notify_socket()
    config = write_config(app, workers=1)
    daemon = hueyd_proc(app, "--config", config, "-n", "-m", "0.2", env=notify_env(listener))
    listener.wait_for_key("READY")
    (app.dir / "hueyd.yaml").write_text("app: tasksapp.huey\nworkers: many\n")
    daemon.signal(signal.SIGHUP)
    listener.wait_for_key("RELOADING")
    ready = listener.wait_for_key("READY", after=1)
    assert "refused" in listener.messages[ready][1].get("STATUS", "")
    assert "workers" in listener.messages[ready][1]["STATUS"]  # names the bad key
    assert app.tasks.add(2, 2).get(blocking=True, timeout=10) == 4
    assert daemon.running() and "re-executing" not in daemon.output


def test_no_ready_when_the_storage_never_answers(make_app, hueyd_proc, notify_socket):
    app, listener = make_app("sqlite"), notify_socket()
    app.env["HUEYD_TEST_STORAGE"] = f"redis://127.0.0.1:{free_port()}/0"
    daemon = hueyd_proc(app, "--config", write_config(app, startup_timeout=1),
                        env=notify_env(listener))
    assert daemon.wait(15) == 69
    assert "READY" not in listener.keys()


def test_watchdog_pings_only_while_every_worker_is_healthy(make_app, hueyd_proc,
                                                            notify_socket):
    thread_app, thread_socket = make_app("redis", "thread"), notify_socket()
    process_app, process_socket = make_app("redis", "process"), notify_socket()
    hueyd_proc(thread_app, "--config", write_config(thread_app, task_timeout=1),
               "-k", "thread", "-w", "1", "-n", "-c", "1",
               env=notify_env(thread_socket, watchdog=True), watchdog_pid=True)
    hueyd_proc(process_app, "--config", write_config(process_app, task_timeout=1),
               "-k", "process", "-w", "1", "-n", "-c", "1",
               env=notify_env(process_socket, watchdog=True), watchdog_pid=True)
    for listener in (thread_socket, process_socket):
        listener.wait_for_key("READY")
    healthy_from = time.monotonic()
    wait_for(lambda: time.monotonic() - healthy_from > 2, 5, message="two seconds of pings")
    for listener in (thread_socket, process_socket):
        gap = longest_gap(listener.pings(), healthy_from, time.monotonic())
        assert gap <= WATCHDOG_USEC / 2e6 + SLACK, gap

    # a thread stuck past task_timeout (+1 s grace) cannot be replaced: pings stop,
    # STATUS names the worker and the task; they resume when the task ends
    stuck = thread_app.tasks.slow(4, "slow")
    # a process worker stuck where SIGALRM cannot reach: killed, replaced, pings resume
    hang = process_app.tasks.hang_once("hang", 60)
    wait_for(lambda: thread_app.marks("slow"), 10, message="the slow task to start")
    assert stuck.get(blocking=True, timeout=15) == "finished"
    ended = time.monotonic()
    pings = thread_socket.pings()
    # stuck from 1 s into the task to its end at 4 s: about 3 s without a ping, where
    # pings every 0.5 s (WATCHDOG_USEC / 2) would leave gaps of 1 s at most
    assert longest_gap(pings, ended - 3.5, ended) > 2.0  # silent while stuck
    wait_for(lambda: [t for t in thread_socket.pings() if t > ended + 0.1], 5,
             message="pings after the stuck task ended")
    statuses = [f.get("STATUS", "") for _, f in thread_socket.messages]
    assert any("Worker-1 stuck in slow" in s for s in statuses), statuses

    wait_for(lambda: outcome(hang) == "second run", 15, message="the retry of hang_once")
    replaced = time.monotonic()
    wait_for(lambda: time.monotonic() - replaced > 1.5, 5, message="pings after replacement")
    assert longest_gap(process_socket.pings(), replaced, time.monotonic()) \
        <= WATCHDOG_USEC / 2e6 + SLACK
    where = process_app.tasks.whoami().get(blocking=True, timeout=10)
    assert where["env"] == {"NOTIFY_SOCKET": None, "WATCHDOG_USEC": None, "WATCHDOG_PID": None}
    assert thread_app.tasks.whoami().get(blocking=True, timeout=10)["env"] == where["env"]


def test_ready_only_once_every_worker_process_exists(make_app, hueyd_proc, notify_socket):
    app, listener = make_app("redis"), notify_socket()
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "8", "-n",
                        env=notify_env(listener))
    listener.wait_for_key("READY", timeout=20)
    # read at once: the scheduler and all 8 workers were forked before READY was sent
    assert len(daemon.children()) == 9, daemon.children()


def test_a_dead_worker_under_disabled_health_checks_stops_the_watchdog(make_app, hueyd_proc,
                                                                        notify_socket):
    app, listener = make_app("redis"), notify_socket()
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "2", "-n", "-C",
                        env=notify_env(listener, watchdog=True), watchdog_pid=True)
    listener.wait_for_key("READY")
    wait_for(lambda: len(daemon.children()) == 3, 10, message="scheduler and two workers")
    where = app.tasks.whoami().get(blocking=True, timeout=10)
    os.kill(where["pid"], signal.SIGKILL)  # nobody replaces it under -C
    killed = time.monotonic()
    wait_for(lambda: time.monotonic() - killed > 2.5, 5, message="time without the worker")
    # pings are due every 0.5 s while healthy; the dead worker must silence them
    assert longest_gap(listener.pings(), killed + 0.5, time.monotonic()) > 1.5, \
        listener.pings()
    statuses = [f.get("STATUS", "") for _, f in listener.messages]
    assert any("dead" in s for s in statuses), statuses
    assert daemon.running()
