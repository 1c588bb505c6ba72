"""Issue 14, item 3 under a real systemd: the README's key set-up, verbatim, signs the
queue of ``hueyd@blog``; its producers (the blog client, through ``hueyd.instance``) sign
with the same key; an unsigned message planted in the queue is a dead letter, never run.
Without a key, ``hueyd check`` and the start warn that Redis has no password.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.system.blog_admin import Admin, blog_config

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
KEY = "/etc/hueyd/blog.key"
#: the README's commands, run as they are written there
KEY_STEPS = ["(umask 027 && head -c 32 /dev/urandom | base64 > /etc/hueyd/blog.key)",
             "chgrp hueyd /etc/hueyd/blog.key"]
CHECK = ["runuser", "-u", "hueyd", "--", "hueyd", "check", "--config", "/etc/hueyd/blog.yaml"]
MARKER = "/var/lib/hueyd/blog/pwned"


@pytest.fixture(scope="module")
def admin(machine, hueyd_deb) -> Admin:
    hands = Admin(machine)
    ran = hands.install_deb(hueyd_deb)
    assert ran.returncode == 0, ran.describe()
    hands.deploy_app()
    return hands


def test_readme_shows_the_key_steps_verbatim():
    readme = (ROOT / "README.md").read_text()
    for step in KEY_STEPS:
        assert step in readme, step


def test_without_a_key_check_and_start_warn(admin):
    admin.write_config("blog", blog_config("blog", 1))
    ran = admin.box.run(*CHECK, check=False)
    assert ran.returncode == 0, ran.describe()
    assert "messages are not signed and Redis at 127.0.0.1:6379/1 has no password" \
        in ran.stderr, ran.describe()
    mark = admin.cursor()
    admin.systemctl("restart", "hueyd@blog")
    admin.wait_journal("blog", r"messages are not signed", "-p", "warning", after=mark)


def test_the_readme_key_signs_the_queue_and_a_planted_pickle_never_runs(admin):
    for step in KEY_STEPS:
        admin.box.sh(step)
    mode = admin.box.run("stat", "-c", "%a %U:%G", KEY).stdout.split()
    assert mode == ["640", "root:hueyd"]
    admin.write_config("blog", blog_config("blog", 1, secret_key_file=KEY))
    ran = admin.box.run(*CHECK, check=False)
    assert (ran.returncode, ran.stderr) == (0, ""), ran.describe()
    mark = admin.cursor()
    admin.systemctl("restart", "hueyd@blog")
    assert admin.run_task("blog", "add", 2, 3) == 5  # the client signs with the key
    assert admin.client("blog", "plant", MARKER) == {"planted": True}
    admin.wait_journal("blog", r"set aside a message of blog as a dead letter: "
                       r"missing signature", after=mark)
    assert admin.run_task("blog", "add", 1, 1) == 2  # still running
    listed = admin.box.run("hueyd", "dead-letter", "list", "--config", "/etc/hueyd/blog.yaml")
    assert "missing signature" in listed.stdout, listed.describe()
    assert admin.box.run("test", "-e", MARKER, check=False).returncode == 1
    text = admin.messages("blog", after=mark)
    assert text.count("missing signature") == 1, text
    assert "not signed" not in text
