"""Storages that speak huey's interface under a real ``hueyd run`` (issue 16):

- a storage written for huey in the test (huey_storage_app.JsonFileStorage: huey's
  methods only) runs tasks, scheduled ones too, and the log says once, at start,
  that delivery is at-most-once;
- FileHuey with two process workers, from YAML ``file_path``: every task runs exactly
  once (the folder's lock), results are read back by the producer;
- PostgresHuey (leases: at-least-once) with two process workers on a PostgreSQL 15 the
  suite starts;
- BlackHoleHuey starts, stays idle, stops cleanly on SIGINT.
"""
from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path
from types import SimpleNamespace

from tests.helpers import wait_for
from tests.integration.conftest import Daemon

SOURCE = Path(__file__).with_name("huey_storage_app.py")


def make(tmp_path: Path, kind: str, **extra: str) -> SimpleNamespace:
    """An app directory for ``kind`` and the same app loaded here (the producer)."""
    app_dir, data = tmp_path / "app", tmp_path / "data"
    app_dir.mkdir()
    data.mkdir()
    (app_dir / "storeapp.py").write_bytes(SOURCE.read_bytes())
    env = {"HUEYD_TEST_KIND": kind, "HUEYD_TEST_DIR": str(data), **extra}
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location("storeapp", app_dir / "storeapp.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for key in env:
            os.environ.pop(key)
    return SimpleNamespace(dir=app_dir, env=env, data=data, module=module)


def marks(app: SimpleNamespace) -> list[tuple[int, int]]:
    path = app.data / "marks"
    if not path.exists():
        return []
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]


def start(app: SimpleNamespace, *args: str) -> Daemon:
    return Daemon(app, [*args])  # type: ignore[arg-type]


def test_a_storage_written_for_huey_runs_under_hueyd_run(tmp_path):
    app = make(tmp_path, "custom")
    huey, record = app.module.huey, app.module.record
    results = [record(n) for n in range(20)]
    later = record.schedule((99,), delay=1)
    daemon = start(app, "storeapp.huey", "-w", "2", "-k", "thread")
    try:
        assert [r.get(blocking=True, timeout=30) for r in results] == [n * 2 for n in range(20)]
        assert later.get(blocking=True, timeout=30) == 198
        assert sorted(n for n, _ in marks(app)) == [*range(20), 99]
        wait_for(lambda: "at-most-once" in daemon.output, 10, message="the delivery warning")
        assert daemon.output.count("at-most-once") == 1, daemon.output
        assert "JsonFileStorage implements huey's interface only" in daemon.output
        assert huey.storage.queue_size() == 0 and huey.storage.schedule_size() == 0
        daemon.signal(signal.SIGINT)
        assert daemon.wait(30) == 0, daemon.output
        assert "Traceback" not in daemon.output, daemon.output
    finally:
        daemon.stop()


def test_file_huey_with_process_workers_from_yaml(tmp_path):
    app = make(tmp_path, "file")
    huey, record = app.module.huey, app.module.record
    moved = str(app.data / "server-queue")  # the YAML's folder replaces the app's
    huey.storage_kwargs = {"path": moved}
    huey.storage = huey.create_storage()
    results = [record(n) for n in range(200)]
    config = app.dir / "hueyd.yaml"
    config.write_text(f"app: storeapp.huey\nworkers: 2\nworker_type: process\n"
                      f"file_path: {moved}\n")
    daemon = start(app, "--config", str(config))
    try:
        wait_for(lambda: len(marks(app)) >= 200, 90,
                 message=lambda: f"200 tasks to run ({len(marks(app))} so far)")
        numbers = [n for n, _ in marks(app)]
        assert sorted(numbers) == list(range(200)), "each task runs exactly once"
        assert len({pid for _, pid in marks(app)}) == 2, "both worker processes took tasks"
        assert [r.get(blocking=True, timeout=30) for r in results] == \
            [n * 2 for n in range(200)]
        assert not os.path.exists(app.data / "queue" / "results"), "the app's folder is unused"
        daemon.signal(signal.SIGINT)
        assert daemon.wait(30) == 0, daemon.output
        assert "Traceback" not in daemon.output, daemon.output
    finally:
        daemon.stop()


def test_postgres_huey_with_process_workers(tmp_path, postgres_server):
    app = make(tmp_path, "postgres", HUEYD_TEST_DSN=postgres_server.dsn)
    huey, record = app.module.huey, app.module.record
    results = [record(n) for n in range(100)]
    later = record.schedule((999,), delay=1)
    daemon = start(app, "storeapp.huey", "-w", "2", "-k", "process")
    try:
        assert [r.get(blocking=True, timeout=60) for r in results] == \
            [n * 2 for n in range(100)]
        assert later.get(blocking=True, timeout=30) == 1998
        assert sorted(n for n, _ in marks(app)) == [*range(100), 999], "each ran once"
        assert "at-most-once" not in daemon.output, "it holds tasks under a lease"
        daemon.signal(signal.SIGINT)
        assert daemon.wait(30) == 0, daemon.output
        assert "Traceback" not in daemon.output, daemon.output
    finally:
        daemon.stop()
        huey.storage.flush_all()
        huey.storage.close()


def test_postgres_huey_runs_again_what_a_killed_consumer_held(tmp_path, postgres_server):
    app = make(tmp_path, "postgres", HUEYD_TEST_DSN=postgres_server.dsn)
    huey, slow = app.module.huey, app.module.slow
    starts = app.data / "starts"
    result = slow(7, 2)
    first = start(app, "storeapp.huey", "-w", "1", "-k", "process", "-n")
    try:
        wait_for(starts.exists, 30, message="the task to start")
        os.killpg(first.pid, signal.SIGKILL)  # the whole daemon, mid-task
        first.wait(10)
        assert huey.storage.queue_size() == 0  # held by the dead consumer, not queued
        second = start(app, "storeapp.huey", "-w", "1", "-n")
        try:
            assert result.get(blocking=True, timeout=60) == 7
            assert len(starts.read_text().splitlines()) == 2, "it ran again"
            assert "took back 1 message(s)" in second.output, second.output
        finally:
            second.stop()
    finally:
        first.stop()
        huey.storage.flush_all()
        huey.storage.close()


def test_black_hole_huey_idles_and_stops(tmp_path):
    app = make(tmp_path, "void")
    app.module.record(1)
    daemon = start(app, "storeapp.huey", "-w", "2")
    try:
        daemon.wait_for_log("started with 2 thread worker(s)", timeout=30)
        assert daemon.running()
        daemon.signal(signal.SIGINT)
        assert daemon.wait(30) == 0, daemon.output
        assert "Traceback" not in daemon.output and not marks(app)
    finally:
        daemon.stop()
