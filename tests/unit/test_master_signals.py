"""The master's signal handling, one handler at a time (no real signals needed for the
state changes): each ``handle_<sig>`` moves the master to the expected phase, and the
installed POSIX handlers only record."""
from __future__ import annotations

import os
import signal

import pytest

import hueyd
from hueyd.daemon import logs
from hueyd.daemon.config import load_config
from hueyd.daemon.master import Master, Phase
from hueyd.daemon.notify import Notifier
from hueyd.daemon.wakeup import SignalWakeup


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_master(tmp_path, **settings):
    huey = hueyd.MemoryHuey("signals")
    overrides = {"app": "tests.unit.test_master_signals.huey", "workers": 2,
                 "worker_type": "thread", "shutdown_timeout": 30.0, **settings}
    config = load_config(settings.pop("config_path", None), overrides)
    clock = Clock()
    master = Master(config, huey, Notifier.from_environ({}), clock=clock)
    return master, clock


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


def test_sighup_reloads(running):
    master, _ = running
    master.handle_hup()
    assert master.phase is Phase.RELOADING and master.then_reexec
    master.handle_int()  # a stop request wins over the reload
    assert master.phase is Phase.DRAINING and not master.then_reexec


def test_sighup_with_an_invalid_yaml_keeps_running(tmp_path):
    config = tmp_path / "hueyd.yaml"
    config.write_text("app: tests.unit.test_master_signals.huey\nworkers: 1\n")
    master, clock = make_master(tmp_path, config_path=str(config))
    master.step(clock())
    try:
        config.write_text("app: tests.unit.test_master_signals.huey\nworkers: lots\n")
        master.handle_hup()
        assert master.phase is Phase.RUNNING and not master.then_reexec
        config.write_text("app: tests.unit.test_master_signals.huey\nworkers: 3\n")
        master.handle_hup()
        assert master.phase is Phase.RELOADING
    finally:
        master.consumer.stop()


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
    cli_options = {"app": "tests.unit.test_master_signals.huey"}
    reread = lambda: load_config(str(config), cli_options)  # noqa: E731 (as hueyd.cli does)
    master = Master(reread(), hueyd.MemoryHuey("signals"), Notifier.from_environ({}),
                    clock=Clock(), reread=reread)
    master.step(master.clock())
    try:
        master.handle_hup()
        assert master.phase is Phase.RELOADING and master.then_reexec
    finally:
        master.consumer.stop()
