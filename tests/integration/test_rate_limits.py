"""A rate limit shared by several worker processes of a real ``hueyd run`` (issue 16):
the storage counts atomically, so exactly ``limit`` calls of a window run, whatever
the number of processes racing for them; the rest fail with RateLimitExceeded
(``retry=False``), which reaches the caller as TaskException. SQLite and Redis."""
from __future__ import annotations

import time

import pytest

from hueyd import TaskException
from tests.helpers import wait_for

TASKS = 16
LIMIT = 4  # tasks_app.limited: 4 per hour


def settled(result) -> bool:
    result.reset()
    try:
        return result.get(preserve=True) is not None
    except TaskException:
        return True


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_process_workers_share_one_limit(kind, make_app, hueyd_proc):
    while 3600 - time.time() % 3600 < 60:  # all calls in one window: not near the hour
        time.sleep(0.5)
    app = make_app(kind, "limits")
    results = [app.tasks.limited(n) for n in range(TASKS)]
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "4", "-n")
    wait_for(lambda: all(settled(r) for r in results), 30,
             message=lambda: f"every limited task to finish\n{daemon.output}")
    ran, refused = [], []
    for result in results:
        try:
            ran.append(result.get(preserve=True))
        except TaskException as exc:
            refused.append(exc.metadata["error"])
    assert len(ran) == LIMIT and len(refused) == TASKS - LIMIT, (ran, refused)
    assert all("RateLimitExceeded" in error and "burst" in error for error in refused)
    assert app.huey.rate_limit("burst", LIMIT, 3600).current_usage() == TASKS
