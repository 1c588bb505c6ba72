"""Every worker type × {Redis, SQLite}: tasks run, results come back, retries wait
their delay, scheduled tasks start at their time, periodic tasks fire once a minute.

One fleet of daemons serves the whole module and they all work at once: each
test enqueues on every daemon, then checks every daemon. The periodic test runs
last, so the time the others take counts towards its minute boundary.
"""
from __future__ import annotations

import time

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import WORKER_TYPES, App, Daemon, outcome

STORAGES = ("redis", "sqlite")
#: -m 0.2: an idle SQLite worker polls at least every 0.2 s
COMMON = ("-w", "2", "-c", "1", "-m", "0.2", "-d", "0.05")
#: how late a scheduled task may start: Redis wakes a blocked worker at once,
#: SQLite adds up to one poll interval
LATENESS = {"redis": 0.15, "sqlite": 0.45}


class Fleet:
    def __init__(self, root, redis_url: str) -> None:
        self.members: dict[str, tuple[App, Daemon]] = {}
        for worker_type in WORKER_TYPES:
            for kind in STORAGES:
                self.add(root, redis_url, f"{worker_type}-{kind}", kind, "-k", worker_type)
        # periodic tasks switched off (-n): they must never fire
        self.quiet = [self.add(root, redis_url, "quiet-redis", "redis", "-k", "thread", "-n"),
                      self.add(root, redis_url, "quiet-sqlite", "sqlite", "-k", "process", "-n")]

    def add(self, root, redis_url: str, label: str, kind: str, *args: str) -> str:
        storage = redis_url if kind == "redis" else str(root / label / "queue.db")
        app = App(root / label, storage, name=f"fleet-{label}")
        app.huey.flush()
        self.members[label] = (app, Daemon(app, ["tasksapp.huey", *COMMON, *args]))
        return label

    def busy(self) -> list[tuple[str, App]]:
        """The six worker type × storage daemons."""
        return [(label, app) for label, (app, _) in self.members.items()
                if label not in self.quiet]

    def stop(self) -> None:
        for app, daemon in self.members.values():
            daemon.stop()
            app.huey.storage.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, redis_server):
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), redis_server.url)
    try:
        yield fleet
    finally:
        fleet.stop()


def test_tasks_run_and_results_come_back(fleet):
    results = {label: [app.tasks.add(i, i) for i in range(5)] for label, app in fleet.busy()}
    for label, pending in results.items():
        got = [r.get(blocking=True, timeout=15) for r in pending]
        assert got == [0, 2, 4, 6, 8], label


def test_retries_wait_their_delay(fleet):
    results = {label: (app, app.tasks.flaky("flaky")) for label, app in fleet.busy()}
    for label, (app, result) in results.items():
        # the first (failed) attempt stored its error: the retry's result replaces it
        wait_for(lambda app=app: len(app.marks("flaky")) == 2, 15, message=f"retry on {label}")
        first, second = (t for t, _, _ in app.marks("flaky"))
        assert 1.0 <= second - first < 1.0 + 1.0, (label, second - first)
        # outcome(): the first attempt's error stays stored until the retry's result lands
        assert wait_for(lambda result=result: outcome(result) == "second attempt", 5,
                        message=f"result of the retry on {label}")


def test_scheduled_tasks_start_at_their_time(fleet):
    scheduled = {}
    for label, app in fleet.busy():
        eta = time.time() + 2
        scheduled[label] = (app, eta, app.tasks.stamp.schedule(("stamp",), delay=2))
    for label, (app, eta, result) in scheduled.items():
        started = result.get(blocking=True, timeout=15)
        lateness = started - eta
        assert -0.05 <= lateness < LATENESS[app.kind], (label, lateness)


def test_periodic_tasks_fire_once_per_minute_and_never_with_no_periodic(fleet):
    busy = fleet.busy()
    for label, app in busy:  # each fired for the minute it started in
        wait_for(lambda app=app: app.marks("ticks"), 15,
                 message=f"first periodic run on {label}")
    first_minute = max(int(app.marks("ticks")[0][0] // 60) for _, app in busy)
    # across one minute boundary (at most ~60 s), plus time for the run to land
    wait_for(lambda: time.time() >= (first_minute + 1) * 60 + 3, 70,
             message="the next minute boundary")
    for label, app in busy:
        minutes = [int(t // 60) for t, _, _ in app.marks("ticks")]
        assert len(minutes) == len(set(minutes)), (label, "fired twice in a minute", minutes)
        assert minutes[-1] == first_minute + 1, (label, minutes)
        assert minutes == list(range(minutes[0], minutes[-1] + 1)), (label, minutes)
    for label in fleet.quiet:
        app, daemon = fleet.members[label]
        assert app.tasks.add(1, 1).get(blocking=True, timeout=10) == 2  # alive and working
        assert app.marks("ticks") == [], label
