"""Issue 17 under a real systemd: the example Django project in its own virtualenv
(Django 5.2 and a redis-py of its own, not Debian's 3.2 and 4.3.4) under /srv/shop,
/etc/hueyd/shop.yaml with ``virtualenv`` and ``django_settings``: ``systemctl enable
--now hueyd@shop`` reaches READY under the hardened unit, a task enqueued from
``manage.py shell`` writes its row, ``systemctl reload`` keeps it running.

The virtualenv is scripts/django-venv's, built on the host with the same Python at the
same version and copied in (the container has no network)."""
from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.system.blog_admin import ROOT, Admin
from tests.system.test_scenario import need, running

pytestmark = pytest.mark.system

SRV = "/srv/shop"
VENV = f"{SRV}/venv"
PYTHON = f"{VENV}/bin/python"
STATE = "/var/lib/hueyd/shop"
#: what the app's own processes (manage.py) and the YAML's environment share
APP_ENV = {"SHOP_DB": f"{STATE}/shop.sqlite3", "SHOP_REDIS_URL": "redis://127.0.0.1:6379/7"}
CONFIG = {"django_settings": "shop.settings", "virtualenv": VENV, "pythonpath": [SRV],
          "workers": 2, "environment": APP_ENV}
#: what the earlier steps achieved (need() fails a later step with the reason)
progress = pytest.fixture(scope="module")(lambda: set())


@pytest.fixture(scope="module")
def admin(machine, hueyd_deb) -> Admin:
    """The administrator of a machine where hueyd's .deb is installed."""
    hands = Admin(machine)
    ran = hands.install_deb(hueyd_deb)
    assert ran.returncode == 0, ran.describe()
    return hands


def manage(admin: Admin, *args: str, timeout: float = 120.0) -> str:
    """``manage.py`` as the service's user, with the project's virtualenv."""
    env = [f"{k}={v}" for k, v in APP_ENV.items()]
    ran = admin.box.run("setpriv", "--reuid=hueyd", "--regid=hueyd", "--init-groups", "env",
                        f"--chdir={SRV}", *env, PYTHON, "manage.py", *args, check=False,
                        timeout=timeout)
    assert ran.returncode == 0, ran.describe()
    return ran.stdout


def shell(admin: Admin, code: str) -> str:
    """``manage.py shell -c code``: the last line it printed."""
    out = manage(admin, "shell", "-v", "0", "-c", code).strip().splitlines()
    return out[-1] if out else ""


def rows(admin: Admin) -> list[str]:
    return json.loads(shell(admin, "import json; from notes.models import Note; print(json."
                            "dumps(list(Note.objects.values_list('text', flat=True))))"))


def wait_rows(admin: Admin, expected: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := rows(admin)) != expected:
        if time.monotonic() >= deadline:
            raise AssertionError(f"rows {seen}, expected {expected}\n"
                                 f"{admin.journal_tail('shop')}")
        time.sleep(0.3)


def test_01_the_project_and_its_virtualenv_under_srv(admin, progress, django_venv):
    admin.box.run("mkdir", "-p", SRV)
    for part in ("manage.py", "shop", "notes"):
        admin.box.copy_in(ROOT / "examples" / "django" / part, SRV)
    admin.box.run("mv", admin.box.copy_in(django_venv, SRV), VENV)
    versions = shell(admin, "import django, redis; "
                     "print(django.get_version(), redis.__version__)").split()
    assert versions[0].startswith("5.2.") and versions[1] != "4.3.4", versions
    admin.box.run("install", "-d", "-o", "hueyd", "-g", "hueyd", "-m", "0750", STATE)
    manage(admin, "migrate", "-v", "0")
    progress.add("deployed")


def test_02_enable_now_reaches_ready_and_a_task_from_the_shell_writes_its_row(admin,
                                                                             progress):
    need(progress, "deployed", "step 1 (the project)")
    path = admin.write_config("shop", yaml.safe_dump(CONFIG, sort_keys=False))
    check = admin.box.run("setpriv", "--reuid=hueyd", "--regid=hueyd", "--init-groups",
                          "hueyd", "check", "--config", path, check=False)
    assert check.returncode == 0, check.describe()
    admin.systemctl("enable", "--now", "hueyd@shop")  # Type=notify: returns after READY=1
    seen = admin.unit("shop", "ActiveState", "SubState", "StatusText")
    assert running(seen) and "2 thread workers" in seen["StatusText"], \
        f"{seen}\n{admin.journal_tail('shop')}"
    assert "notes.tasks.add_note" in admin.messages("shop")
    shell(admin, "from notes.tasks import add_note; add_note('from the shell')")
    wait_rows(admin, ["from the shell"])
    progress.add("running")


def test_03_systemctl_reload_keeps_it_running(admin, progress):
    need(progress, "running", "step 2 (hueyd@shop running)")
    before = admin.unit("shop", "MainPID", "NRestarts")
    mark = admin.cursor()
    admin.systemctl("reload", "hueyd@shop")
    admin.wait_journal("shop", r"hueyd consumer for shop started", after=mark, timeout=60)
    seen = admin.unit("shop", "ActiveState", "SubState", "MainPID", "NRestarts")
    assert running(seen) and {k: seen[k] for k in before} == before, (before, seen)
    shell(admin, "from notes.tasks import add_note; add_note('after reload')")
    wait_rows(admin, ["from the shell", "after reload"])
    assert "Traceback" not in admin.messages("shop")
