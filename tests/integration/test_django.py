"""Django projects (issue 17): examples/django run by ``manage.py run_huey`` and by
``hueyd run --django-settings``, on Debian's Django 3.2 and on Django 5.2 from the
project's own virtualenv (scripts/django-venv); rows written by ``db_task``s, database
connections closed around them, Django's tasks framework through HueyBackend, and
``hueyd check``'s one line for each way a project can be misconfigured."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import ROOT, App, Daemon

EXAMPLE = ROOT / "examples" / "django"
#: Debian's Python, with python3-django 3.2 (scripts/setup-debian.sh test installs it)
DEBIAN_PYTHON = "/usr/bin/python3"
PROBE_APP = '''\
import os

from django.db import connection

from hueyd.contrib.djhuey import HUEY, db_task, on_commit_task
from notes.models import Note

@on_commit_task()
def add_after_commit(text):
    return Note.objects.create(text=text, pid=os.getpid()).pk

@HUEY.pre_execute()
def leave_a_connection_open(task):
    connection.ensure_connection()  # what earlier work in this worker thread left behind

@db_task()
def probe():
    closed_at_start = connection.connection is None
    connection.ensure_connection()
    return closed_at_start

@HUEY.post_execute()
def after(task, value, exc):
    if task.name.endswith("probe"):
        HUEY.put("closed-after", connection.connection is None)
'''


class Project:
    """A copy of examples/django with its own SQLite database and Redis database."""

    def __init__(self, root: Path, redis_url: str, python: str) -> None:
        self.dir = root / "project"
        shutil.copytree(EXAMPLE, self.dir)
        self.db = root / "shop.sqlite3"
        self.python = python
        self.env = {**os.environ, "SHOP_DB": str(self.db), "SHOP_REDIS_URL": redis_url,
                    "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
                    "DJANGO_SETTINGS_MODULE": "shop.settings"}
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            self.env.pop(name, None)
        self.manage("migrate", "-v", "0")

    def manage(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([self.python, "manage.py", *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stderr}"
        return done.stdout

    def shell(self, code: str) -> str:
        out = self.manage("shell", "-c", code).strip().splitlines()
        return out[-1] if out else ""

    def notes(self) -> list[str]:
        with sqlite3.connect(self.db) as db:
            return [text for (text,) in db.execute("SELECT text FROM notes_note ORDER BY id")]

    def add_probe(self) -> None:
        (self.dir / "probe").mkdir()
        (self.dir / "probe" / "__init__.py").write_text("")
        (self.dir / "probe" / "tasks.py").write_text(PROBE_APP)
        (self.dir / "shop" / "probe_settings.py").write_text(
            "from shop.settings import *  # noqa\nINSTALLED_APPS = INSTALLED_APPS + ['probe']\n")
        self.env["DJANGO_SETTINGS_MODULE"] = "shop.probe_settings"


@pytest.fixture(params=["debian", "venv"])
def project(request, tmp_path, redis_url) -> Project:
    """The example project on Debian's Django 3.2 (no virtualenv) or on Django 5.2 from
    the project's virtualenv, each with a redis-py of its own."""
    if request.param == "venv":
        python = str(request.getfixturevalue("django_venv") / "bin" / "python")
    else:
        python = DEBIAN_PYTHON
    made = Project(tmp_path, redis_url, python)
    made.kind = request.param
    # the daemon: Debian's Python and Django, or this run's Python (Debian's, or the PyPI
    # pass's venv) with the project's virtualenv
    made.hueyd_python = DEBIAN_PYTHON if request.param == "debian" else sys.executable
    return made


def start(project: Project, program: list[str], *args: str) -> Daemon:
    app = App.__new__(App)  # only what Daemon uses: the folders and the environment
    app.dir, app.env = project.dir, {k: v for k, v in project.env.items()
                                     if k.startswith(("SHOP_", "DJANGO_"))}
    return Daemon(app, list(args), program=program)


@pytest.fixture
def daemons():
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def test_run_huey_runs_the_example_projects_tasks(project, daemons):
    daemon = start(project, [project.python, "manage.py", "run_huey"], "-w", "2", "-k",
                   "process", "-m", "0.2", "-V")
    daemons.append(daemon)
    daemon.wait_for_log("hueyd consumer for shop started with 2 process", timeout=30)
    project.shell("from notes.tasks import add_note; add_note('from run_huey')")
    wait_for(lambda: project.notes() == ["from run_huey"], 30,
             message=lambda: f"the row; output:\n{daemon.output}")
    assert "DEBUG" in daemon.output, daemon.output  # -V is --huey-verbose


@pytest.mark.parametrize("worker_type", ["thread", "process", "greenlet"])
def test_the_daemon_runs_a_django_project(project, daemons, tmp_path, worker_type):
    project.add_probe()
    config = tmp_path / "shop.yaml"
    venv = f"virtualenv: {project.python[:-len('/bin/python')]}\n" \
        if project.kind == "venv" else ""
    config.write_text(f"django_settings: shop.probe_settings\nchdir: {project.dir}\n{venv}"
                      f"worker_type: {worker_type}\nworkers: 2\nmax_delay: 0.2\n"
                      f"environment:\n  SHOP_DB: {project.db}\n")
    daemon = start(project, [project.hueyd_python, "-m", "hueyd", "run"], "--config",
                   str(config))
    daemons.append(daemon)
    daemon.wait_for_log("hueyd consumer for shop started", timeout=30)
    daemon.wait_for_log("notes.tasks.add_note", timeout=10)  # found in the app's tasks.py
    project.shell("from notes.tasks import add_note; add_note('from hueyd')")
    wait_for(lambda: project.notes() == ["from hueyd"], 30,
             message=lambda: f"the row; output:\n{daemon.output}")
    # db_task: connections closed before and after the run, in the worker's own thread
    closed = project.shell(  # post_execute runs after the result is stored: wait for it
        "import time; from probe.tasks import probe, HUEY\n"
        "at_start = probe().get(blocking=True, timeout=20)\n"
        "deadline = time.monotonic() + 20\n"
        "while HUEY.get('closed-after', peek=True) is None and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(at_start, HUEY.get('closed-after', peek=True))")
    assert closed == "True True", daemon.output


def test_the_tasks_framework_backend_enqueues_onto_the_consumer(request, tmp_path, redis_url,
                                                                daemons):
    project = Project(tmp_path, redis_url,
                      str(request.getfixturevalue("django_venv") / "bin" / "python"))
    daemon = start(project, [project.python, "manage.py", "run_huey"], "-m", "0.2")
    daemons.append(daemon)
    daemon.wait_for_log("hueyd consumer for shop started", timeout=30)
    state = project.shell(
        "from notes.background import add_note_later as t; import time\n"
        "r = t.enqueue('through django tasks')\n"
        "deadline = time.monotonic() + 20\n"
        "while not r.is_finished and time.monotonic() < deadline:\n"
        "    time.sleep(0.05); r.refresh()\n"
        "print(r.status, r.return_value, len(r.worker_ids))")
    assert state == "SUCCESSFUL 1 1", daemon.output
    assert project.notes() == ["through django tasks"]


BROKEN = {
    "missing settings module": ("shop.nosuch", {}, "no module named 'shop.nosuch'"),
    "django.setup() fails": ("shop.broken", {"shop/broken.py": (
        "from shop.settings import *  # noqa\nINSTALLED_APPS = ['no_such_app']\n")},
        "django.setup() failed: ModuleNotFoundError: No module named 'no_such_app'"),
    "no task registered": ("shop.empty", {"shop/empty.py": (
        "from shop.settings import *  # noqa\nINSTALLED_APPS = ['hueyd.contrib.djhuey']\n")},
        "no task registered on hueyd.contrib.djhuey.HUEY"),
    "a tasks module that fails": ("shop.settings", {"notes/tasks.py": "1 / 0\n"},
                                  "cannot import notes.tasks: ZeroDivisionError"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_names_what_is_wrong_with_a_django_project(tmp_path, case):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    module, files, expected = BROKEN[case]
    for name, text in files.items():
        (project / name).write_text(text)
    done = subprocess.run([DEBIAN_PYTHON, "-m", "hueyd", "check", "--offline",
                           "--django-settings", module],
                          cwd=project, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 78, done
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "django_settings" in done.stderr and expected in done.stderr, done.stderr


FORK = '''\
import json
import os
import signal
from hueyd.daemon.config import load_config
from hueyd.daemon.loader import load_app
load_app(load_config(None, {"django_settings": "shop.settings"}))
from django.db import connection
connection.ensure_connection()  # the master's, as a project's import-time query leaves it
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("closed before the fork:", connection.connection is None)
'''


def test_the_masters_connections_are_closed_before_it_forks(project):
    done = subprocess.run([project.python, "-c", FORK], cwd=project.dir, env=project.env,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "closed before the fork: True", done


PRIORITY_SETTINGS = ("from shop.settings import *  # noqa\n"
                     "HUEY = {**HUEY, 'huey_class': 'hueyd.PriorityRedisHuey'}\n")
ENQUEUE_BY_PRIORITY = '''\
import datetime, json
from django.utils import timezone
from notes.background import add_note_later as t
later = t.using(run_after=timezone.now() + datetime.timedelta(seconds=2)).enqueue("later")
for priority in (0, 50, -10):
    t.using(priority=priority).enqueue(f"priority {priority}")
print(json.dumps([later.id, later.status]))
'''


def test_the_backend_keeps_priority_and_run_after(request, tmp_path, redis_url, daemons):
    project = Project(tmp_path, redis_url,
                      str(request.getfixturevalue("django_venv") / "bin" / "python"))
    (project.dir / "shop" / "priority_settings.py").write_text(PRIORITY_SETTINGS)
    project.env["DJANGO_SETTINGS_MODULE"] = "shop.priority_settings"
    later, status = json.loads(project.shell(ENQUEUE_BY_PRIORITY))  # no consumer yet
    assert status == "READY"
    daemon = start(project, [project.python, "manage.py", "run_huey"], "-w", "1", "-m", "0.2")
    daemons.append(daemon)
    wait_for(lambda: len(project.notes()) == 4, 30,
             message=lambda: f"four rows, got {project.notes()}; output:\n{daemon.output}")
    assert project.notes() == ["priority 50", "priority 0", "priority -10", "later"]
    times = json.loads(project.shell(
        f"import json; from notes.background import add_note_later as t; r = t.get_result("
        f"'{later}'); print(json.dumps([r.status, (r.started_at - r.task.run_after)"
        ".total_seconds()]))"))
    assert times[0] == "SUCCESSFUL" and times[1] >= 0, times


def test_run_huey_reloads_on_sighup(project, daemons):
    daemon = start(project, [project.python, "manage.py", "run_huey"], "-m", "0.2")
    daemons.append(daemon)
    daemon.wait_for_log("hueyd consumer for shop started", timeout=30)
    daemon.signal(signal.SIGHUP)  # a check of the project in a child, then a re-exec
    end = daemon.wait_for_log("re-executing", timeout=30)
    daemon.wait_for_log("hueyd consumer for shop started", timeout=30, start=end)
    project.shell("from notes.tasks import add_note; add_note('after the reload')")
    wait_for(lambda: project.notes() == ["after the reload"], 30,
             message=lambda: f"the row; output:\n{daemon.output}")
    assert daemon.running() and "refused" not in daemon.output


SETTINGS_FORMS = '''\
from types import SimpleNamespace as S
from django.core.exceptions import ImproperlyConfigured
from hueyd import MemoryHuey, PriorityRedisHuey, RedisHuey
from hueyd.contrib.djhuey.from_settings import build
from hueyd.contrib.djhuey.management.commands.run_huey import from_settings
from hueyd.daemon.config import ConfigError

unset = build(S(DATABASES={"default": {"NAME": "/srv/shop/db.sqlite3"}}, DEBUG=True))
assert type(unset) is RedisHuey and unset.name == "/srv/shop/db.sqlite3", unset.name
huey = build(S(DEBUG=True, HUEY={
    "huey_class": "huey.PriorityRedisHuey", "name": "x", "results": False,
    "connection": {"url": "redis://127.0.0.1:1/3"}, "consumer": {"workers": 9}}))
assert type(huey) is PriorityRedisHuey and huey.name == "x" and huey.immediate
assert not huey.results and huey.storage_kwargs["url"] == "redis://127.0.0.1:1/3"
huey = build(S(DEBUG=False, HUEY={"huey_class": "hueyd.MemoryHuey"}))
assert huey.name == "huey" and not huey.immediate  # immediate follows DEBUG
given = MemoryHuey("given")
assert build(S(HUEY=given)) is given
for bad, text in [({"huey_class": "nosuch.Huey"}, "cannot import nosuch.Huey"),
                  ({"huey_class": "collections.OrderedDict"}, "not a hueyd Huey class"),
                  ({"connection": "redis://x"}, "expected a dict"),
                  ("redis://x", "expected a hueyd Huey or a dict")]:
    try:
        build(S(DEBUG=False, HUEY=bad))
    except ImproperlyConfigured as exc:
        assert text in str(exc), (text, str(exc))
    else:
        raise AssertionError(bad)
consumer = {"initial_delay": 0.5, "check_worker_health": False, "verbose": True,
            "workers": 3, "worker_type": "process", "logfile": "/tmp/x.log"}
assert from_settings({"consumer": consumer}) == {
    "delay": 0.5, "health_check": False, "log_level": "DEBUG", "workers": 3,
    "worker_type": "process", "log_file": "/tmp/x.log"}
for bad in ({"nope": 1}, {"workers": "many"}, {"daemonize": True}):
    try:
        from_settings({"consumer": bad})
    except ConfigError as exc:
        assert "HUEY['consumer']" in str(exc), str(exc)
    else:
        raise AssertionError(bad)
print("ok")
'''


def test_the_huey_setting_in_each_of_hueys_forms(project):
    done = subprocess.run([project.python, "-c", SETTINGS_FORMS], cwd=project.dir,
                          env=project.env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_check_says_when_django_is_not_installed(tmp_path):
    """A Python without Django (a bare virtualenv here): the line says what to set."""
    bare = tmp_path / "bare"
    subprocess.run([DEBIAN_PYTHON, "-m", "venv", "--without-pip", str(bare)], check=True,
                   timeout=60)
    shutil.copytree(EXAMPLE, tmp_path / "project")
    done = subprocess.run([str(bare / "bin" / "python"), "-m", "hueyd", "check", "--offline",
                           "--django-settings", "shop.settings"], cwd=tmp_path / "project",
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 78 and done.stderr.count("\n") == 1, done
    assert "django_settings: Django is not installed (set virtualenv" in done.stderr


def test_run_huey_without_autoload_registers_no_app_tasks(project, daemons):
    daemon = start(project, [project.python, "manage.py", "run_huey"], "-A", "-m", "0.2")
    daemons.append(daemon)
    daemon.wait_for_log("the following tasks are available", timeout=30)  # the banner's last
    assert "notes.tasks.add_note" not in daemon.output, daemon.output


ON_COMMIT = """\
from django.db import transaction
from probe.tasks import add_after_commit
try:
    with transaction.atomic():
        add_after_commit("rolled back")
        raise RuntimeError("roll back")
except RuntimeError:
    pass
with transaction.atomic():
    result = add_after_commit("committed")
print(result.get(blocking=True, timeout=20))
"""


def test_on_commit_task_enqueues_only_what_commits(project, daemons):
    project.add_probe()
    daemon = start(project, [project.python, "manage.py", "run_huey"], "-m", "0.2")
    daemons.append(daemon)
    daemon.wait_for_log("hueyd consumer for shop started", timeout=30)
    assert project.shell(ON_COMMIT) == "1", daemon.output
    assert project.notes() == ["committed"]
