"""Real daemons for the integration tests: ``python -m hueyd run`` under setsid.

- ``make_app(storage)``: a temporary application directory (tasksapp.py, its
  storage, a marker directory) plus the same app loaded in the test process;
- ``hueyd_proc(app, *args)``: starts ``hueyd run`` in that directory; every
  daemon is stopped at the end of the test (SIGTERM, then SIGKILL to its own
  process group: only processes the test started);
- ``notify_socket``: a NOTIFY_SOCKET datagram socket collecting messages.
Every wait has a deadline (tests.helpers.wait_for).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
APP_SOURCE = Path(__file__).with_name("tasks_app.py")
#: the command line under test; sys.executable is /usr/bin/python3 in the Debian pass
HUEYD = [sys.executable, "-m", "hueyd"]
WORKER_TYPES = ("thread", "process", "greenlet")


class App:
    """One application directory, and the same app loaded here to enqueue and read results."""

    def __init__(self, root: Path, storage: str, name: str = "itest") -> None:
        self.dir = root / "app"
        self.out = root / "out"
        self.dir.mkdir(parents=True)
        self.out.mkdir()
        shutil.copy(APP_SOURCE, self.dir / "tasksapp.py")
        self.set_version(1)
        self.storage = storage
        self.env = {"HUEYD_TEST_STORAGE": storage, "HUEYD_TEST_OUT": str(self.out),
                    "HUEYD_TEST_NAME": name}
        self.tasks = self._load()
        self.huey = self.tasks.huey

    def _load(self) -> Any:
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        sys.path.insert(0, str(self.dir))
        try:
            spec = importlib.util.spec_from_file_location("tasksapp", self.dir / "tasksapp.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        finally:
            sys.path.remove(str(self.dir))
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def set_version(self, number: int) -> None:
        (self.dir / "appversion.py").write_text(f"VERSION = {number}\n")

    def marks(self, name: str) -> list[tuple[float, int, str]]:
        """(time, pid, text) per line a task wrote to marker ``name``."""
        path = self.out / name
        if not path.exists():
            return []
        lines = [line.split(" ", 2) for line in path.read_text().splitlines()]
        return [(float(t), int(pid), text) for t, pid, text in lines]

    @property
    def kind(self) -> str:
        return "redis" if self.storage.startswith(("redis://", "redis+")) else "sqlite"


class Daemon:
    """A ``hueyd run`` process in a session of its own."""

    def __init__(self, app: App, args: list[str], env: dict[str, str] | None = None,
                 watchdog_pid: bool = False, program: list[str] | None = None) -> None:
        self.app = app
        self.args = args
        self.log_path = app.dir.parent / f"hueyd-{len(list(app.dir.parent.glob('hueyd-*')))}.out"
        environ = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}",
                   "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            if env is None or name not in env:
                environ.pop(name, None)
        command = [*(program or [*HUEYD, "run"]), *args]
        if watchdog_pid:  # systemd sets WATCHDOG_PID to the service's PID: exec keeps it
            command = ["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *command]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(command, cwd=app.dir, env=environ,
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def __repr__(self) -> str:
        return f"<hueyd {' '.join(self.args)} pid {self.pid}>"

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self} still running after {timeout}s:\n{self.output}") \
                from None

    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        return children_of(self.pid)

    def wait_for_log(self, text: str, timeout: float = 10.0, start: int = 0) -> int:
        """Wait until ``text`` appears in the output after offset ``start``; returns its end."""
        def found() -> int:
            at = self.output.find(text, start)
            return at + len(text) if at >= 0 else 0
        return wait_for(found, timeout, message=f"{text!r} in the output of {self}")

    def stop(self) -> None:
        if self.running():
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # whatever is left of this daemon's session (a master killed before its workers)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)


def write_config(app: App, **settings: Any) -> str:
    """A hueyd YAML for ``app`` with ``settings`` (one ``key: value`` line each)."""
    path = app.dir / "hueyd.yaml"
    lines = ["app: tasksapp.huey"] + [f"{key}: {value}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def outcome(result: Any) -> Any:
    """A task's stored value, or None while there is none or it is an error: huey stores
    the error of a failed attempt (store_intermediate_errors) until its retry replaces it."""
    from hueyd import TaskException
    result.reset()
    try:
        return result.get(preserve=True)
    except TaskException:
        return None


def processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            # the command name may contain spaces: fields after the last ')'
            state, ppid, pgid = stat.rsplit(")", 1)[1].split()[:3]
            yield int(entry), state, int(ppid), int(pgid)


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid``."""
    return sorted(child for child, _, ppid, _ in processes() if ppid == pid)


def storage_for(kind: str, root: Path, request: pytest.FixtureRequest) -> str:
    if kind == "redis":
        return request.getfixturevalue("redis_url")
    return str(root / "queue.db")


@pytest.fixture
def make_app(tmp_path: Path, request: pytest.FixtureRequest):
    """``make_app("redis"|"sqlite", name=...)``: a fresh application directory."""
    made: list[App] = []

    def factory(kind: str = "sqlite", name: str = "itest") -> App:
        root = tmp_path / f"{kind}-{name}-{len(made)}"
        app = App(root, storage_for(kind, root, request), name)
        made.append(app)
        return app

    yield factory
    for app in made:
        app.huey.storage.close()


@pytest.fixture
def hueyd_proc():
    """``hueyd_proc(app, *args, env=None)``: a running ``hueyd run`` (or ``program``),
    stopped at the end of the test."""
    daemons: list[Daemon] = []

    def start(app: App, *args: str, env: dict[str, str] | None = None,
              watchdog_pid: bool = False, program: list[str] | None = None) -> Daemon:
        daemon = Daemon(app, list(args), env, watchdog_pid, program)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


class NotifyListener:
    """An AF_UNIX datagram socket playing systemd's side of sd_notify."""

    def __init__(self) -> None:
        # a short path: sun_path holds 108 bytes, pytest's tmp_path can be longer
        self.dir = tempfile.mkdtemp(prefix="hueyd-n-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.append((time.monotonic(), fields))

    def keys(self) -> list[str]:
        """Every key received, in order (``WATCHDOG`` pings left out)."""
        return [key for _, fields in list(self.messages) for key in fields if key != "WATCHDOG"]

    def pings(self) -> list[float]:
        return [t for t, fields in list(self.messages) if "WATCHDOG" in fields]

    def wait_for_key(self, key: str, timeout: float = 10.0, after: int = 0) -> int:
        """Wait for the ``after``-th+1 message carrying ``key``; returns its index."""
        def index() -> int:
            hits = [i for i, (_, f) in enumerate(list(self.messages)) if key in f]
            return hits[after] + 1 if len(hits) > after else 0
        return wait_for(index, timeout, message=f"{key} from NOTIFY_SOCKET") - 1

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify_socket():
    """``notify_socket()``: a new listener (closed at the end of the test)."""
    listeners: list[NotifyListener] = []

    def make() -> NotifyListener:
        listeners.append(NotifyListener())
        return listeners[-1]

    yield make
    for listener in listeners:
        listener.close()
