"""Issue 14, items 1 and 2, on a bookworm machine booted with systemd: the README's
production steps run verbatim on what ``apt install`` leaves, and ``systemctl reload``
after a bad deploy fails while the unit stays active on the old code.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.system.blog_admin import ROOT, Admin
from tests.system.test_scenario import need, running

pytestmark = pytest.mark.system

#: where the README's example puts the application (pythonpath: [/srv/blog])
APP = "/srv/blog"
MAIN = f"{APP}/blog/main.py"
#: the copy of release 1 that the client (a web process started before the deploys) runs
CLIENT_CODE = "/opt/hueyd-e2e/blog-release-1"
#: what ``editor /etc/hueyd/blog.yaml`` stands for: the README's values, each checked
EDITOR = r"""
editor() {
    sed -i -e 's|^pythonpath: \[\]$|pythonpath: [/srv/blog]|' -e 's|^workers: 1$|workers: 4|' \
        -e 's|^sqlite_path: null$|sqlite_path: /var/lib/hueyd/blog/queue.db|' "$1"
    grep -qx 'app: blog.main.huey' "$1" && grep -qx 'pythonpath: \[/srv/blog\]' "$1" &&
        grep -qx 'workers: 4' "$1" && grep -qx 'sqlite_path: /var/lib/hueyd/blog/queue.db' "$1"
}
"""
#: appended to the blog's main.py: which release of the code a worker runs
RELEASE_TASK = '''

@huey.task()
def release() -> int:
    return {number}
'''


def readme_block(heading: str) -> str:
    """The first ``sh`` block under the README's ``### heading``."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(f"\n### {heading}\n"):]
    return re.search(r"^```sh\n(.*?)^```$", section, re.M | re.S).group(1)


def stat(admin: Admin, path: str) -> str:
    return admin.box.run("stat", "-c", "%U:%G %a", path).stdout.strip()


@pytest.fixture(scope="module")
def admin(machine) -> Admin:
    return Admin(machine)


@pytest.fixture(scope="module")
def progress() -> set[str]:
    return set()


def test_01_install_makes_the_config_folder(admin, progress, hueyd_deb):
    ran = admin.install_deb(hueyd_deb)
    assert ran.returncode == 0, ran.describe()
    progress.add("installed")
    assert stat(admin, "/etc/hueyd") == "root:hueyd 750"
    assert admin.box.run("ls", "-A", "/etc/hueyd").stdout == ""


def test_02_the_readme_s_production_steps_verbatim(admin, progress):
    """cp the example, edit it, chown/chmod, check as hueyd, enable --now: nothing else
    prepared (the script stops at the first command that fails)."""
    need(progress, "installed", "step 1 (install)")
    admin.deploy_app(APP)
    steps = readme_block("Configure an instance") + readme_block("Enable and start")
    assert "cp /usr/share/doc/hueyd/examples/example.yaml /etc/hueyd/blog.yaml" in steps
    ran = admin.box.sh(EDITOR + steps, check=False, timeout=300)
    assert ran.returncode == 0, f"{ran.describe()}\n{admin.journal_tail('blog')}"
    assert "/etc/hueyd/blog.yaml is valid" in ran.stdout, ran.stdout
    assert stat(admin, "/etc/hueyd/blog.yaml") == "root:hueyd 640"
    seen = admin.unit("blog", "ActiveState", "SubState", "StatusText", "UnitFileState")
    assert running(seen) and seen["UnitFileState"] == "enabled", seen
    assert "4 thread workers" in seen["StatusText"], seen
    assert admin.run_task("blog", "add", 2, 3) == 5
    progress.add("blog")


def deploy(admin: Admin, number: int, broken: bool = False) -> None:
    """A new release of the blog's code in /srv/blog; ``broken``: it raises on import."""
    code = admin.box.run("cat", f"{APP}/blog/main.py.orig").stdout
    code += RELEASE_TASK.format(number=number)
    if broken:
        code += "\nraise RuntimeError('a bad deploy')\n"
    admin.box.write_file(MAIN, code)


def reload_done(admin: Admin, mark: str) -> None:
    """Until the re-executed image runs its workers (the reload's drain has ended)."""
    admin.wait_journal("blog", r"hueyd consumer for blog started", after=mark, timeout=60)


def test_03_a_bad_deploy_and_systemctl_reload_leave_the_old_code_running(admin, progress):
    need(progress, "blog", "step 2 (hueyd@blog running)")
    admin.box.run("cp", "-p", MAIN, f"{MAIN}.orig")
    deploy(admin, 1)
    admin.box.run("cp", "-r", APP, CLIENT_CODE)
    admin.client_code = CLIENT_CODE
    mark = admin.cursor()
    admin.systemctl("reload", "hueyd@blog")
    reload_done(admin, mark)
    assert admin.run_task("blog", "release") == 1
    before = admin.unit("blog", "MainPID", "NRestarts")

    deploy(admin, 2, broken=True)
    mark = admin.cursor()
    ran = admin.systemctl("reload", "hueyd@blog", check=False)
    assert ran.returncode != 0, ran.describe()
    seen = admin.unit("blog", "ActiveState", "SubState", "MainPID", "NRestarts", "StatusText")
    assert running(seen) and {k: seen[k] for k in before} == before, (before, seen)
    assert "reload refused" in seen["StatusText"] and "a bad deploy" in seen["StatusText"]
    errors = [line for line in admin.messages("blog", "-p", "err", after=mark).splitlines()
              if "a bad deploy" in line]
    assert len(errors) == 1 and "reload refused" in errors[0], errors
    assert "Traceback" not in admin.messages("blog", after=mark)
    end = time.monotonic() + 3  # and it stays so: no restart, no exit 78
    while time.monotonic() < end:
        assert admin.unit("blog", "MainPID", "NRestarts") == before
        time.sleep(0.25)
    assert admin.run_task("blog", "release") == 1  # the old code runs on

    deploy(admin, 2)  # the fix
    mark = admin.cursor()
    admin.systemctl("reload", "hueyd@blog")
    reload_done(admin, mark)
    assert admin.run_task("blog", "release") == 2
    seen = admin.unit("blog", "ActiveState", "SubState", "MainPID", "NRestarts", "StatusText")
    assert running(seen) and {k: seen[k] for k in before} == before, (before, seen)
    assert "refused" not in seen["StatusText"], seen


def test_04_a_statoverride_on_the_config_folder_wins(admin, progress):
    need(progress, "installed", "step 1 (install)")
    reconfigure = ("env", "DEBIAN_FRONTEND=noninteractive", "dpkg-reconfigure", "hueyd")
    admin.box.run("dpkg-statoverride", "--update", "--add", "root", "root", "0755", "/etc/hueyd")
    try:
        admin.box.run(*reconfigure, timeout=300)
        assert stat(admin, "/etc/hueyd") == "root:root 755"
    finally:
        admin.box.run("dpkg-statoverride", "--remove", "/etc/hueyd")
    admin.box.run(*reconfigure, timeout=300)
    assert stat(admin, "/etc/hueyd") == "root:hueyd 750"
