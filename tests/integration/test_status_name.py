"""``hueyd status NAME`` (issue 19) against a real daemon with process workers: the
instance's YAML found by name ($HUEYD_CONFIG_DIR, documented for a folder other
than /etc/hueyd), per-consumer busy and idle workers, tasks done and failed in the
last minute, the last error; and the STATUS= line's tasks/s and last error.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

from tests.helpers import wait_for
from tests.integration.conftest import HUEYD, ROOT, App, write_config
from tests.integration.test_notify import notify_env


def status(app: App, folder: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}",
           "PYTHONDONTWRITEBYTECODE": "1", "HUEYD_CONFIG_DIR": folder}
    return subprocess.run([*HUEYD, "status", *args], cwd=app.dir, env=env, text=True,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


def test_status_by_instance_name_reports_workers_and_the_last_minute(
        make_app, hueyd_proc, notify_socket, tmp_path):
    app, listener = make_app("redis", "statusname"), notify_socket()
    folder = tmp_path / "etc-hueyd"
    folder.mkdir()
    config = write_config(app, workers=2, worker_type="process", periodic="false")
    os.rename(config, folder / "blog.yaml")
    hueyd_proc(app, "--config", str(folder / "blog.yaml"), env=notify_env(listener))
    listener.wait_for_key("READY")
    before = time.time()
    for n in range(5):
        app.tasks.add(n, n)
    app.tasks.fail("no such address")
    app.tasks.fail("no such address")

    def reported() -> dict | None:
        done = status(app, str(folder), "blog", "--json")
        assert done.returncode == 0, done.stderr
        consumers = json.loads(done.stdout)["consumers"]
        mine = [c for c in consumers if c["alive"]]
        return mine[0] if mine and mine[0]["completed_last_minute"] == 5 \
            and mine[0]["failed_last_minute"] == 2 else None
    consumer = wait_for(reported, 30, message="the consumer's report in hueyd status")
    assert (consumer["busy"], consumer["idle"]) == (0, 2)
    error = consumer["last_error"]
    assert error["task"] == "fail"
    assert error["error"] == "ValueError: no such address"
    assert before - 1 <= error["at"] <= time.time() + 1

    table = status(app, str(folder), "blog")
    assert table.returncode == 0, table.stderr
    assert "BUSY  IDLE  DONE/1m  FAILED/1m" in table.stdout
    assert "last error on" in table.stdout and "fail at" in table.stdout
    assert "ValueError: no such address" in table.stdout

    def status_line() -> str:
        lines = [f.get("STATUS", "") for _, f in list(listener.messages)]
        return next((s for s in reversed(lines) if "tasks/s" in s and "last error" in s), "")
    line = wait_for(status_line, 20, message="tasks/s and the last error in STATUS=")
    assert "last error: fail: ValueError: no such address" in line


def test_status_of_an_unknown_instance_is_one_line_and_78(make_app, tmp_path):
    app = make_app("sqlite", "statusname")
    done = status(app, str(tmp_path), "nosuch")
    assert done.returncode == 78
    assert done.stderr.strip().splitlines() == [
        f"hueyd: {tmp_path}/nosuch.yaml: no such file: instance nosuch has no configuration "
        f"in {tmp_path}"]
    done = status(app, str(tmp_path), "../etc")
    assert done.returncode == 78 and "not an instance name" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
