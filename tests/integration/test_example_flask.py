"""huey's Flask example (examples/flask_app, this project's copy, only the imports name
hueyd): its run_huey.sh starts a real ``hueyd run main.huey -w2``; the page's form,
posted through Flask's test client in a process of its own, enqueues the task, and the
consumer runs it. Flask comes from Debian (python3-flask), so both sides run under
/usr/bin/python3 whatever interpreter runs the suite."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess

from tests.helpers import unavailable, wait_for
from tests.integration.conftest import ROOT

EXAMPLE = ROOT / "examples" / "flask_app"
DEBIAN_PYTHON = "/usr/bin/python3"
WAIT = 30

CLIENT = """\
from main import app
page = app.test_client().post("/", data={"n": "7"})
print(page.status_code, b"Enqueued example_task(7)" in page.data)
"""


def test_the_form_enqueues_and_the_consumer_runs_it(tmp_path, redis_url):
    if subprocess.run([DEBIAN_PYTHON, "-c", "import flask"], capture_output=True).returncode:
        unavailable("python3-flask missing: run scripts/setup-debian.sh test")
    where = tmp_path / "flask_app"
    shutil.copytree(EXAMPLE, where)
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": f"{where}{os.pathsep}{ROOT}",
           "PYTHONDONTWRITEBYTECODE": "1", "HUEYD": f"{DEBIAN_PYTHON} -m hueyd"}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        env.pop(name, None)
    log = where / "consumer.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["sh", "run_huey.sh"], cwd=where, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # run_huey.sh execs hueyd
    try:
        done = subprocess.run([DEBIAN_PYTHON, "-c", CLIENT], cwd=where, env=env,
                              capture_output=True, text=True, timeout=WAIT)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["200", "True"], done.stdout
        wait_for(lambda: "CALLED WITH n=7" in log.read_text(errors="replace"), WAIT,
                 message=lambda: f"the task in the consumer's output:\n{log.read_text()}")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert "2 thread worker(s)" in log.read_text()
