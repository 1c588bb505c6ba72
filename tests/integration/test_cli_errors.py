"""Every invalid option or configuration: exit 78 (EX_CONFIG), one line on stderr naming
the problem, no traceback, and no daemon left behind."""
from __future__ import annotations

import os
import subprocess

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
}

BAD_YAML = {
    "syntax": ("app: [tasksapp.huey\n", "hueyd.yaml"),
    "unknown key": ("app: tasksapp.huey\nworkrs: 2\n", "workrs"),
    "bad value": ("app: tasksapp.huey\nworkers: many\n", "workers"),
    "bad worker type": ("app: tasksapp.huey\nworker_type: fiber\n", "worker_type"),
    "bad timeout": ("app: tasksapp.huey\ntask_timeout: -1\n", "task_timeout"),
}


def run_hueyd(app, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}"}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    return subprocess.run([*HUEYD, "run", *args], cwd=app.dir, env=env, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def assert_config_error(done: subprocess.CompletedProcess, mentions: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 78, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and mentions in lines[0], lines


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
