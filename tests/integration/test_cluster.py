"""Issue 18, Redis Cluster: ``redis+cluster://`` on the producer and the daemon. Six real
nodes (three masters with a replica each, tests/redis_ha.py); three instances whose
queues hash to three different masters drain 1,000 tasks each with real ``hueyd run``
consumers; the master serving one of them is SIGKILLed mid-drain and its replica takes
over. Every task runs, no consumer exits, and ``hueyd status`` and ``hueyd dead-letter``
answer for every instance afterwards.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import HUEYD, ROOT, App, write_config
from tests.redis_ha import ClusterGroup

TASKS = 1000


@pytest.fixture
def cluster():
    group = ClusterGroup()
    try:
        yield group
    finally:
        group.cleanup()


def spread_names(cluster: ClusterGroup, count: int = 3) -> list[str]:
    """Queue names whose keys live on ``count`` different masters."""
    found: dict[int, str] = {}
    for n in range(1000):
        name = f"shard{n}"
        found.setdefault(cluster.master_of(f"hueyd:{{{name}}}:queue"), name)
        if len(found) == count:
            return list(found.values())
    raise AssertionError("no names spread over the masters")


def runs(app: App) -> collections.Counter:
    return collections.Counter(int(text) for _, _, text in app.marks("drain"))


def admin(app: App, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}",
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([*HUEYD, *args], cwd=app.dir, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_three_instances_on_three_shards_survive_a_master_failover(tmp_path: Path, cluster,
                                                                    hueyd_proc):
    names = spread_names(cluster)
    apps = [App(tmp_path / name, cluster.url, name) for name in names]
    masters = [cluster.master_of(app.huey.storage.keys.queue) for app in apps]
    assert len(set(masters)) == 3
    for app in apps:
        assert app.huey.storage.location.startswith("cluster slot ")
        for number in range(TASKS):
            app.tasks.drain(number, 0.002)
    daemons = [hueyd_proc(app, "--config", write_config(app, redis_url=cluster.url),
                          "-w", "2", "-d", "0.05", "-m", "0.5") for app in apps]
    victim = apps[0]
    wait_for(lambda: len(runs(victim)) >= TASKS // 4, 60,
             message=lambda: f"a quarter of {names[0]}:\n{daemons[0].output[-2000:]}")
    killed = time.time()
    cluster.kill(masters[0])
    # until the replica is promoted the cluster may refuse every shard (CLUSTERDOWN, with
    # the default cluster-require-full-coverage yes): an answer, or exit 69 with the
    # reason (and the storage's "failing over" line)
    for done in (admin(app, "status", "tasksapp.huey") for app in apps):
        assert done.returncode == 0 or (done.returncode == 69 and "Traceback" not in
                                        done.stderr and "storage unreachable" in done.stderr
                                        and done.stderr.count("\n") <= 2), done
    wait_for(lambda: masters[0] not in cluster.slots().values(), 20, 0.1,
             "the replica's promotion")
    promoted = time.time()
    for app, daemon in zip(apps, daemons):
        wait_for(lambda app=app: len(runs(app)) == TASKS, 60, 0.2,
                 message=lambda app=app, daemon=daemon: f"{app.huey.name}: "
                 f"{len(runs(app))} of {TASKS}:\n{daemon.output[-3000:]}")
    for app, daemon in zip(apps, daemons):
        done = runs(app)
        print(f"\ncluster {app.huey.name}: {TASKS} tasks, {len(done)} ran, "
              f"{sum(c - 1 for c in done.values())} duplicate(s); promotion "
              f"{promoted - killed:.1f}s after the kill")
        assert daemon.running(), daemon.output
        assert "Traceback" not in daemon.output, daemon.output
        status = admin(app, "status", "tasksapp.huey", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["queued"] == 0
        letters = admin(app, "dead-letter", "list", "tasksapp.huey")
        assert letters.returncode == 0 and "no dead letters" in letters.stdout, letters.stderr
    assert "failing over: lost the master of slot" in daemons[0].output
