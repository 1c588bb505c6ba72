"""A reload never takes the daemon down (issue 14, item 2): on SIGHUP a child runs
``hueyd check --offline`` on the new configuration and code; only if it passes does
the master drain and re-execute. A refusal keeps the same process running the old
code, logs one error line, says ``reload refused`` in STATUS and sends READY=1 again;
``hueyd reload PID`` (the unit's ExecReload=) exits with that verdict.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.helpers import ROOT, wait_for
from tests.integration.conftest import WORKER_TYPES, children_of, write_config
from tests.integration.test_notify import SLACK, WATCHDOG_USEC, in_order, longest_gap

FAST = ("-n", "-c", "1", "-m", "0.2")
BAD_DEPLOY = "raise RuntimeError('a bad deploy')\n"
#: YAML files that crashed the daemon (exit 1) at a reload before: control characters
#: (the parser refuses them with an exception the config loader did not expect), and
#: nesting deep enough to exhaust Python's recursion limit
BROKEN_YAML = {
    "NUL": "app: tasksapp.huey\nworkers: 2\0\n",
    "ESC": "app: tasksapp.huey\ninstance: \"a\x1bb\"\n",
    "5,000-deep nesting": "app: tasksapp.huey\nenvironment: " + "[" * 5000 + "]" * 5000 + "\n",
}


def refusals(daemon) -> list[str]:
    return [line for line in daemon.output.splitlines() if "reload refused" in line]


def assert_refused(app, daemon, listener, count: int, reason: str) -> None:
    """The ``count``-th refusal: one error line, STATUS, READY=1 after RELOADING=1, and
    the same process still running the old code (version 1)."""
    ready = listener.wait_for_key("READY", timeout=30, after=count)
    status = listener.messages[ready][1].get("STATUS", "")
    assert "reload refused" in status and reason in status, status
    assert in_order(listener.keys(), ["READY", *["RELOADING", "READY"] * count]), \
        listener.keys()
    wait_for(lambda: len(refusals(daemon)) == count, 10, message="the error line")
    assert reason in refusals(daemon)[-1] and "ERROR" in refusals(daemon)[-1]
    assert "Traceback" not in daemon.output and "re-executing" not in daemon.output
    assert daemon.running()
    assert app.tasks.version().get(blocking=True, timeout=15) == 1, daemon.output
    where = app.tasks.whoami().get(blocking=True, timeout=15)
    assert daemon.pid in (where["pid"], where["ppid"])


def test_a_bad_deploy_is_refused_then_the_fixed_code_loads(make_app, hueyd_proc,
                                                           notify_socket):
    runs = []
    for worker_type in WORKER_TYPES:  # every one at once, then each checked
        app, listener = make_app("redis", name=worker_type), notify_socket()
        config = write_config(app, worker_type=worker_type)
        runs.append((app, listener, hueyd_proc(app, "--config", config, *FAST,
                                               env={"NOTIFY_SOCKET": listener.path})))
    for app, listener, daemon in runs:
        listener.wait_for_key("READY", timeout=30)
        assert app.tasks.version().get(blocking=True, timeout=15) == 1
        (app.dir / "appversion.py").write_text(BAD_DEPLOY)  # imported by tasksapp
        daemon.signal(signal.SIGHUP)
    for app, listener, daemon in runs:
        assert_refused(app, daemon, listener, 1, "RuntimeError: a bad deploy")
        app.set_version(2)  # the fix
        daemon.signal(signal.SIGHUP)
    for app, listener, daemon in runs:
        daemon.wait_for_log("re-executing", timeout=30)
        assert app.tasks.version().get(blocking=True, timeout=30) == 2, daemon.output
        assert daemon.running() and len(refusals(daemon)) == 1
        status = listener.messages[listener.wait_for_key("READY", timeout=30, after=2)][1]
        assert "refused" not in status.get("STATUS", ""), status


def test_a_yaml_the_parser_cannot_take_is_refused(make_app, hueyd_proc, notify_socket):
    app, listener = make_app("sqlite"), notify_socket()
    config = write_config(app)
    daemon = hueyd_proc(app, "--config", config, *FAST, env={"NOTIFY_SOCKET": listener.path})
    listener.wait_for_key("READY", timeout=30)
    for count, (_name, text) in enumerate(BROKEN_YAML.items(), 1):
        with open(config, "w", encoding="utf-8") as f:
            f.write(text)
        daemon.signal(signal.SIGHUP)
        assert_refused(app, daemon, listener, count, "")  # the reason: the check's own line
    write_config(app, workers=2)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("re-executing", timeout=30)
    ready = listener.wait_for_key("READY", timeout=30, after=len(BROKEN_YAML) + 1)
    assert "2 thread workers" in listener.messages[ready][1]["STATUS"]
    assert app.tasks.version().get(blocking=True, timeout=15) == 1 and daemon.running()


def test_a_hanging_import_is_killed_at_the_time_limit(make_app, hueyd_proc, notify_socket):
    """Meanwhile the loop goes on: watchdog pings at their pace, a SIGUSR1 handled."""
    app, listener = make_app("sqlite"), notify_socket()
    daemon = hueyd_proc(app, "--config", write_config(app, startup_timeout=3), *FAST,
                        env={"NOTIFY_SOCKET": listener.path,
                             "WATCHDOG_USEC": str(WATCHDOG_USEC)}, watchdog_pid=True)
    listener.wait_for_key("READY", timeout=30)
    (app.dir / "appversion.py").write_text("import time\ntime.sleep(600)\n")
    asked = time.monotonic()
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: children_of(daemon.pid), 10, message="the check's child")
    daemon.signal(signal.SIGUSR1)
    reopened = daemon.wait_for_log("log files reopened", start=daemon.wait_for_log("SIGUSR1"))
    assert_refused(app, daemon, listener, 1, "did not finish within 3s")
    refused = listener.messages[listener.wait_for_key("READY", after=1)][0]
    assert refused - asked >= 3 and daemon.output.index("reload refused") > reopened
    assert longest_gap(listener.pings(), asked, refused) < WATCHDOG_USEC / 2e6 + SLACK
    assert time.monotonic() - asked < 15
    assert children_of(daemon.pid) == []  # killed by its PID and reaped (thread workers)


# -- hueyd reload: what ExecReload= runs -------------------------------------------------
@pytest.fixture
def runtime_folder():
    """A short folder standing for $RUNTIME_DIRECTORY (socket paths hold 108 bytes)."""
    folder = tempfile.mkdtemp(prefix="hueyd-rt-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def hueyd_reload(pid: int, folder: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("RUNTIME_DIRECTORY", "JOURNAL_STREAM", "NOTIFY_SOCKET"):
        env.pop(name, None)
    if folder:
        env["RUNTIME_DIRECTORY"] = folder
    return subprocess.run([sys.executable, "-m", "hueyd", "reload", str(pid), *args],
                          env=env, capture_output=True, text=True, timeout=90,
                          stdin=subprocess.DEVNULL)


def test_hueyd_reload_exits_with_the_daemon_s_verdict(make_app, hueyd_proc, runtime_folder):
    app = make_app("sqlite")
    daemon = hueyd_proc(app, "--config", write_config(app), *FAST,
                        env={"RUNTIME_DIRECTORY": runtime_folder})
    daemon.wait_for_log("hueyd consumer for", timeout=30)
    (app.dir / "appversion.py").write_text(BAD_DEPLOY)
    refused = hueyd_reload(daemon.pid, runtime_folder)
    assert refused.returncode == 78, refused
    assert "reload refused" in refused.stderr and "a bad deploy" in refused.stderr, refused
    assert daemon.running() and os.listdir(runtime_folder) == []
    assert app.tasks.version().get(blocking=True, timeout=15) == 1
    app.set_version(2)
    accepted = hueyd_reload(daemon.pid, runtime_folder)
    assert (accepted.returncode, accepted.stderr) == (0, ""), accepted
    assert app.tasks.version().get(blocking=True, timeout=30) == 2, daemon.output
    assert daemon.running()


def test_hueyd_reload_without_a_daemon_or_a_runtime_folder(runtime_folder):
    gone = subprocess.Popen(["true"])
    gone.wait()
    done = hueyd_reload(gone.pid, runtime_folder)
    assert done.returncode == 69 and f"no process {gone.pid}" in done.stderr, done
    done = hueyd_reload(os.getpid(), None)
    assert done.returncode == 78 and "RUNTIME_DIRECTORY" in done.stderr, done
