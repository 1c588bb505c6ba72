"""Issue 7's scenario: the .deb on a bookworm machine with systemd as PID 1, as an
administrator uses it. One machine for the module; the steps run in order, each step
an assertion, and each brings the instance it needs into a known state itself so that
one failing step does not hide the others.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.system.blog_admin import Admin, blog_config, deb_version

pytestmark = pytest.mark.system

LOG_FILE = "/var/log/hueyd/blog.log"
#: log lines that say which process wrote them (master or worker)
PID_FORMAT = "%(process)d %(levelname)s %(name)s: %(message)s"
UNIT_STATES = {"active", "reloading", "inactive", "failed", "activating", "deactivating"}


@pytest.fixture(scope="module")
def admin(machine) -> Admin:
    hands = Admin(machine)
    hands.deploy_app()
    return hands


@pytest.fixture(scope="module")
def progress() -> set[str]:
    """What the earlier steps achieved; a later step that needs it fails with the reason."""
    return set()


def need(progress: set[str], what: str, step: str) -> None:
    if what not in progress:
        pytest.fail(f"needs {step}, which did not succeed", pytrace=False)


def running(seen: dict[str, str]) -> bool:
    return (seen.get("ActiveState"), seen.get("SubState")) == ("active", "running")


def restart_with(admin: Admin, instance: str, config: dict) -> int:
    """Write the instance's config, (re)start it, and return its MainPID once running."""
    admin.write_config(instance, config)
    admin.systemctl("restart", f"hueyd@{instance}")
    seen = admin.unit(instance, "ActiveState", "SubState", "MainPID")
    assert running(seen), f"hueyd@{instance} is {seen}\n{admin.journal_tail(instance)}"
    return int(seen["MainPID"])


def hold(check, seconds: float, what: str) -> None:
    """Assert ``check()`` stays true for ``seconds`` (proves that something does NOT happen)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert check(), what
        time.sleep(0.25)


def test_01_install_creates_the_user_and_enables_the_target(admin, progress, hueyd_deb):
    ran = admin.install_deb(hueyd_deb)
    assert ran.returncode == 0, ran.describe()
    assert admin.box.run("getent", "passwd", "hueyd", check=False).returncode == 0
    assert admin.systemctl("is-enabled", "hueyd.target", check=False).stdout.strip() == "enabled"
    progress.add("installed")


def test_01b_installed_units_verify_silently(admin, progress):
    need(progress, "installed", "step 1 (install)")
    ran = admin.box.run("systemd-analyze", "verify", "--man=no", "hueyd.target",
                        "/lib/systemd/system/hueyd@.service", check=False)
    assert (ran.returncode, ran.stdout + ran.stderr) == (0, ""), ran.describe()


def test_02_enable_now_returns_only_after_ready(admin, progress):
    need(progress, "installed", "step 1 (install)")
    admin.write_config("blog", blog_config("blog", 1))
    admin.systemctl("enable", "--now", "hueyd@blog")
    # read at once: with Type=notify, `start` returned because READY=1 arrived
    seen = admin.unit("blog", "Type", "ActiveState", "SubState", "StatusText", "UnitFileState")
    assert seen["Type"] == "notify"
    assert running(seen), f"{seen}\n{admin.journal_tail('blog')}"
    assert re.search(r"\b2 thread workers\b", seen["StatusText"]), seen
    assert re.search(r"\b\d+ queued\b", seen["StatusText"]), seen
    assert seen["UnitFileState"] == "enabled"
    progress.add("blog")


def test_03_a_task_runs_and_its_result_is_read_back(admin, progress):
    need(progress, "blog", "step 2 (hueyd@blog running)")
    assert admin.run_task("blog", "add", 2, 3) == 5
    admin.wait_unit("blog", lambda s: re.search(r"\b[1-9]\d* done\b", s["StatusText"]),
                    15, "STATUS to count the task done")


def test_04_the_error_journal_has_the_whole_traceback_and_no_info(admin, progress):
    need(progress, "blog", "step 2 (hueyd@blog running)")
    token = f"e2e failure {time.time_ns()}"
    outcome = admin.result("blog", admin.enqueue("blog", "fail", token))
    assert token in outcome.get("error", ""), outcome
    full = admin.wait_journal("blog", re.escape(token))
    errors = admin.journal("blog", "-p", "err", "-o", "cat")
    lines = full.splitlines()
    ends = [i for i, line in enumerate(lines) if line.startswith(f"ValueError: {token}")]
    assert ends, f"no 'ValueError: {token}' line in the journal:\n{full[-3000:]}"
    starts = [i for i in range(ends[-1]) if lines[i].startswith("Traceback (most recent call")]
    assert starts, f"no traceback before the error in the journal:\n{full[-3000:]}"
    first, last = starts[-1], ends[-1]
    traceback = lines[max(first - 1, 0):last + 1]  # the log message, then the traceback
    assert any('blog/main.py", line' in line for line in traceback), traceback
    missing = [line for line in traceback if line not in errors.splitlines()]
    assert not missing, f"traceback lines not at priority err: {missing}\n--- -p err ---\n{errors}"
    info = [e["MESSAGE"] for e in admin.journal_entries("blog", "-p", "info..info")
            if e.get("_PID") != "1" and isinstance(e.get("MESSAGE"), str)]
    assert info, "hueyd wrote no INFO lines to the journal (all at one priority?)"
    leaked = [line for line in info if line in errors.splitlines()]
    assert not leaked, f"INFO lines under -p err: {leaked[:5]}"
    assert not re.search(r"^<\d>", errors, re.M), "a <N> prefix reached the journal text"


def test_05_logrotate_moves_master_and_workers_to_the_new_file(admin, progress):
    need(progress, "installed", "step 1 (install)")
    logging = {"level": "INFO", "file": LOG_FILE, "format": PID_FORMAT}
    master = restart_with(admin, "blog", blog_config("blog", 1, worker_type="process",
                                                     logging=logging))
    assert admin.run_task("blog", "add", 1, 2) == 3
    admin.box.run("logrotate", "-f", "/etc/logrotate.d/hueyd")
    rotated = LOG_FILE + ".1"
    assert admin.box.run("test", "-f", rotated, check=False).returncode == 0, \
        admin.box.run("ls", "-l", "/var/log/hueyd").stdout
    wait_log(admin, lambda text: master in writers(text), "a line of the master in the new file")
    before = admin.box.run("stat", "-c", "%s", rotated).stdout.strip()
    ids = [admin.enqueue("blog", "slow", 1.0) for _ in range(2)]  # one per worker
    for task_id in ids:
        assert admin.result("blog", task_id).get("value") == 1.0
    text = wait_log(admin, lambda text: len(writers(text, r"executing blog\.main\.slow")) == 2,
                    "lines of both process workers in the new file")
    workers = writers(text, r"executing blog\.main\.slow")
    assert master not in workers and workers <= set(admin.children(master)), \
        (master, workers, admin.children(master))
    assert admin.box.run("stat", "-c", "%s", rotated).stdout.strip() == before, \
        "a process kept writing to the rotated file"
    assert admin.box.run("stat", "-c", "%U", LOG_FILE).stdout.strip() == "hueyd"


def writers(text: str, pattern: str = "") -> set[int]:
    """The PIDs (PID_FORMAT) that wrote lines of ``text`` matching ``pattern``."""
    return {int(m) for m in re.findall(rf"^(\d+) .*{pattern}", text, re.M)}


def wait_log(admin: Admin, accept, what: str, timeout: float = 20.0) -> str:
    """The current log file's text once ``accept`` likes it."""
    deadline = time.monotonic() + timeout
    while True:
        text = admin.box.run("cat", LOG_FILE, check=False).stdout
        if accept(text):
            return text
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}; {LOG_FILE}:\n{text[-3000:]}")
        time.sleep(0.2)


def test_06_reload_applies_new_workers_and_survives_a_broken_yaml(admin, progress):
    need(progress, "installed", "step 1 (install)")
    config = blog_config("blog", 1, worker_type="process")
    master = restart_with(admin, "blog", config)
    kids = len(admin.children(master))
    admin.box.run("systemd-run", "--unit=e2e-states", "-p", "RuntimeMaxSec=120", "/bin/sh", "-c",
                  "while :; do systemctl show -p ActiveState --value hueyd@blog; sleep 0.05; done")
    try:
        busy = admin.enqueue("blog", "slow", 2.0)  # the reload lets it finish first
        admin.wait_dequeued("blog")
        admin.write_config("blog", {**config, "workers": 3})
        admin.systemctl("reload", "hueyd@blog")
        seen = admin.wait_unit("blog", lambda s: running(s) and "3 process workers"
                               in s["StatusText"], 60, "3 process workers after reload")
        assert admin.result("blog", busy).get("value") == 2.0
    finally:
        admin.systemctl("stop", "e2e-states", check=False)
    states = [line for line in admin.box.journal("-u", "e2e-states", "-o", "cat").split()
              if line in UNIT_STATES]  # without systemd's own lines about the sampler
    assert "reloading" in states, f"never saw the unit reloading: {states}"
    assert states[-1] == "active" and states.index("reloading") > states.index("active"), states
    assert int(seen["MainPID"]) == master, "reload must keep the main process"
    admin.wait_unit("blog", lambda s: len(admin.children(master)) == kids + 1, 15,
                    f"{kids + 1} worker processes")

    mark = admin.cursor()
    admin.write_config("blog", "app: blog.main.huey\nworkers: [3\n")  # not even YAML
    ran = admin.systemctl("reload", "hueyd@blog", check=False)
    assert ran.returncode != 0, ran.describe()  # refused: the reload job fails
    errors = admin.wait_journal("blog", r"blog\.yaml", "-p", "err", after=mark)
    assert "Traceback" not in errors
    admin.write_config("blog", {**config, "workers": 3})  # the client reads it too
    seen = admin.wait_unit("blog", running, 15, "active after the refused reload")
    assert int(seen["MainPID"]) == master and "3 process workers" in seen["StatusText"], seen
    assert admin.run_task("blog", "add", 4, 4) == 8


def test_07_a_task_stuck_past_task_timeout_trips_the_watchdog(admin, progress):
    need(progress, "installed", "step 1 (install)")
    admin.drop_in("wd", "[Service]\nWatchdogSec=3s\nRestartSec=1s\nTimeoutStopSec=15s\n")
    try:
        first = restart_with(admin, "wd", blog_config("wd", 7, workers=1, task_timeout=2,
                                                      shutdown_timeout=1))
        assert admin.unit("wd", "NRestarts")["NRestarts"] == "0"
        admin.enqueue("wd", "slow", 3600)  # a thread cannot be interrupted: stuck for good
        admin.wait_unit("wd", lambda s: int(s["NRestarts"]) >= 1, 60, "a restart")
        admin.wait_journal("wd", r"[Ww]atchdog timeout", timeout=5)
        admin.wait_journal("wd", r"Fatal Python error: Aborted", timeout=5)  # faulthandler
        admin.wait_unit("wd", lambda s: running(s) and int(s["MainPID"]) != first, 30,
                        "active again with a new main process")
    finally:
        admin.systemctl("stop", "hueyd@wd", check=False, timeout=60)
        # the stuck task must not come back in a later run of this instance
        admin.box.run("redis-cli", "-n", "7", "flushdb", check=False)
        admin.box.run("sh", "-c", "rm -f /var/lib/hueyd/wd/*.db*", check=False)
        admin.box.run("rm", "-rf", "/etc/systemd/system/hueyd@wd.service.d")
        admin.systemctl("daemon-reload", check=False)


def test_08_stop_lets_a_running_task_finish(admin, progress):
    need(progress, "installed", "step 1 (install)")
    restart_with(admin, "blog", blog_config("blog", 1))
    task_id = admin.enqueue("blog", "slow", 3.0)
    admin.wait_dequeued("blog")
    started = time.monotonic()
    admin.systemctl("stop", "hueyd@blog")  # check=True: stop returns 0
    took = time.monotonic() - started
    assert admin.result("blog", task_id, timeout=1).get("value") == 3.0, f"stop took {took:.1f}s"
    seen = admin.unit("blog", "ActiveState", "MainPID", "ExecMainStatus", "Result")
    assert (seen["ActiveState"], seen["MainPID"]) == ("inactive", "0"), seen
    assert (seen["ExecMainStatus"], seen["Result"]) == ("0", "success"), seen
    left = admin.leftovers("hueyd@blog.service")
    assert not left, left


def test_09_a_broken_config_fails_with_78_and_never_restarts(admin, progress):
    need(progress, "installed", "step 1 (install)")
    admin.write_config("bad", "app: blog.main.huey\npythonpath: [/opt/blog]\nworkers: -3\n")
    ran = admin.systemctl("start", "hueyd@bad", check=False)
    assert ran.returncode != 0, ran.describe()
    seen = admin.wait_unit("bad", lambda s: s["ActiveState"] == "failed", 10, "failed")
    assert seen["ExecMainStatus"] == "78", seen
    hold(lambda: admin.unit("bad", "NRestarts", "ActiveState") ==
         {"NRestarts": "0", "ActiveState": "failed"}, 5, "hueyd@bad restarted")
    errors = admin.journal("bad", "-p", "err", "-o", "cat")
    assert re.search(r"bad\.yaml.*workers|workers.*bad\.yaml", errors), errors
    assert "Traceback" not in admin.journal("bad", "-o", "cat")
    admin.systemctl("reset-failed", "hueyd@bad", check=False)


def test_10_two_instances_keep_separate_folders(admin, progress):
    need(progress, "installed", "step 1 (install)")
    blog = restart_with(admin, "blog", blog_config("blog", 1))
    # the shop keeps its queue in SQLite, in its own state folder
    shop_config = blog_config("shop", 2)
    shop_config.pop("redis_url", None)
    admin.write_config("shop", {**shop_config, "sqlite_path": "/var/lib/hueyd/shop/shop.db"})
    admin.systemctl("enable", "--now", "hueyd@shop")
    shop = admin.main_pid("shop")
    assert blog != shop and shop > 0
    for name, pid in (("blog", blog), ("shop", shop)):
        env = admin.box.run("sh", "-c", f"tr '\\0' '\\n' < /proc/{pid}/environ").stdout
        assert f"STATE_DIRECTORY=/var/lib/hueyd/{name}" in env.splitlines(), env
        assert f"RUNTIME_DIRECTORY=/run/hueyd/{name}" in env.splitlines(), env
        for folder in (f"/var/lib/hueyd/{name}", f"/run/hueyd/{name}"):
            assert admin.box.run("stat", "-c", "%U", folder).stdout.strip() == "hueyd"
    assert admin.run_task("blog", "add", 1, 1) == 2
    assert admin.run_task("shop", "add", 2, 2) == 4
    assert admin.box.run("stat", "-c", "%U", "/var/lib/hueyd/shop/shop.db").stdout.strip() \
        == "hueyd"
    admin.systemctl("stop", "hueyd@shop")
    assert admin.box.run("test", "-d", "/run/hueyd/blog", check=False).returncode == 0
    assert admin.box.run("test", "-e", "/run/hueyd/shop", check=False).returncode != 0
    assert running(admin.unit("blog", "ActiveState", "SubState"))
    admin.systemctl("start", "hueyd@shop")
    progress.add("two instances")


@pytest.mark.parametrize("kind, db", [("thread", 3), ("process", 4), ("greenlet", 5)])
def test_11_every_worker_type_runs_under_the_shipped_hardening(admin, progress, kind, db):
    need(progress, "installed", "step 1 (install)")
    instance = f"kind-{kind}"
    admin.write_config(instance, blog_config(instance, db, worker_type=kind))
    try:
        admin.systemctl("start", f"hueyd@{instance}")
        seen = admin.unit(instance, "ActiveState", "SubState", "StatusText", "DropInPaths")
        assert running(seen), f"{seen}\n{admin.journal_tail(instance)}"
        assert f"2 {kind} workers" in seen["StatusText"], seen
        assert seen["DropInPaths"] == "", "the shipped unit must run unchanged"
        assert admin.run_task(instance, "add", 20, 22) == 42
        assert admin.run_task(instance, "slow", 0.2) == 0.2
        # process workers ask for a parent-death signal (prctl through ctypes): the filter
        # and MemoryDenyWriteExecute allow it, or each worker would say so
        assert "stops only between tasks" not in admin.journal(instance, "-o", "cat")
        admin.systemctl("stop", f"hueyd@{instance}")
        assert admin.unit(instance, "ExecMainStatus")["ExecMainStatus"] == "0"
    finally:
        admin.systemctl("stop", f"hueyd@{instance}", check=False)


def test_12_upgrade_restarts_instances_and_purge_leaves_nothing(admin, progress,
                                                                hueyd_upgrade_deb):
    need(progress, "two instances", "step 10 (blog and shop running)")
    before = {name: admin.main_pid(name) for name in ("blog", "shop")}
    assert all(before.values()), before
    ran = admin.install_deb(hueyd_upgrade_deb)
    assert ran.returncode == 0, ran.describe()
    version = admin.box.run("dpkg-query", "-W", "-f", "${Version}", "hueyd").stdout
    assert version == deb_version(hueyd_upgrade_deb)
    for name, old in before.items():
        admin.wait_unit(name, lambda s, old=old: running(s) and int(s["MainPID"]) not in (0, old),
                        60, "a restart by the upgrade")
    # a running task makes the graceful stop take 2 s: purge must wait for it, not return
    # while the instances are still stopping
    admin.enqueue("blog", "slow", 2.0)
    admin.wait_dequeued("blog")
    ran = admin.box.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "-q",
                        "hueyd", check=False, timeout=300)
    assert ran.returncode == 0, ran.describe()
    units = admin.systemctl("list-unit-files", "--no-legend", "hueyd*", check=False).stdout
    assert units.strip() == "", units
    for name in before:
        assert admin.systemctl("is-active", f"hueyd@{name}", check=False).stdout.strip() \
            != "active"
    left = admin.leftovers()
    assert not left, left
