"""Issue 18, Sentinel: ``redis+sentinel://`` in the app and in ``redis_url:``, and a
failover under load. A master, a replica and three Sentinels of the test's own
(tests/redis_ha.py); two real ``hueyd run`` consumers drain 2,000 tasks; the master is
SIGKILLed mid-drain and the Sentinels promote the replica. Every task runs at least
once, neither consumer exits, work resumes within 10 s of the promotion, each process
logs ``failing over`` once; duplicates and losses are counted and printed.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import App, write_config
from tests.redis_ha import SentinelGroup

TASKS = 2000
KILL_AFTER = 500


@pytest.fixture
def sentinels():
    group = SentinelGroup()
    try:
        yield group
    finally:
        group.cleanup()


def runs(app: App) -> collections.Counter:
    """How often each task number ran."""
    return collections.Counter(int(text) for _, _, text in app.marks("drain"))


@pytest.mark.parametrize("durable", ["", "?durable=1"], ids=["async", "durable"])
def test_two_consumers_follow_a_failover_and_every_task_runs(tmp_path: Path, sentinels,
                                                              hueyd_proc, notify_socket,
                                                              durable):
    url = sentinels.url + durable
    app = App(tmp_path, url, "failover")
    assert app.huey.storage.location.startswith("sentinel service hueydha via 127.0.0.1:")
    for number in range(TASKS):
        app.tasks.drain(number, 0.004)
    config = write_config(app, redis_url=url)
    listener = notify_socket()  # the first daemon's STATUS= lines
    daemons = [hueyd_proc(app, "--config", config, "-w", "4", "-d", "0.05", "-m", "0.5", "-c", "1",
                          env={"NOTIFY_SOCKET": listener.path} if n == 0 else None)
               for n in range(2)]
    wait_for(lambda: len(runs(app)) >= KILL_AFTER, 30,
             message=lambda: f"{KILL_AFTER} tasks done:\n{daemons[0].output}")
    killed = time.time()
    sentinels.kill_master()
    wait_for(lambda: any(s.master() == ("127.0.0.1", sentinels.replica.port)
                         for s in sentinels.sentinels), 20, 0.05, "a Sentinel's promotion")
    promoted = time.time()
    wait_for(lambda: len(runs(app)) == TASKS, 40, 0.2,
             message=lambda: f"all {TASKS} tasks ({len(runs(app))} so far):\n"
                             f"{daemons[0].output[-3000:]}")
    done = runs(app)
    duplicates = sum(count - 1 for count in done.values())
    lost = TASKS - len(done)
    after = [t for t, _, _ in app.marks("drain") if t >= promoted]
    resumed = min(after) - promoted if after else float("inf")
    print(f"\nsentinel failover ({durable or 'not durable'}): {TASKS} tasks, {len(done)} ran, {duplicates} duplicate(s), "
          f"{lost} lost; promotion {promoted - killed:.1f}s after the kill, work resumed "
          f"{resumed:.1f}s after the promotion")
    assert lost == 0
    assert resumed < 10
    for daemon in daemons:
        assert daemon.running(), daemon.output
        assert daemon.output.count("failing over: lost the master of hueydha") == 1, \
            daemon.output
        assert "Traceback" not in daemon.output, daemon.output
        new_master = f"failed over: the master of hueydha is 127.0.0.1:{sentinels.replica.port}"
        assert new_master in daemon.output, daemon.output
    assert app.huey.storage.queue_size() == 0
    statuses = [fields["STATUS"] for _, fields in listener.messages if "STATUS" in fields]
    assert any("failing over" in line for line in statuses), statuses
