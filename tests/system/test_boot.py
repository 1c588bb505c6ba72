"""The harness itself: the cached image boots a real systemd, and teardown leaves nothing."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.system.nspawn import Container, reap_stale_containers
from tests.system.rootfs import PACKAGES, RootfsCache

pytestmark = pytest.mark.system


def test_systemd_is_pid1_and_the_system_is_running(machine):
    assert machine.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
    state = machine.run("systemctl", "is-system-running", check=False).stdout.strip()
    failed = machine.run("systemctl", "--failed", "--no-legend", "--plain").stdout
    assert state == "running", f"system is {state!r}; failed units:\n{failed}"
    assert machine.boot_seconds is not None and machine.boot_seconds < 30


def test_the_image_has_what_the_scenario_needs(machine):
    assert machine.run("systemctl", "is-active", "redis-server").stdout.strip() == "active"
    assert machine.run("redis-cli", "-h", "127.0.0.1", "ping").stdout.strip() == "PONG"
    machine.run("python3", "-c", "import redis, yaml, gevent, daemon")
    for tool in ("logrotate", "ps", "kill", "journalctl"):
        machine.run("sh", "-c", f"command -v {tool}")


def test_the_container_has_a_network_of_its_own(machine):
    """Its redis-server on 6379 must never meet a redis-server of the host."""
    inside = machine.run("readlink", "/proc/self/ns/net").stdout.strip()
    assert inside and inside != os.readlink("/proc/self/ns/net")


def test_the_journal_is_readable(machine):
    machine.run("systemd-cat", "-t", "e2e-probe", "echo", "hello from the probe")
    assert "hello from the probe" in machine.journal("-t", "e2e-probe", "-o", "cat")


def test_teardown_leaves_nothing_even_when_the_test_fails(rootfs):
    box = Container(rootfs, f"hueyd-teardown-{os.getpid()}")
    with pytest.raises(RuntimeError, match="the test failed"):
        with box:
            nspawn, leader = box.proc.pid, box.leader
            box.run("systemd-run", "--unit=e2e-sleeper", "sleep", "600")
            sleeper = int(box.run("systemctl", "show", "-p", "MainPID", "--value",
                                  "e2e-sleeper").stdout)
            assert sleeper > 0
            raise RuntimeError("the test failed")
    assert not box.alive()
    for pid in (nspawn, leader):
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} still runs"
    assert not any(d.exists() for d in box.cgroups), box.cgroups
    assert not box.workdir.exists()
    box.stop()  # idempotent


def test_a_container_left_by_a_killed_run_is_reaped(rootfs):
    gone = subprocess.Popen(["true"])
    gone.wait()  # a PID that no longer runs: the "killed test run" that owned the container
    box = Container(rootfs, f"hueyd-stale-{os.getpid()}", owner=gone.pid)
    try:
        box.boot()
        leader = box.leader
        assert box.name in reap_stale_containers()
        assert not any(d.exists() for d in box.cgroups)
        assert not Path(f"/proc/{leader}").exists() or _zombie(leader)
        box.proc.wait(10)  # our own child: reaped here, not left a zombie
    finally:
        box.stop()


def test_the_image_is_rebuilt_when_its_package_list_changes(rootfs):
    assert RootfsCache().fresh()
    assert not RootfsCache(packages=PACKAGES + ("hello",)).fresh()
    assert RootfsCache(packages=PACKAGES + ("hello",)).key != RootfsCache().key


def test_the_cached_image_never_sees_a_write_from_inside(machine, rootfs):
    machine.run("touch", "/etc/e2e-written-inside")
    assert machine.run("test", "-e", "/etc/e2e-written-inside", check=False).returncode == 0
    assert not (rootfs / "etc/e2e-written-inside").exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
