"""Issue 20, start-up: what ``hueyd run`` leaves off the path to its first task.

- the storage's start checks (INFO, CONFIG GET, COMMAND INFO) run once READY=1 is out,
  and their warnings still reach the log;
- modules only a mistake, an option or another URL needs are not imported before the
  first task runs (each is imported where it is used: the tests of those paths cover it);
- few dataclasses on that path: creating one costs ~0.4 ms (its methods are compiled at
  import), so the daemon's plain value records are NamedTuples.
A real redis-server, a real NOTIFY_SOCKET, a real ``hueyd run`` process.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

import hueyd
from hueyd.daemon.config import load_config
from hueyd.daemon.master import Master, Phase
from hueyd.daemon.notify import Notifier
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = "no persistence (appendonly no"
#: imported where they are used, never on the way to the first task
DEFERRED = ("difflib", "hueyd.daemon.metrics_view", "hueyd.storage.redis.sentinel",
            "hueyd.storage.redis.cluster", "hueyd.storage.redis.follow",
            "hueyd.consumer.embedded")
#: dataclasses defined by the hueyd modules loaded when the first task runs (25 before
#: issue 20); one more costs every start ~0.4 ms: prefer a NamedTuple for a value record
DATACLASS_BUDGET = 13

APP = '''
import dataclasses
import sys
from hueyd import RedisHuey
huey = RedisHuey("startup-imports", url={url!r})

@huey.task()
def modules():
    loaded = sorted(sys.modules)
    records = [f"{{name}}.{{key}}" for name in loaded if name.startswith("hueyd")
               for key, value in vars(sys.modules[name]).items()
               if isinstance(value, type) and value.__module__ == name
               and dataclasses.is_dataclass(value)]
    with open({out!r}, "w") as f:
        f.write("\\n".join(loaded) + "\\n--\\n" + "\\n".join(records))
'''


class ReadyAtWarning(logging.Handler):
    """On the storage's warning, looks whether READY=1 already sits in the socket."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(logging.WARNING)
        self.sock = sock
        self.seen: list[bytes] = []
        self.ready_before: bool | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if VOLATILE not in record.getMessage():
            return
        while True:
            try:
                self.seen.append(self.sock.recv(65536))
            except BlockingIOError:
                break
        self.ready_before = any(b"READY=1" in message for message in self.seen)


def test_storage_checks_are_logged_once_ready_is_sent(own_redis):
    client = redis.Redis(port=own_redis.port)
    client.config_set("save", "")
    client.config_set("appendonly", "no")
    folder = tempfile.mkdtemp(prefix="hueyd-s-")  # sun_path is short
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    handler = ReadyAtWarning(sock)
    logger = logging.getLogger("hueyd.consumer")
    logger.addHandler(handler)
    huey = hueyd.RedisHuey("startup-checks", url=own_redis.url)
    config = load_config(None, {"app": "tests.integration.test_startup_path.huey",
                                "workers": 1, "worker_type": "thread"})
    master = Master(config, huey, Notifier.from_environ({"NOTIFY_SOCKET": path}))
    try:
        master.step(0.0)
        assert master.phase is Phase.RUNNING
        assert handler.ready_before is True, handler.seen  # logged, and after READY=1
    finally:
        logger.removeHandler(handler)
        master.consumer.stop()
        sock.close()
        os.unlink(path)
        os.rmdir(folder)


def test_run_imports_no_deferred_module_before_its_first_task(tmp_path, redis_url):
    out = tmp_path / "modules.txt"
    (tmp_path / "startupapp.py").write_text(APP.format(url=redis_url, out=str(out)))
    sys.path.insert(0, str(tmp_path))
    try:
        import startupapp
        startupapp.modules()  # queued before the daemon starts: its first task
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("startupapp", None)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    env.pop("NOTIFY_SOCKET", None)
    with open(tmp_path / "hueyd.out", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hueyd", "run", "startupapp.huey",
                                 "-w", "1", "-k", "thread"], cwd=tmp_path, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: out.exists() and out.read_text(), 20,
                 message=lambda: (tmp_path / "hueyd.out").read_text())
        modules, _, records = out.read_text().partition("\n--\n")
        loaded = set(modules.split())
        assert "hueyd.daemon.master" in loaded  # the list is the daemon's
        assert sorted(loaded.intersection(DEFERRED)) == []
        assert len(records.split()) <= DATACLASS_BUDGET, records
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
