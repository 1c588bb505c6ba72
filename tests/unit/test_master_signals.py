"""The master's signal handling, one handler at a time (no real signals needed for the
state changes): each ``handle_<sig>`` moves the master to the expected phase, and the
installed POSIX handlers only record. A reload's check is a real child process."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile

import pytest

import hueyd
from hueyd.daemon import logs
from hueyd.daemon.config import load_config
from hueyd.daemon.master import Master, Phase
from hueyd.daemon.notify import Notifier
from hueyd.daemon.wakeup import MASTER_SIGNALS, SignalWakeup
from tests.helpers import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_master(tmp_path, runtime_folder=None, **settings):
    huey = hueyd.MemoryHuey("signals")
    path = settings.pop("config_path", None)
    overrides = {"workers": 2, "worker_type": "thread", "shutdown_timeout": 30.0, **settings}
    if path is None:
        overrides.setdefault("app", "tests.unit.test_master_signals.huey")
    config = load_config(path, overrides)
    clock = Clock()
    master = Master(config, huey, Notifier.from_environ({}), clock=clock,
                    runtime_folder=runtime_folder)
    return master, clock


def settle(master, clock, phase=Phase.CHECKING, timeout=30.0):
    """Step the loop (real time passes, the fake clock stands) until it leaves ``phase``."""
    def left():
        master.step(clock())
        return master.phase is not phase
    wait_for(left, timeout, message=lambda: f"the master to leave {phase} "
             f"(it is {master.phase})")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not been reaped."""
    return os.path.exists(f"/proc/{pid}")


@pytest.fixture
def running(tmp_path):
    """A master whose consumer runs (thread workers on a MemoryHuey)."""
    master, clock = make_master(tmp_path)
    master.step(clock())
    assert master.phase is Phase.RUNNING
    yield master, clock
    master.consumer.stop()


def test_every_signal_has_one_documented_handler():
    master, _ = make_master(None)
    handlers = master.handlers
    assert set(handlers) >= {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1}
    for signum, handler in handlers.items():
        name = signal.Signals(signum).name.lower().replace("sig", "handle_")
        assert handler.__name__ == name and handler.__doc__.strip()


def test_sigint_drains_then_a_second_sigint_interrupts(running):
    master, clock = running
    master.handle_int()
    assert master.phase is Phase.DRAINING and not master.then_reexec
    assert master.deadline == clock() + 30.0
    assert all(m.role.stop_flag.is_set() for m in master.consumer.members)
    master.handle_int()
    assert master.phase is Phase.STOPPING


def test_sigterm_stops_at_once(running):
    master, _ = running
    master.handle_term()
    assert master.phase is Phase.STOPPING and master.consumer.stopping


def test_sigterm_while_draining_escalates(running):
    master, _ = running
    master.handle_int()
    master.handle_term()
    assert master.phase is Phase.STOPPING


def test_the_drain_ends_when_every_role_has_stopped(running):
    master, clock = running
    master.handle_int()
    master.consumer.stop()  # the roles exit (what the loop waits for)
    master.step(clock())
    assert master.phase is Phase.STOPPED and master.exit_code == 0


def test_the_shutdown_timeout_interrupts(running):
    master, clock = running
    master.handle_int()
    clock.now += 31
    master.step(clock())
    assert master.phase in (Phase.STOPPING, Phase.STOPPED)


def test_sighup_checks_in_a_child_while_the_workers_run_then_reloads(running):
    master, clock = running
    master.handle_hup()
    child = master.reloads.check.pid
    assert master.phase is Phase.CHECKING and child != os.getpid() and alive(child)
    assert not any(m.role.stop_flag.is_set() for m in master.consumer.members)
    settle(master, clock)
    assert master.phase is Phase.RELOADING and master.then_reexec
    assert not alive(child)  # reaped
    master.handle_int()  # a stop request wins over the reload
    assert master.phase is Phase.DRAINING and not master.then_reexec


@pytest.fixture
def with_yaml(tmp_path):
    """``with_yaml(text)``: a master started from a YAML file, then given ``text`` in it."""
    path = tmp_path / "hueyd.yaml"
    made = []

    def make(text="", **kwargs):
        path.write_text(f"app: tests.unit.test_master_signals.huey\n{text}")
        made.append(make_master(tmp_path, config_path=str(path), **kwargs))
        made[-1][0].step(made[-1][1]())
        return (*made[-1], path)

    yield make
    for master, _ in made:
        master.reloads.cancel("test over")
        master.consumer.stop()


def test_sighup_with_an_invalid_yaml_keeps_running(with_yaml):
    master, clock, config = with_yaml("workers: 1\n")
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: lots\n")
    master.handle_hup()
    settle(master, clock)
    assert master.phase is Phase.RUNNING and not master.then_reexec
    assert "workers" in master.reloads.refused
    assert f"reload refused: hueyd: {config}" not in master.status_text  # one prefix
    assert f"reload refused: {config}:" in master.status_text
    assert not any(m.role.stop_flag.is_set() for m in master.consumer.members)
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: 3\n")
    master.handle_hup()
    master.step(clock())
    assert master.reloads.refused is None and "refused" not in master.status_text
    assert master.status_text.startswith("reload check, ")
    settle(master, clock)
    assert master.phase is Phase.RELOADING


def test_sighup_with_an_app_that_raises_on_import_keeps_running(with_yaml, tmp_path):
    master, clock, config = with_yaml()
    (tmp_path / "deployed.py").write_text("raise RuntimeError('a bad deploy')\n")
    config.write_text(f"app: deployed.huey\npythonpath: [{tmp_path}]\n")
    master.handle_hup()
    settle(master, clock)
    assert master.phase is Phase.RUNNING
    assert "RuntimeError: a bad deploy" in master.reloads.refused, master.reloads.refused


def test_a_check_past_its_time_limit_is_killed(with_yaml, tmp_path):
    master, clock, config = with_yaml("startup_timeout: 5\n")
    (tmp_path / "hanging.py").write_text("import time\ntime.sleep(120)\n")
    config.write_text(f"app: hanging.huey\npythonpath: [{tmp_path}]\n")
    master.handle_hup()
    child = master.reloads.check.pid
    master.step(clock())
    assert master.phase is Phase.CHECKING and alive(child)
    clock.now += 5  # the limit is the old configuration's startup_timeout
    master.step(clock())
    assert master.phase is Phase.RUNNING and not alive(child)
    assert "did not finish within 5s" in master.reloads.refused


def test_sigint_during_the_check_kills_it_and_drains(running):
    master, clock = running
    master.handle_hup()
    child = master.reloads.check.pid
    master.handle_int()
    assert master.phase is Phase.DRAINING and not master.then_reexec
    assert not master.reloads.checking and not alive(child)


def test_sighup_during_the_check_checks_the_newest_files(with_yaml):
    master, clock, config = with_yaml()
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: lots\n")
    master.handle_hup()
    first = master.reloads.check.pid
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: 3\n")
    master.handle_hup()
    assert not alive(first) and master.reloads.check.pid != first
    settle(master, clock)
    assert master.phase is Phase.RELOADING


def test_sighup_during_the_drain_is_checked_before_the_exec(with_yaml, monkeypatch):
    master, clock, config = with_yaml("workers: 1\n")
    execs = []
    monkeypatch.setattr(master, "_reexec", lambda: execs.append(master.phase))
    old_consumer = master.consumer
    master.handle_hup()
    settle(master, clock)
    assert master.phase is Phase.RELOADING
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: lots\n")
    master.handle_hup()  # the drain goes on; the exec waits for this check
    settle(master, clock, Phase.RELOADING)
    assert execs == [] and master.phase is Phase.RUNNING and "workers" in master.reloads.refused
    assert master.consumer is not old_consumer
    assert len(master.consumer.alive) == master.config.workers + 1  # and the scheduler
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: 2\n")
    master.handle_hup()
    settle(master, clock)
    assert master.phase is Phase.RELOADING
    master.handle_hup()
    settle(master, clock, Phase.RELOADING)
    assert execs == [Phase.RELOADING] and master.phase is Phase.STOPPED


@pytest.fixture
def reload_client():
    """A socket where ``hueyd reload`` waits, in a short runtime folder (sun_path: 108)."""
    folder = tempfile.mkdtemp(prefix="hueyd-rt-")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(folder, "reload-1.sock"))
    sock.settimeout(10)
    yield folder, sock
    sock.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("text, answer", [("workers: 2\n", b"accepted"),
                                          ("workers: lots\n", b"refused: ")])
def test_waiting_reload_clients_get_the_verdict(with_yaml, reload_client, text, answer):
    folder, sock = reload_client
    master, clock, config = with_yaml(runtime_folder=folder)
    config.write_text(f"app: tests.unit.test_master_signals.huey\n{text}")
    master.handle_hup()
    settle(master, clock)
    assert sock.recv(4096).startswith(answer)


def test_a_reload_client_is_answered_while_starting(tmp_path, reload_client):
    folder, sock = reload_client
    master, _ = make_master(tmp_path, runtime_folder=folder)
    master.handle_hup()
    assert master.phase is Phase.STARTING
    assert sock.recv(4096) == b"refused: hueyd is starting"


def test_signals_before_the_consumer_started(tmp_path):
    master, _ = make_master(tmp_path)
    master.handle_hup()
    master.handle_usr1()
    assert master.phase is Phase.STARTING
    master.handle_int()
    assert master.phase is Phase.STOPPED


def test_sigusr1_reopens_log_files_and_changes_nothing_else(running, tmp_path):
    master, _ = running
    log = tmp_path / "hueyd.log"
    logs.setup("INFO", str(log))
    try:
        os.rename(log, tmp_path / "hueyd.log.1")
        master.handle_usr1()
        assert master.phase is Phase.RUNNING
        assert "log files reopened" in log.read_text()
    finally:
        logs.setup("INFO", None)


def test_posix_handlers_only_record():
    wakeup = SignalWakeup([signal.SIGUSR1, signal.SIGUSR2])
    wakeup.install()
    try:
        assert signal.getsignal(signal.SIGUSR1) == wakeup.record
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
        wakeup.wait(5)  # returns at once: the self-pipe was written
        assert wakeup.take() == [signal.SIGUSR2, signal.SIGUSR1]
        assert wakeup.take() == []
    finally:
        wakeup.uninstall()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_the_master_installs_recorders_for_every_handled_signal(running):
    master, _ = running
    master.wakeup.install()
    try:
        assert set(master.wakeup.signals) == set(master.handlers) - {signal.SIGCHLD}
        for signum in master.wakeup.signals:
            assert signal.getsignal(signum) == master.wakeup.record
        master.wakeup.record(signal.SIGTERM)  # what the handler does: nothing but record
        assert master.phase is Phase.RUNNING
        assert master.wakeup.take() == [signal.SIGTERM]
    finally:
        master.wakeup.uninstall()


huey = hueyd.MemoryHuey("signals-app")


def test_sighup_validates_with_the_command_line_options_too(tmp_path):
    """`hueyd run APP --config F` where F has no `app:`: the reload must not be refused
    for a key that the command line gives."""
    config = tmp_path / "hueyd.yaml"
    config.write_text("workers: 1\n")
    options = ["tests.unit.test_master_signals.huey", "--config", str(config)]
    master = Master(load_config(str(config), {"app": options[0]}), hueyd.MemoryHuey("signals"),
                    Notifier.from_environ({}), clock=Clock(), run_options=options)
    master.step(master.clock())
    try:
        master.handle_hup()
        settle(master, master.clock)
        assert master.phase is Phase.RELOADING and master.then_reexec
    finally:
        master.consumer.stop()


def test_install_releases_every_signal_held_at_start_or_across_an_exec():
    """hueyd/__main__.py holds SIGHUP and SIGUSR1 from the first instant; a re-exec holds
    all of MASTER_SIGNALS. Whatever the new image handles, install() releases them all."""
    import hueyd.__main__ as entry

    assert set(entry.HELD_AT_START) <= MASTER_SIGNALS
    before = signal.pthread_sigmask(signal.SIG_BLOCK, MASTER_SIGNALS)
    wakeup = SignalWakeup([signal.SIGUSR1])  # handles fewer than were held
    try:
        wakeup.install()
        assert not MASTER_SIGNALS & signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        wakeup.uninstall()
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
