"""huey's examples, run on hueyd as huey's docs run them (only the imports changed):
- examples/huey_simple, this project's copy of huey's ``examples/simple``: its cons.sh
  starts a real ``hueyd run`` with the example's flags (``--workers=4 -k TYPE -S``), and
  its producers (``main.py``, ``amain.py``, the tasks) run in processes of their own;
- the four consumer command lines of huey's ``examples/deploy`` (systemd, supervisord,
  Docker, Compose), each accepted by ``hueyd check``, and one run under SIGTERM: with
  their ``-g TERM`` that is the graceful stop.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import HUEYD, ROOT

EXAMPLE = ROOT / "examples" / "huey_simple"
WAIT = 30

#: huey 3.5.4 examples/deploy: huey.service, supervisor.conf, Dockerfile, compose.yaml
DEPLOY_LINES = {
    "huey.service": "my_app.huey -w 4 -k thread -g TERM -t 55",
    "supervisor.conf": "my_app.huey -w 4 -k thread -g TERM -t 55",
    "Dockerfile": "my_app.huey -w 4 -k thread -g TERM -t 55",
    "compose.yaml": "my_app.huey -w 4 -g TERM -t 55",
}

DRIVER = """\
import json, time
from hueyd import TaskException
from tasks import add, mul, total, add_pipeline, limit_time, flaky_task

def outcome(result, timeout=30):
    deadline = time.monotonic() + timeout
    while True:  # the first attempt's error is stored until the retry replaces it
        try:
            return result.get(blocking=True, timeout=max(0.1, deadline - time.monotonic()))
        except TaskException:
            if time.monotonic() > deadline:
                raise
            result.reset()
            time.sleep(0.2)

out = {"add": outcome(add(1, 2)), "mul": outcome(mul(3, 4)), "total": outcome(total([1, 2, 3])),
       "pipeline": outcome(add_pipeline(1, 2, 3, 4)), "limit_time": outcome(limit_time(1))}
out["flaky"] = outcome(flaky_task(), timeout=30) if FLAKY else None
print(json.dumps(out))
"""

def run(cmd: list[str], where: Path, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(cmd, cwd=where, env=env, input=stdin, capture_output=True,
                          text=True, timeout=WAIT * 2)
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def example(tmp_path, redis_url):
    """A copy of the example and the environment its scripts run in."""
    where = tmp_path / "simple"
    shutil.copytree(EXAMPLE, where)
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": f"{where}{os.pathsep}{ROOT}",
           "PYTHONDONTWRITEBYTECODE": "1", "HUEYD": " ".join(HUEYD)}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        env.pop(name, None)
    return where, env


def start_consumer(where: Path, env: dict[str, str], worker_type: str):
    log = open(where / f"cons-{worker_type}.log", "wb")
    proc = subprocess.Popen(["sh", "cons.sh", worker_type], cwd=where, env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # cons.sh execs hueyd: the same PID
    log.close()
    return proc, where / f"cons-{worker_type}.log"


def stop_consumer(proc: subprocess.Popen, signum: int = signal.SIGINT) -> int:
    proc.send_signal(signum)
    try:
        return proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.mark.parametrize("worker_type", ["thread", "process", "greenlet"])
def test_simple_example_runs_with_its_consumer_flags(example, worker_type):
    where, env = example
    env = {**env, "WORKER_CLASS": worker_type}
    proc, log = start_consumer(where, env, worker_type)
    try:
        answer = run([sys.executable, "main.py"], where, env, stdin="20\n22\n")
        assert answer.strip().splitlines()[-1] == "42", answer
        driver = DRIVER.replace("FLAKY", "True" if worker_type == "thread" else "False")
        values = json.loads(run([sys.executable, "-c", driver], where, env).splitlines()[-1])
        assert values == {"add": 3, "mul": 12, "total": 6, "pipeline": [3, 6, 10],
                          "limit_time": 1,
                          "flaky": "succeeded on retry." if worker_type == "thread" else None}
        if worker_type == "thread":
            lines = run([sys.executable, "amain.py"], where, env).split("\n")
            assert lines[0] == "[2, 2, 2]" and lines[2] == "[2, 2, 2]", lines
            assert float(lines[1]) < 3.5 and float(lines[3]) < 3.5, lines  # side by side
    finally:
        code = stop_consumer(proc)
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert "startup hook" in output and "shutdown hook" in output, output
    assert "received signal [complete]" in output, output
    # the only tracebacks: the flaky task's first attempt, logged as huey logs it
    assert output.count("Traceback") == output.count("Exception: flaky task failed!"), output
    simple = [line for line in output.splitlines() if line[:1].isdigit()]
    assert simple and all(line[2] == line[5] == ":" and line[8] == " " for line in simple)


def test_hold_on_and_api_call(example):
    """The two tasks that need names from the rest of issue 16: ``hold_on`` retries while
    another run holds its marker (EmptyData), ``api_call`` runs twice a minute."""
    where, env = example
    proc, log = start_consumer(where, {**env, "WORKER_CLASS": "thread"}, "thread")
    program = """\
import json, time
from tasks import hold_on, api_call, huey
while time.time() % 60 > 40:  # api_call's window is the clock's minute: keep 3 calls in one
    time.sleep(0.1)
first = hold_on(1.5)
time.sleep(0.3)  # the first run holds the marker when the second starts
second = hold_on(0.1)
calls = [api_call(n) for n in range(3)]
out = {"first": first.get(blocking=True, timeout=20)}
# 4 workers take the three calls at once: any two of them win the window, not always 0 and 1
ran, deadline = {}, time.monotonic() + 15
while len(ran) < 2 and time.monotonic() < deadline:
    ran.update({n: value for n, value in enumerate(call() for call in calls) if value is not None})
    time.sleep(0.05)
out["calls"] = sorted(value - n for n, value in ran.items())
deadline = time.monotonic() + 15
while huey.scheduled_count() < 2 and time.monotonic() < deadline:
    time.sleep(0.1)  # the second hold_on and the third api_call: retried later
out["scheduled"] = huey.scheduled_count()
print(json.dumps(out))
"""
    try:
        values = json.loads(run([sys.executable, "-c", program], where, env).splitlines()[-1])
    finally:
        code = stop_consumer(proc)
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert values == {"first": True, "calls": [1, 1], "scheduled": 2}, (values, output)
    assert "appears to be running...will retry in 60s" in output, output


@pytest.mark.parametrize("source", sorted(DEPLOY_LINES))
def test_deploy_command_lines_are_accepted(source, make_app):
    app = make_app("sqlite")
    argv = DEPLOY_LINES[source].replace("my_app.huey", "tasksapp.huey").split()
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}"}
    done = subprocess.run([*HUEYD, "check", "--offline", *argv], cwd=app.dir, env=env,
                          capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert "is valid (app tasksapp.huey, 4 thread workers)" in done.stdout, done.stdout


def test_a_deploy_command_line_stops_gracefully_on_sigterm(make_app, hueyd_proc):
    """What the deploy examples' ``-g TERM -t 55`` are for: the supervisor's SIGTERM lets
    the running task finish."""
    app = make_app("redis")
    argv = DEPLOY_LINES["huey.service"].replace("my_app.huey", "tasksapp.huey").split()
    proc = hueyd_proc(app, *argv)
    slow = app.tasks.slow(1.0, "deploy")
    wait_for(lambda: app.marks("deploy"), WAIT, message="the task to start")
    proc.signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0, proc.output
    assert slow.get(preserve=True) == "finished"
    assert [text for _, _, text in app.marks("deploy")] == ["start", "done"]
