"""``virtualenv:`` (issue 17): the app's virtualenv's packages win over Debian's in the
master, in process workers and after a reload's re-exec, while hueyd itself still comes
from the tree (the package); a folder that is not a virtualenv of the daemon's Python is
refused by ``hueyd check``: exit 78, one line naming it."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import HUEYD, ROOT, write_config

FAST = ("-n", "-c", "1", "-m", "0.2")


def in_venv(venv: Path, app, module: str) -> bool:
    where = app.tasks.module_file(module).get(blocking=True, timeout=30)
    return where.startswith(str(venv) + "/")


@pytest.mark.parametrize("worker_type", ["thread", "process"])
def test_the_venvs_redis_wins_in_workers_and_after_a_reload(make_app, hueyd_proc,
                                                            django_venv, worker_type):
    app = make_app("redis")
    config = write_config(app, virtualenv=str(django_venv), worker_type=worker_type)
    daemon = hueyd_proc(app, "--config", config, *FAST)
    assert in_venv(django_venv, app, "redis"), daemon.output
    assert in_venv(django_venv, app, "django")
    assert not in_venv(django_venv, app, "hueyd")  # hueyd is the daemon's own
    daemon.signal(signal.SIGHUP)  # the check child and the re-executed image
    daemon.wait_for_log("re-executing", timeout=30)
    daemon.wait_for_log("hueyd consumer for", timeout=30, start=daemon.output.find("re-executing"))
    assert in_venv(django_venv, app, "redis"), daemon.output
    assert "reload refused" not in daemon.output


def check(tmp_path: Path, *args: str, app: bool = True) -> subprocess.CompletedProcess:
    """``hueyd check`` of tasksapp.huey in ``tmp_path`` (``app``: a plain one written)."""
    if app:
        (tmp_path / "tasksapp.py").write_text("from hueyd import MemoryHuey\n"
                                              "huey = MemoryHuey()\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run([*HUEYD, "check", "tasksapp.huey", "--offline", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def make_venv(root: Path, version: str) -> Path:
    """A folder shaped as a virtualenv (pyvenv.cfg + site-packages) of Python ``version``."""
    major_minor = ".".join(version.split(".")[:2])
    (root / "lib" / f"python{major_minor}" / "site-packages").mkdir(parents=True)
    (root / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {version}\n")
    return root


def other_python() -> str:
    major, minor = sys.version_info[:2]
    return f"{major}.{minor + 1}.0"


@pytest.mark.parametrize("case", ["missing", "plain folder", "other python", "no version"])
def test_check_refuses_what_is_not_a_virtualenv_of_this_python(tmp_path, case):
    venv = tmp_path / "venv"
    expected = {"missing": "no such directory", "plain folder": "not a virtualenv",
                "other python": f"{venv}/pyvenv.cfg says Python {other_python()[:-2]}",
                "no version": "names no Python version"}[case]
    if case == "plain folder":
        venv.mkdir()
    elif case == "other python":
        make_venv(venv, other_python())
    elif case == "no version":
        make_venv(venv, "3.11.2")
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    done = check(tmp_path, "--virtualenv", str(venv))
    assert done.returncode == 78, done
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "virtualenv" in done.stderr and expected in done.stderr, done.stderr


APP_USING_THE_VENV = """\
import colorsys  # the standard library's: a virtualenv never shadows it
import from_pth  # found through the virtualenv's .pth file
assert colorsys.__file__.startswith(sys.base_prefix), colorsys.__file__
from hueyd import MemoryHuey
huey = MemoryHuey()
"""


def test_check_accepts_a_virtualenv_of_this_python_and_reads_its_pth_files(tmp_path):
    venv = make_venv(tmp_path / "venv", ".".join(map(str, sys.version_info[:3])))
    site_packages = next(venv.glob("lib/python*/site-packages"))
    (site_packages / "colorsys.py").write_text("raise ImportError('shadowed the stdlib')\n")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "from_pth.py").write_text("")
    (site_packages / "extra.pth").write_text(f"{tmp_path / 'extra'}\n")
    (tmp_path / "tasksapp.py").write_text("import sys\n" + APP_USING_THE_VENV)
    done = check(tmp_path, app=False)  # without the virtualenv: no .pth, no from_pth
    assert done.returncode == 78 and "from_pth" in done.stderr, done.stderr
    done = check(tmp_path, "--virtualenv", str(venv), app=False)
    assert done.returncode == 0, done.stderr
