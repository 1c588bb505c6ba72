"""Every invalid option or configuration: exit 78 (EX_CONFIG), one line on stderr naming
the problem, no traceback, and no daemon left behind."""
from __future__ import annotations

import os
import resource
import subprocess
import time
from typing import Any

import pytest

from tests.integration.conftest import HUEYD, ROOT

BAD_OPTIONS = {
    "zero workers": (["tasksapp.huey", "-w", "0"], "workers"),
    "workers not a number": (["tasksapp.huey", "--workers", "two"], "workers"),
    "unknown worker type": (["tasksapp.huey", "-k", "fiber"], "fiber"),
    "backoff not above 1": (["tasksapp.huey", "-b", "1"], "backoff"),
    "negative delay": (["tasksapp.huey", "-d", "-1"], "delay"),
    "negative max delay": (["tasksapp.huey", "-m", "-5"], "delay"),
    "scheduler interval 0": (["tasksapp.huey", "-s", "0"], "interval"),
    "scheduler interval 61": (["tasksapp.huey", "-s", "61"], "interval"),
    "health check interval 0": (["tasksapp.huey", "-c", "0"], "interval"),
    "unknown option": (["tasksapp.huey", "--bogus"], "bogus"),
    "no application": ([], "app"),
    "module not found": (["nosuch.module.huey"], "nosuch"),
    "attribute missing": (["tasksapp.nothing"], "nothing"),
    "not a Huey": (["tasksapp.add"], "tasksapp.add"),
    "missing config file": (["--config", "/nonexistent/hueyd.yaml"], "hueyd.yaml"),
    # passed check, then broke run (issue 14, item 8)
    "100000 workers": (["tasksapp.huey", "-w", "100000"], "at most 5000"),
    "300 process workers": (["tasksapp.huey", "-k", "process", "-w", "300"], "at most 256"),
    "delay 1e308": (["tasksapp.huey", "-d", "1e308"], "at most 600"),
    "task timeout 1e308": (["tasksapp.huey", "--task-timeout", "1e308"], "at most 86400"),
    "ESC in the app path": (["tasks\x1bapp.huey"], "U+001B"),
    "app path of 100 kB": (["a." * 50000 + "huey"], "longer than 500"),
}

BAD_YAML = {
    "syntax": ("app: [tasksapp.huey\n", "hueyd.yaml"),
    "unknown key": ("app: tasksapp.huey\nworkrs: 2\n", "workrs"),
    "bad value": ("app: tasksapp.huey\nworkers: many\n", "workers"),
    "bad worker type": ("app: tasksapp.huey\nworker_type: fiber\n", "worker_type"),
    "bad timeout": ("app: tasksapp.huey\ntask_timeout: -1\n", "task_timeout"),
    "NUL character": ("app: tasksapp.huey\nworkers: 2\0\n", "U+0000"),
    "nested 5000 deep": ("app: tasksapp.huey\nenvironment: " + "[" * 5000 + "]" * 5000,
                         "nest"),
    "alias bomb": ("app: tasksapp.huey\nworkers: [&a [x,x,x,x,x,x,x,x,x], " + ", ".join(
        f"&{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefg", "bcdefgh")) + "]\n",
        "aliases are expanded"),
    "delay 1e308": ("app: tasksapp.huey\ndelay: 1.0e+308\n", "delay"),
}


def run_hueyd(app, args: list[str], command: str = "run",
              **popen: Any) -> subprocess.CompletedProcess:
    """``hueyd run ARGS`` (or another command); a daemon that starts instead of refusing
    times out (10 s). ``done.seconds``: how long it took."""
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}"}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    started = time.monotonic()
    done = subprocess.run([*HUEYD, command, *args], cwd=app.dir, env=env, capture_output=True,
                          text=True, errors="replace", timeout=10, stdin=subprocess.DEVNULL,
                          **popen)
    done.seconds = time.monotonic() - started
    return done


def assert_config_error(done: subprocess.CompletedProcess, mentions: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 78, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and mentions in lines[0], lines
    assert len(lines[0]) < 600 and done.seconds < 3.0, (len(lines[0]), done.seconds)


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_invalid_option(make_app, case):
    args, mentions = BAD_OPTIONS[case]
    assert_config_error(run_hueyd(make_app("sqlite"), args), mentions)


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_invalid_yaml(make_app, case):
    text, mentions = BAD_YAML[case]
    app = make_app("sqlite")
    (app.dir / "hueyd.yaml").write_text(text)
    assert_config_error(run_hueyd(app, ["--config", "hueyd.yaml"]), mentions)


def test_a_fifo_config_does_not_hang_run(make_app):
    app = make_app("sqlite")
    os.mkfifo(app.dir / "hueyd.yaml")
    assert_config_error(run_hueyd(app, ["--config", "hueyd.yaml"]), "a FIFO")


def test_more_workers_than_open_files_refuse_to_start(make_app):
    """1100 greenlets on SQLite under a hard limit of 1024 open files used to start and
    fail in every worker (EMFILE); below the hard limit hueyd raises its soft one."""
    app = make_app("sqlite")
    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    done = run_hueyd(app, ["tasksapp.huey", "-k", "greenlet", "-w", "1100"],
                     preexec_fn=limit_files)
    assert_config_error(done, "LimitNOFILE=")
