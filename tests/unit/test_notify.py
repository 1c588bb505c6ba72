"""The sd_notify client over real AF_UNIX datagram sockets, path and abstract."""
from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
import uuid

import pytest

from hueyd.daemon import notify
from hueyd.daemon.notify import Notifier
from hueyd.ratelog import RateLimitedLog


class Listener:
    """systemd's end: a bound datagram socket (a file path, or abstract with '@')."""

    def __init__(self, abstract: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="hueyd-nt-")  # short: sun_path is 108 bytes
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"hueyd-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(5)

    def receive(self) -> bytes:
        return self.sock.recv(65536)

    def pending(self) -> list[bytes]:
        """Every datagram already queued, without waiting."""
        found = []
        self.sock.setblocking(False)
        try:
            while True:
                found.append(self.sock.recv(65536))
        except BlockingIOError:
            return found
        finally:
            self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["path", "abstract"])
def listener(request):
    made = Listener(abstract=request.param == "abstract")
    yield made
    made.close()


def fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode("utf-8").split("\n"))


def test_send_delivers_one_datagram(listener):
    assert notify.send("READY=1\nSTATUS=up", listener.address) is True
    assert listener.receive() == b"READY=1\nSTATUS=up"


def test_a_non_ascii_status_arrives_as_utf8_with_ready(listener):
    notifier = Notifier(listener.address)
    assert notifier.ready(status="blög ✓: 2 thread workers")
    datagram = listener.receive()
    assert datagram == "READY=1\nSTATUS=blög ✓: 2 thread workers".encode()


def test_each_message(listener):
    notifier = Notifier(listener.address)
    notifier.ready()
    notifier.status("draining\nstill running")  # a newline would start a new field
    notifier.reloading()
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.stopping()
    assert listener.receive() == b"READY=1"
    assert listener.receive() == b"STATUS=draining still running"
    reloading = listener.receive().decode()
    assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert 0 <= now_usec - int(fields(reloading.encode())["MONOTONIC_USEC"]) < 5_000_000
    assert listener.receive() == b"STOPPING=1"


def test_from_environ_takes_the_variables_away(listener):
    environ = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "4000000",
               "WATCHDOG_PID": str(os.getpid()), "PATH": "/usr/bin"}
    notifier = Notifier.from_environ(environ)
    assert environ == {"PATH": "/usr/bin"}
    assert notifier.enabled and notifier.watchdog_interval == 2.0


@pytest.mark.parametrize("pid,interval", [(None, 0.5), ("own", 0.5), (1, None)])
def test_the_watchdog_is_ours_only_if_watchdog_pid_is_unset_or_ours(listener, pid, interval):
    environ = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "1000000"}
    if pid is not None:
        environ["WATCHDOG_PID"] = str(os.getpid() if pid == "own" else pid)
    notifier = Notifier.from_environ(environ)
    assert notifier.watchdog_interval == interval
    assert notifier.watchdog(100.0) is (interval is not None)


@pytest.mark.parametrize("usec", ["", "0", "soon", "-5"])
def test_a_useless_watchdog_usec_means_no_watchdog(listener, usec):
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": listener.address,
                                      "WATCHDOG_USEC": usec})
    assert notifier.watchdog_interval is None and not notifier.watchdog(1.0)


def test_watchdog_pings_at_most_once_per_interval(listener):
    notifier = Notifier(listener.address, watchdog_usec=1_000_000)  # a ping every 0.5 s
    sent = [now for now in (10.0, 10.2, 10.49, 10.5, 10.6, 11.1) if notifier.watchdog(now)]
    assert sent == [10.0, 10.5, 11.1]
    assert listener.pending() == [b"WATCHDOG=1"] * 3


def test_without_a_socket_everything_is_a_no_op():
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled and notifier.watchdog_interval is None
    assert not any([notifier.ready("x"), notifier.status("x"), notifier.reloading(),
                    notifier.stopping(), notifier.watchdog(1.0)])


def test_failures_are_logged_rate_limited_never_raised(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(notify, "_failures", RateLimitedLog(notify.logger, interval=3600,
                                                            level=logging.WARNING))
    gone = str(tmp_path / "no-such-socket")
    with caplog.at_level(logging.WARNING, logger="hueyd.notify"):
        assert notify.send("READY=1", gone) is False
        assert notify.send("STATUS=x", gone) is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "hueyd.notify"]
    assert len(warnings) == 1 and gone in warnings[0], warnings


def test_the_next_report_counts_the_unlogged_failures(tmp_path, caplog, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(notify, "_failures", RateLimitedLog(
        notify.logger, interval=60, clock=lambda: now[0], level=logging.WARNING))
    gone = str(tmp_path / "no-such-socket")
    with caplog.at_level(logging.WARNING, logger="hueyd.notify"):
        for _ in range(5):
            notify.send("WATCHDOG=1", gone)
        now[0] = 61.0
        notify.send("WATCHDOG=1", gone)
    lines = [r.getMessage() for r in caplog.records if r.name == "hueyd.notify"]
    assert len(lines) == 2 and "4 more like it" in lines[-1], lines
