"""Shared test helpers: bounded waits, free ports, a private redis-server.

Every wait has a deadline; every process started here is stopped by PID.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: the project's root (a clone of the repository)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def must_run() -> bool:
    """In CI, or as root (where scripts/test installs every tool), nothing may be skipped
    for want of a tool or a capability: a broken harness must fail, not hide."""
    return bool(os.environ.get("CI")) or os.geteuid() == 0


def unavailable(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; fail with it where ``must_run()``."""
    import pytest
    if must_run():
        pytest.fail(f"{reason} (not skipped: CI is set or the suite runs as root)",
                    pytrace=False)
    pytest.skip(reason)


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02,
             message: str | Callable[[], str] = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds.

    ``message`` may be a callable, so a timeout can report the state it found."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc: subprocess.Popen, signum: int = signal.SIGTERM,
              timeout: float = 10) -> None:
    """Send ``signum`` to a process this suite started; SIGKILL it if it is still there
    after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signum)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class RedisServer:
    """A redis-server of the suite's own, on a free loopback port (never 6379); with
    ``password``, one that requires it (``requirepass``). It has an RDB save point (an
    hour away: nothing is written during a test), so hueyd does not warn that it has
    no persistence."""

    def __init__(self, port: int | None = None, password: str | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.password = password
        self.extra = extra  # more redis-server options (--replicaof HOST PORT, ...)
        self.dir = tempfile.mkdtemp(prefix="hueyd-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "3600 1",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log"),
             *(["--requirepass", self.password] if self.password else []), *self.extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, timeout, message=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                auth = f"AUTH {self.password}\r\n".encode() if self.password else b""
                s.sendall(auth + b"PING\r\n")
                expected, reply = (b"+OK\r\n+PONG" if auth else b"+PONG"), b""
                while len(reply) < len(expected) and (chunk := s.recv(64)):
                    reply += chunk
                return reply.startswith(expected)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
