"""What an administrator does on the test machine: install the blog app, write instance
configs, drive ``hueyd@NAME`` with systemctl, enqueue tasks and read the journal.

The steps of tests/system/test_scenario.py read as the administrator's actions because
the mechanics (paths, JSON, polling with deadlines) live here.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.system.nspawn import Container, Ran

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = "/opt/blog"  # the example app, as an operator would deploy it
CLIENT = "/opt/hueyd-e2e/blog_client.py"
CONFIG_DIR = "/etc/hueyd"


#: where the instances keep their queues: "redis" (the machine's redis-server, database N,
#: through the YAML's redis_url) or "sqlite" (a file in the instance's state folder)
STORAGE = os.environ.get("HUEYD_TEST_STORAGE", "redis")


def blog_config(instance: str, db: int, **settings: Any) -> dict[str, Any]:
    """An instance of the blog app; ``db`` is its Redis database number."""
    config: dict[str, Any] = {
        "app": "blog.main.huey",
        "pythonpath": [APP_DIR],
        "workers": 2,
        "worker_type": "thread",
        "health_check_interval": 1,
        "environment": {"BLOG_DB": f"/var/lib/hueyd/{instance}/blog.db"},
        "logging": {"level": "INFO"},
    }
    if STORAGE == "sqlite":
        config["sqlite_path"] = f"/var/lib/hueyd/{instance}/{instance}.db"
    else:
        config["redis_url"] = f"redis://127.0.0.1:6379/{db}"
    config.update(settings)
    return config


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                          text=True, check=True).stdout.strip()


class Admin:
    """The administrator's hands on one machine."""

    def __init__(self, box: Container) -> None:
        self.box = box
        #: where the client's copy of the blog's code is (None: the YAML's pythonpath)
        self.client_code: str | None = None

    # -- deployment -------------------------------------------------------------------
    def deploy_app(self, folder: str = APP_DIR) -> None:
        """The blog app under ``folder`` and the test's client."""
        self.box.copy_in(ROOT / "examples" / "blog" / "blog", folder)
        self.box.copy_in(Path(__file__).with_name("blog_client.py"), str(Path(CLIENT).parent))

    def install_deb(self, deb: Path) -> Ran:
        """``apt-get install ./hueyd_*.deb`` (all its dependencies are in the image)."""
        path = self.box.copy_in(deb, "/tmp/debs")
        return self.box.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install",
                            "-y", "-q", "-o", "Dpkg::Use-Pty=0", path, check=False,
                            timeout=300)

    def write_config(self, instance: str, config: dict[str, Any] | str) -> str:
        """/etc/hueyd/NAME.yaml, owned and protected as the README says (it may hold
        passwords), in the folder the package made."""
        path = f"{CONFIG_DIR}/{instance}.yaml"
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.box.write_file(path, text, mode="0640", owner="root:hueyd")
        return path

    def drop_in(self, instance: str, text: str) -> None:
        """A unit drop-in for one instance, made by ``systemctl edit`` as the README says
        (its editor replaced by a copy; ``script`` gives it the terminal it insists on)."""
        self.box.write_file("/tmp/hueyd-e2e-drop-in", text)
        self.box.run("SYSTEMD_EDITOR=cp /tmp/hueyd-e2e-drop-in", "script", "-qec",
                     f"systemctl edit hueyd@{instance}", "/dev/null")

    # -- systemd ----------------------------------------------------------------------
    def systemctl(self, *args: str, check: bool = True, timeout: float = 150.0) -> Ran:
        return self.box.run("systemctl", *args, check=check, timeout=timeout)

    def unit(self, instance: str, *props: str) -> dict[str, str]:
        return self.box.show(f"hueyd@{instance}.service", *props)

    def main_pid(self, instance: str) -> int:
        return int(self.unit(instance, "MainPID")["MainPID"])

    def wait_unit(self, instance: str, accept: Callable[[dict[str, str]], bool],
                  timeout: float, what: str,
                  props: tuple[str, ...] = ("ActiveState", "SubState", "MainPID", "NRestarts",
                                            "StatusText", "ExecMainStatus")) -> dict[str, str]:
        """Poll the unit's properties until ``accept`` likes them; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.unit(instance, *props)
            if accept(seen):
                return seen
            if time.monotonic() >= deadline:
                raise AssertionError(f"hueyd@{instance}: timed out after {timeout}s waiting "
                                     f"for {what}; last seen {seen}\n"
                                     f"{self.journal_tail(instance)}")
            time.sleep(0.2)

    def children(self, pid: int) -> list[int]:
        out = self.box.run("ps", "--ppid", str(pid), "-o", "pid=", check=False).stdout
        return [int(p) for p in out.split()]

    def leftovers(self, unit: str | None = None) -> list[str]:
        """Processes of ``unit``; without one, of any hueyd unit, user or command line."""
        out = self.box.run("ps", "-eo", "unit:60=,user:32=,pid=,args=").stdout
        found = []
        for line in out.splitlines():
            owner, user, _pid, args = (line.split(None, 3) + ["", "", "", ""])[:4]
            if unit is not None:
                hit = owner == unit
            else:
                hit = owner.startswith("hueyd") or user == "hueyd" or "/usr/bin/hueyd" in args
            if hit:
                found.append(line)
        return found

    # -- journal ----------------------------------------------------------------------
    def cursor(self) -> str:
        """Where the journal ends now; ``messages(after=...)`` reads only what came later."""
        out = self.box.run("journalctl", "-n", "1", "--show-cursor", "-q", "-o", "cat",
                           check=False).stdout
        found = re.findall(r"^-- cursor: (.+)$", out, re.M)
        return found[-1] if found else ""

    def journal(self, instance: str | None, *args: str) -> str:
        unit = ["-u", f"hueyd@{instance}.service"] if instance else []
        return self.box.journal(*unit, *args)

    def journal_entries(self, instance: str | None, *args: str,
                        after: str = "") -> list[dict[str, Any]]:
        """Entries as dicts. ``after``: only those later than that cursor. (journalctl's own
        --after-cursor skips the first *matching* entry when the cursor's entry does not
        match the filters, so --cursor is used and the cursor's entry dropped here.)"""
        since = [f"--cursor={after}"] if after else []
        out = self.journal(instance, "-o", "json", *since, *args)
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return [e for e in entries if e.get("__CURSOR") != after]

    def messages(self, instance: str | None, *args: str, after: str = "") -> str:
        return "\n".join(str(e.get("MESSAGE", "")) for e in
                         self.journal_entries(instance, *args, after=after))

    def journal_tail(self, instance: str, lines: int = 40) -> str:
        text = self.journal(instance, "-n", str(lines), "-o", "short-monotonic")
        return f"--- journal of hueyd@{instance} ---\n{text}"

    def wait_journal(self, instance: str | None, pattern: str, *args: str, timeout: float = 15.0,
                     after: str = "") -> str:
        """The unit's messages (filtered by ``args``, e.g. -p err) once ``pattern`` shows up."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.messages(instance, *args, after=after)
            if re.search(pattern, text, re.M):
                return text
            if time.monotonic() >= deadline:
                raise AssertionError(f"no journal line matching {pattern!r} within {timeout}s:\n"
                                     + "\n".join(text.splitlines()[-40:]))
            time.sleep(0.2)

    # -- tasks ------------------------------------------------------------------------
    def client(self, instance: str, *args: str, timeout: float = 60.0) -> dict[str, Any]:
        # as the service's user: SQLite files it creates must stay writable for the daemon
        code = [f"BLOG_CLIENT_CODE={self.client_code}"] if self.client_code else []
        ran = self.box.run(*code, "setpriv", "--reuid=hueyd", "--regid=hueyd", "--init-groups",
                           "python3", CLIENT, f"{CONFIG_DIR}/{instance}.yaml", *args,
                           check=False, timeout=timeout)
        lines = [line for line in ran.stdout.splitlines() if line.startswith("{")]
        if ran.returncode != 0 or not lines:
            raise AssertionError(f"the blog client failed: {ran.describe()}")
        return json.loads(lines[-1])

    def enqueue(self, instance: str, task: str, *args: Any) -> str:
        return self.client(instance, "enqueue", task, json.dumps(list(args)))["id"]

    def result(self, instance: str, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """``{"value": ...}``, ``{"error": ...}`` or ``{"timeout": True}``."""
        return self.client(instance, "result", task_id, str(timeout), timeout=timeout + 30)

    def pending(self, instance: str) -> int:
        return self.client(instance, "pending")["pending"]

    def wait_dequeued(self, instance: str, timeout: float = 15.0) -> None:
        """Until a worker has taken every queued task (so the one just enqueued runs)."""
        deadline = time.monotonic() + timeout
        while self.pending(instance):
            if time.monotonic() >= deadline:
                raise AssertionError(f"hueyd@{instance}: tasks still queued after {timeout}s\n"
                                     f"{self.journal_tail(instance)}")
            time.sleep(0.1)

    def run_task(self, instance: str, task: str, *args: Any, timeout: float = 30.0) -> Any:
        """Enqueue and wait: the task's value, or an assertion naming what happened."""
        outcome = self.result(instance, self.enqueue(instance, task, *args), timeout)
        assert "value" in outcome, (f"{task}{tuple(args)} on hueyd@{instance}: {outcome}\n"
                                    f"{self.journal_tail(instance)}")
        return outcome["value"]
