"""Issue 16, off a running huey deployment: ``hueyd migrate from-huey``.

A real huey 3.5.4 (PyPI, in the venv scripts/huey-venv builds) runs its own consumer
on the suite's redis-server until K tasks left results, is stopped by its PID, and
leaves N tasks queued, M scheduled and one revoked. The migration runs dry, for real
and again (moving nothing), then a real ``hueyd run`` of the ported app (its imports
changed, nothing else) runs every queued and scheduled task exactly once, skips the
revoked one, and huey's results read through hueyd's ``huey.result(id)``. Hostile
members planted in huey's keys (garbage, a pickle calling os.system) are refused,
reported and left where they are: nothing runs them.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from hueyd import TaskException
from tests.helpers import terminate, wait_for
from tests.integration.conftest import HUEYD, ROOT

HERE = Path(__file__).resolve().parent
QUEUED, LATER, SCHEDULED, EXECUTED = 6, 2, 3, 3


@pytest.fixture(scope="session")
def huey_venv() -> Path:
    """huey 3.5.4 from PyPI, in a cached venv (built by scripts/huey-venv when missing)."""
    done = subprocess.run([str(Path(ROOT) / "scripts" / "huey-venv")], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


class Deployment:
    """huey's app directory, the ported app's directory and the environment of both."""

    def __init__(self, root: Path, venv: Path, url: str, flavour: str,
                 secret: str | None = None) -> None:
        self.venv, self.url = venv, url
        self.out = root / "out"
        self.huey_dir, self.port_dir = root / "huey-app", root / "hueyd-app"
        for folder in (self.out, self.huey_dir, self.port_dir):
            folder.mkdir()
        source = (HERE / "huey_jobs.py").read_text()
        (self.huey_dir / "jobs.py").write_text(source)
        (self.huey_dir / "produce.py").write_text((HERE / "huey_produce.py").read_text())
        # the port: huey's imports become hueyd's, nothing else changes
        (self.port_dir / "jobs.py").write_text(re.sub(r"^(\s*)from huey\b", r"\1from hueyd",
                                                      source, flags=re.M))
        self.env = {**os.environ, "MIGRATE_OUT": str(self.out), "MIGRATE_REDIS": url,
                    "MIGRATE_FLAVOUR": flavour, "PYTHONDONTWRITEBYTECODE": "1",
                    **({"MIGRATE_SECRET": secret} if secret else {})}
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            self.env.pop(name, None)
        self.redis = redis.Redis.from_url(url)

    def produce(self, *args: str) -> dict:
        done = subprocess.run([str(self.venv / "bin" / "python"), "produce.py", *args],
                              cwd=self.huey_dir, env={**self.env, "PYTHONPATH": "."},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def huey_consumer(self, results: int, scheduled: int) -> None:
        """huey's own consumer, until ``results`` results are stored and ``scheduled``
        tasks wait on its schedule; stopped by its PID."""
        log = (self.out.parent / "huey-consumer.log").open("wb")
        proc = subprocess.Popen([str(self.venv / "bin" / "huey_consumer"), "jobs.huey",
                                 "-w", "1"], cwd=self.huey_dir,
                                env={**self.env, "PYTHONPATH": "."}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: self.values() >= results and
                     self.redis.zcard("huey.schedule.shop") >= scheduled, 30,
                     message="huey's consumer storing results and scheduling")
        finally:
            terminate(proc, signal.SIGINT, timeout=20)
            log.close()

    def values(self) -> int:
        """Entries of huey's key/value store: the results hash, or (-Expire) string keys."""
        return self.redis.hlen("huey.results.shop") + \
            len(list(self.redis.scan_iter(match="huey.r.shop.*")))

    def hueyd(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*HUEYD, *args], cwd=self.port_dir, capture_output=True,
                              text=True, timeout=120,
                              env={**self.env, "PYTHONPATH": f"{self.port_dir}{os.pathsep}"
                                                             f"{ROOT}"})

    def runs(self) -> collections.Counter:
        path = self.out / "runs"
        lines = path.read_text().splitlines() if path.exists() else []
        return collections.Counter(lines)

    def ported(self, config: Path):
        """The ported app's module, its Huey configured here as its daemon configures it
        (``hueyd.instance``: the key too), to read results as a web process would."""
        import hueyd
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("MIGRATE_")})
        sys.modules.pop("jobs", None)  # the other flavour's, from an earlier test
        sys.path.insert(0, str(self.port_dir))
        try:
            hueyd.instance(config=str(config))
            return sys.modules["jobs"]
        finally:
            sys.path.remove(str(self.port_dir))
            os.environ.clear()
            os.environ.update(saved)


def counts(output: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(queued|scheduled|results|skipped|"
                                                 r"refused) +(\d+)", output, re.M)}


def plant_hostile(deploy: Deployment) -> None:
    """Not huey envelopes: garbage, and a pickle that would run a shell command."""
    class Shell:
        def __reduce__(self):
            return os.system, (f"touch {deploy.out / 'pwned'}",)

    evil = pickle.dumps(Shell())
    if deploy.redis.type("huey.redis.shop") == b"zset":
        deploy.redis.zadd("huey.redis.shop", {b"\0" * 8 + b"garbage": 0,
                                               b"\1" * 8 + evil: 0})
    else:
        deploy.redis.lpush("huey.redis.shop", b"garbage", evil)
    deploy.redis.zadd("huey.schedule.shop", {evil: 1.0})


@pytest.mark.parametrize("flavour,signed", [("RedisHuey", False), ("PriorityRedisHuey", True),
                                            ("RedisExpireHuey", False),
                                            ("RedisHuey", "SignedSerializer")])
def test_huey_deployment_moves_to_hueyd(huey_venv, redis_url, tmp_path, hueyd_proc,
                                        flavour, signed):
    deploy = Deployment(tmp_path, huey_venv, redis_url, flavour,
                        secret="s3cret" if signed == "SignedSerializer" else None)
    done = deploy.produce("executed", str(EXECUTED), str(SCHEDULED))
    deploy.huey_consumer(results=EXECUTED + 1, scheduled=SCHEDULED)
    waiting = deploy.produce("waiting", str(QUEUED), str(LATER))
    plant_hostile(deploy)
    config = deploy.port_dir / "hueyd.yaml"
    lines = ["app: jobs.huey", "workers: 2"]
    if signed is True:
        (deploy.port_dir / "key").write_text("k" * 40)
        os.chmod(deploy.port_dir / "key", 0o600)
        lines.append(f"secret_key_file: {deploy.port_dir / 'key'}")
    config.write_text("\n".join(lines) + "\n")
    before = {k: deploy.redis.dump(k) for k in deploy.redis.keys("*")}

    dry = deploy.hueyd("migrate", "from-huey", "--config", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would move" in dry.stdout
    expected = {"queued": QUEUED + LATER + 1, "scheduled": SCHEDULED, "results": EXECUTED + 2,
                "skipped": 0, "refused": 3}
    assert counts(dry.stdout) == expected, dry.stdout
    assert {k: deploy.redis.dump(k) for k in deploy.redis.keys("*")} == before

    moved = deploy.hueyd("migrate", "from-huey", "--config", str(config))
    assert moved.returncode == 0, moved.stderr
    assert counts(moved.stdout) == expected, moved.stdout
    if signed == "SignedSerializer":  # the signature is checked first: none is signed
        assert moved.stdout.count("not signed, and the app's SignedSerializer") == 3
    else:
        assert moved.stdout.count("needs global posix.system") == 2, moved.stdout
        assert "not a huey entry" in moved.stdout
    again = deploy.hueyd("migrate", "from-huey", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert counts(again.stdout) == {"queued": 0, "scheduled": 0, "results": 0, "skipped": 0,
                                    "refused": 3}, again.stdout
    # the refused members are still in huey's keys, everything else is gone from them
    queue_left = (deploy.redis.zcard if flavour.startswith("Priority")
                  else deploy.redis.llen)("huey.redis.shop")
    assert (queue_left, deploy.redis.zcard("huey.schedule.shop"), deploy.values()) == (2, 1, 0)

    daemon = hueyd_proc(_app_for(deploy), "--config", str(config))
    wanted = collections.Counter([f"queued {i}" for i in range(QUEUED)] +
                                 [f"scheduled {i}" for i in range(SCHEDULED)] +
                                 [f"later {i}" for i in range(LATER)] +
                                 [f"done {i}" for i in range(EXECUTED)])
    wait_for(lambda: deploy.runs() == wanted, 40,
             message=lambda: f"every task once: {deploy.runs()}\n{daemon.output}")
    jobs = deploy.ported(config)
    huey = jobs.huey
    wait_for(lambda: huey.storage.queue_size() == 0 and huey.storage.schedule_size() == 0,
             10, message="hueyd's queue and schedule drained")
    assert all(huey.result(i, blocking=True, timeout=10) == {"n": 2 * n, "parcel":
               jobs.Parcel("q", 2.0), "when": None} for n, i in enumerate(waiting["queued"]))
    assert deploy.runs() == wanted  # nothing ran twice, the revoked task not at all
    for n, task_id in enumerate(done["results"]):
        assert huey.result(task_id) == {"n": 2 * n, "parcel": jobs.Parcel(f"sku-{n}", 1.5),
                                        "when": dt.datetime(2026, 12, 4, 12, 30)}
    with pytest.raises(TaskException, match="boom from huey"):
        huey.result(done["error"])
    assert not (deploy.out / "pwned").exists()
    huey.storage.close()


def _app_for(deploy: Deployment):
    """What the suite's hueyd_proc fixture needs of an app: its folder and environment."""
    class Ported:
        dir = deploy.port_dir
        env = {k: v for k, v in deploy.env.items() if k.startswith("MIGRATE_")}
    return Ported()
