"""The shipped systemd units and logrotate file, checked as files and with the real tools
(systemd-analyze security, logrotate). The installed-package checks are in test_deb.py."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import unavailable
from tests.packaging.build import ROOT
from tests.packaging.unitfile import last, parse_unit, seconds

pytestmark = pytest.mark.packaging

SERVICE = ROOT / "systemd" / "hueyd@.service"
TARGET = ROOT / "systemd" / "hueyd.target"
LOGROTATE = ROOT / "etc" / "logrotate.d" / "hueyd"
#: the daemon's default graceful-stop budget (YAML shutdown_timeout)
DEFAULT_SHUTDOWN_TIMEOUT = 60.0
EXPOSURE_MAX = 1.5

REQUIRED = {
    "Unit": {
        "Documentation": "man:hueyd(8)",
        "PartOf": "hueyd.target",
        "AssertPathExists": "/etc/hueyd/%i.yaml",
    },
    "Service": {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": "/usr/bin/hueyd run --config /etc/hueyd/%i.yaml",
        "ExecReload": "/usr/bin/hueyd reload $MAINPID",
        "KillSignal": "SIGINT",
        "KillMode": "mixed",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "78",
        "User": "hueyd",
        "Group": "hueyd",
        "StateDirectory": "hueyd/%i",
        "RuntimeDirectory": "hueyd/%i",
        "LogsDirectory": "hueyd",
        "WorkingDirectory": "/var/lib/hueyd/%i",
        "Environment": "PYTHONFAULTHANDLER=1",
    },
    "Install": {"WantedBy": "hueyd.target"},
}


@pytest.fixture(scope="module")
def service():
    return parse_unit(SERVICE)


@pytest.mark.parametrize("section,key,value", [
    (section, key, value) for section, keys in REQUIRED.items() for key, value in keys.items()])
def test_service_key(service, section, key, value):
    assert last(service, section, key) == value


def test_service_orders_after_network_and_local_redis(service):
    after = " ".join(service["Unit"]["After"]).split()
    assert "network-online.target" in after and "redis-server.service" in after


def test_stop_timeout_outlasts_graceful_shutdown(service):
    """systemd must not SIGKILL the master while it still drains within shutdown_timeout."""
    assert seconds(last(service, "Service", "TimeoutStopSec")) > DEFAULT_SHUTDOWN_TIMEOUT


def test_watchdog_enabled(service):
    assert seconds(last(service, "Service", "WatchdogSec")) > 0


def test_no_key_is_set_twice_by_accident(service):
    """Repeated keys override each other silently; only list-valued ones may repeat."""
    repeatable = {"SystemCallFilter", "After", "Wants", "Environment"}
    for section, keys in service.items():
        for key, values in keys.items():
            assert len(values) == 1 or key in repeatable, f"[{section}] {key}= set {len(values)}x"


def test_target_is_wanted_by_multi_user():
    target = parse_unit(TARGET)
    assert last(target, "Install", "WantedBy") == "multi-user.target"
    assert last(target, "Unit", "Documentation") == "man:hueyd(8)"


def security(unit_text: str, tmp_path: Path, name: str = "hueyd@test.service"):
    """`systemd-analyze security --offline=true --threshold=15` on an instantiated copy."""
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze missing: run scripts/setup-debian.sh test")
    path = tmp_path / name
    path.write_text(unit_text)
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=15", "--no-pager",
         str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    return proc.returncode, float(match.group(1)), proc.stdout + proc.stderr


def test_security_exposure_at_most_1_5(tmp_path):
    rc, exposure, output = security(SERVICE.read_text(), tmp_path)
    assert rc == 0, output
    assert exposure <= EXPOSURE_MAX, output


def test_security_threshold_fails_an_unhardened_unit(tmp_path):
    """The check above can fail: the same unit without the hardening is over the threshold."""
    bare = "\n".join(line for line in SERVICE.read_text().splitlines()
                     if not line.startswith(("Protect", "Private", "Restrict", "SystemCall",
                                             "Capability", "NoNewPrivileges", "Memory",
                                             "Lock", "RemoveIPC", "UMask", "User=")))
    rc, exposure, output = security(bare, tmp_path)
    assert rc != 0 and exposure > EXPOSURE_MAX, output


def test_unit_comments_explain_the_non_obvious_directives():
    """Each of these gets a comment right above it (or its group) in the unit."""
    lines = SERVICE.read_text().splitlines()
    for key in ("NotifyAccess", "ExecReload", "KillSignal", "TimeoutStopSec", "WatchdogSec",
                "RestartPreventExitStatus", "Environment", "StateDirectory", "PrivateUsers",
                "RemoveIPC", "MemoryDenyWriteExecute", "RestrictAddressFamilies",
                "SystemCallErrorNumber", "ProtectSystem", "PrivateMounts", "AssertPathExists",
                "PartOf"):
        index = next(i for i, line in enumerate(lines) if line.startswith(key + "="))
        above = lines[max(0, index - 4):index]
        assert any(line.startswith("#") for line in above), f"{key}= has no comment above it"


# --- logrotate -------------------------------------------------------------------------

def test_logrotate_file_settings():
    text = LOGROTATE.read_text()
    assert text.splitlines()[2].startswith("/var/log/hueyd/*.log {")
    for directive in ("su hueyd hueyd", "create 0640 hueyd hueyd", "missingok", "notifempty",
                      "sharedscripts"):
        assert re.search(rf"^\s*{re.escape(directive)}\s*$", text, re.M), directive
    assert ("systemctl kill --kill-whom=main -s USR1 'hueyd@*.service' >/dev/null 2>&1 || true"
            in text)


def test_logrotate_rotates_and_recreates_with_real_logrotate(tmp_path):
    """The shipped file, pointed at a temporary folder and the current user: logrotate
    accepts it, rotates the log, creates the new file 0640, and the postrotate step is
    quiet and succeeds where no systemd runs (or no instance does)."""
    if shutil.which("logrotate") is None:
        unavailable("logrotate missing: run scripts/setup-debian.sh test")
    import grp
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    (logs / "blog.log").write_text("one line\n")
    conf = (LOGROTATE.read_text()
            .replace("/var/log/hueyd/", f"{logs}/")
            .replace("su hueyd hueyd", f"su {user} {group}")
            .replace("create 0640 hueyd hueyd", f"create 0640 {user} {group}"))
    (tmp_path / "hueyd.conf").write_text(conf)
    proc = subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"),
                           str(tmp_path / "hueyd.conf")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", proc
    assert (logs / "blog.log.1").read_text() == "one line\n"  # delaycompress: not yet gzipped
    assert (logs / "blog.log").stat().st_size == 0
    assert (logs / "blog.log").stat().st_mode & 0o777 == 0o640
