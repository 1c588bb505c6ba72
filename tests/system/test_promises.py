"""What the README and the man page promise operators, checked where they would see it:
in a booted bookworm machine, on the installed package and its shipped unit.

Restart after a crash (RestartSec=), a missing config (AssertPathExists=), hueyd.target,
Redis over a Unix socket, the sandbox's guarantees as task code meets them (EPERM, socket
families, no writable-and-executable memory, a private /tmp), an upgrade that leaves stopped
instances stopped, and what `apt remove` and `apt purge` keep. One machine for the module;
the steps run in order and each brings its instance to a known state itself.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.helpers import wait_for
from tests.system.blog_admin import Admin, blog_config

pytestmark = pytest.mark.system

PROBE_DIR = "/opt/probe"
#: an app whose task reports what the sandbox lets task code do (the outcome of each call)
PROBE_APP = '''
import errno, mmap, os, socket
from hueyd import RedisHuey

huey = RedisHuey("probe", url="redis://127.0.0.1:6379/9")


def outcome(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "allowed"


def status_field(name):
    with open("/proc/self/status") as f:
        return next(line.split()[1] for line in f if line.startswith(name + ":"))


@huey.task()
def sandbox():
    cpus = os.sched_getaffinity(0)
    return {
        "affinity": outcome(lambda: os.sched_setaffinity(0, cpus)),
        "nice": outcome(lambda: os.nice(1)),
        "setuid": outcome(lambda: os.setuid(0)),
        "netlink": outcome(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()),
        "packet": outcome(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()),
        "unix": outcome(lambda: socket.socket(socket.AF_UNIX).close()),
        "inet": outcome(lambda: socket.socket(socket.AF_INET).close()),
        "write_exec": outcome(lambda: mmap.mmap(
            -1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()),
        "write_usr": outcome(lambda: open("/usr/lib/hueyd-probe", "w").close()),
        "no_new_privs": status_field("NoNewPrivs"),
        "host_tmp_visible": os.path.exists("/tmp/hueyd-host-marker"),
    }
'''
PROBE_CLIENT = '''
import json, sys
sys.path.insert(0, "/opt/probe")
from probe_app import sandbox
print(json.dumps(sandbox().get(blocking=True, timeout=30)))
'''


@pytest.fixture(scope="module")
def admin(machine, hueyd_deb) -> Admin:
    hands = Admin(machine)
    hands.deploy_app()
    ran = hands.install_deb(hueyd_deb)
    assert ran.returncode == 0, ran.describe()
    return hands


def running(seen: dict[str, str]) -> bool:
    return (seen.get("ActiveState"), seen.get("SubState")) == ("active", "running")


def start(admin: Admin, instance: str, db: int, **settings) -> int:
    """Write the instance's config, enable and (re)start it; its MainPID once running."""
    admin.write_config(instance, blog_config(instance, db, **settings))
    admin.systemctl("enable", f"hueyd@{instance}")
    admin.systemctl("restart", f"hueyd@{instance}")
    seen = admin.wait_unit(instance, running, 30, "running")
    return int(seen["MainPID"])


def test_a_crash_is_restarted_after_restart_sec(admin):
    pid = start(admin, "crash", 1)
    before = int(admin.unit("crash", "NRestarts")["NRestarts"])
    killed = time.monotonic()
    admin.box.run("kill", "-KILL", str(pid))
    seen = admin.wait_unit("crash", lambda s: running(s) and int(s["MainPID"]) != pid, 30,
                           "the restart after the crash")
    elapsed = time.monotonic() - killed
    assert int(seen["NRestarts"]) == before + 1, seen
    assert 2.0 <= elapsed < 15, f"restarted {elapsed:.2f}s after the crash (RestartSec=2s)"
    assert admin.run_task("crash", "add", 1, 2) == 3
    admin.systemctl("disable", "--now", "hueyd@crash")


def test_a_missing_config_fails_the_start_at_once_and_never_restarts(admin):
    asked = time.monotonic()
    ran = admin.systemctl("start", "hueyd@nothere", check=False)
    assert ran.returncode != 0, ran.describe()
    assert time.monotonic() - asked < 10
    seen = admin.unit("nothere", "AssertResult", "ActiveState", "NRestarts")
    assert seen["AssertResult"] == "no", seen
    end = time.monotonic() + 3
    while time.monotonic() < end:  # nothing tries again
        seen = admin.unit("nothere", "ActiveState", "NRestarts")
        assert seen["ActiveState"] != "activating" and seen["NRestarts"] == "0", seen
        time.sleep(0.25)


def test_the_target_stops_and_starts_every_enabled_instance(admin):
    pids = {name: start(admin, name, db) for name, db in (("alpha", 2), ("beta", 3))}
    admin.write_config("gamma", blog_config("gamma", 4))  # configured, never enabled
    admin.systemctl("stop", "hueyd.target")
    for name in ("alpha", "beta", "gamma"):
        assert admin.unit(name, "ActiveState")["ActiveState"] in ("inactive", "failed")
    assert admin.leftovers() == []
    admin.systemctl("start", "hueyd.target")
    for name, old in pids.items():
        admin.wait_unit(name, lambda s, old=old: running(s) and int(s["MainPID"]) != old, 30,
                        "started by hueyd.target")
    assert admin.unit("gamma", "ActiveState")["ActiveState"] == "inactive"
    restarted = {name: admin.main_pid(name) for name in pids}
    admin.systemctl("restart", "hueyd.target")
    for name, old in restarted.items():
        admin.wait_unit(name, lambda s, old=old: running(s) and int(s["MainPID"]) != old, 30,
                        "restarted by hueyd.target")
        assert admin.run_task(name, "add", 2, 2) == 4


def test_redis_over_a_unix_socket_as_the_readme_says(admin):
    admin.box.sh("""
        printf 'unixsocket /run/redis/redis-server.sock\\nunixsocketperm 770\\n' \
            >> /etc/redis/redis.conf
        systemctl restart redis-server
        usermod -aG redis hueyd
    """)
    start(admin, "socket", 5, redis_url="unix:///run/redis/redis-server.sock?db=5")
    assert admin.run_task("socket", "add", 20, 22) == 42
    admin.systemctl("disable", "--now", "hueyd@socket")


def test_task_code_meets_the_sandbox_the_readme_lists(admin):
    admin.box.run("mkdir", "-p", PROBE_DIR)  # deploying an app's code is the operator's step
    admin.box.write_file(f"{PROBE_DIR}/probe_app.py", PROBE_APP)
    admin.box.write_file(f"{PROBE_DIR}/client.py", PROBE_CLIENT)
    admin.box.write_file("/tmp/hueyd-host-marker", "the machine's own /tmp\n")
    for kind in ("thread", "process", "greenlet"):
        admin.write_config("probe", {"app": "probe_app.huey", "pythonpath": [PROBE_DIR],
                                     "workers": 1, "worker_type": kind})
        admin.systemctl("restart", "hueyd@probe")
        admin.wait_unit("probe", running, 30, "running")
        ran = admin.box.run("python3", f"{PROBE_DIR}/client.py", timeout=60)
        seen = json.loads(ran.stdout.strip().splitlines()[-1])
        assert seen == {
            "affinity": "EPERM", "nice": "EPERM", "setuid": "EPERM",
            "netlink": "EAFNOSUPPORT", "packet": "EAFNOSUPPORT",
            "unix": "allowed", "inet": "allowed",
            "write_exec": "EPERM", "write_usr": "EROFS",
            "no_new_privs": "1", "host_tmp_visible": False,
        }, (kind, seen)
    admin.systemctl("stop", "hueyd@probe")


SCRAPE = """
import sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:9808/metrics", timeout=10) as reply:
    sys.stdout.write(reply.read().decode())
"""


def test_the_metrics_endpoint_and_status_name_under_the_hardened_unit(admin):
    # python3-prometheus-client came with the .deb (a Recommends: the image holds it)
    start(admin, "metrics", 6, metrics={"listen": "127.0.0.1:9808"})
    assert admin.run_task("metrics", "add", 2, 3) == 5

    def scraped() -> str:
        ran = admin.box.run("python3", "-c", SCRAPE, check=False, timeout=30)
        text = ran.stdout if ran.returncode == 0 else ""
        done = [line for line in text.splitlines() if line.startswith("hueyd_tasks_total{")
                and 'task="add"' in line and 'outcome="completed"' in line
                and line.endswith("} 1.0")]
        return text if done and "hueyd_consumers_alive" in text else ""
    text = wait_for(scraped, 30, interval=0.5, message="the endpoint inside the unit")
    assert 'hueyd_storage_up{queue="' in text

    def reported() -> bool:  # /etc/hueyd/metrics.yaml, found by its instance name
        ran = admin.box.run("hueyd", "status", "metrics", "--json", timeout=60)
        consumers = json.loads(ran.stdout)["consumers"]
        return [c["completed_last_minute"] for c in consumers if c["alive"]] == [1]
    wait_for(reported, 30, interval=1, message="hueyd status metrics to show the task")
    admin.systemctl("disable", "--now", "hueyd@metrics")


def test_an_upgrade_leaves_stopped_instances_stopped(admin, hueyd_upgrade_deb):
    running_pid = start(admin, "alpha", 2)
    start(admin, "beta", 3)
    admin.systemctl("stop", "hueyd@beta")  # the operator stopped it; it stays enabled
    ran = admin.install_deb(hueyd_upgrade_deb)
    assert ran.returncode == 0, ran.describe()
    admin.wait_unit("alpha", lambda s: running(s) and int(s["MainPID"]) != running_pid, 60,
                    "a restart by the upgrade")
    assert admin.unit("beta", "ActiveState")["ActiveState"] == "inactive"
    assert admin.systemctl("is-enabled", "hueyd@beta", check=False).stdout.strip() == "enabled"


def test_remove_keeps_config_state_and_logs_and_purge_keeps_only_config(admin):
    start(admin, "alpha", 2, logging={"file": "/var/log/hueyd/alpha.log"})
    assert admin.run_task("alpha", "add", 1, 1) == 2
    ran = admin.box.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "remove", "-y",
                        "-q", "hueyd", check=False, timeout=300)
    assert ran.returncode == 0, ran.describe()
    assert admin.leftovers() == []
    kept = admin.box.sh("ls -d /etc/hueyd/alpha.yaml /var/lib/hueyd /var/log/hueyd/alpha.log; "
                        "getent passwd hueyd >/dev/null && echo user", check=False)
    assert kept.stdout.split() == ["/etc/hueyd/alpha.yaml", "/var/lib/hueyd",
                                   "/var/log/hueyd/alpha.log", "user"], kept.describe()
    ran = admin.box.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y",
                        "-q", "hueyd", check=False, timeout=300)
    assert ran.returncode == 0, ran.describe()
    gone = admin.box.sh("for p in /var/lib/hueyd /var/log/hueyd "
                        "/etc/systemd/system/hueyd.target.wants; do "
                        "[ -e $p ] && echo $p; done; true")
    assert gone.stdout.split() == [], gone.stdout
    kept = admin.box.sh("ls /etc/hueyd/alpha.yaml; getent passwd hueyd >/dev/null && echo user",
                        check=False)
    assert kept.stdout.split() == ["/etc/hueyd/alpha.yaml", "user"], kept.describe()
