"""``hueyd.contrib.mini``: MiniHuey runs tasks in greenlets of this process, schedules
them, and starts periodic ones each minute; a monkey-patched program (as huey's docs
show) runs unchanged but for its imports."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

pytest.importorskip("gevent")

from hueyd import crontab  # noqa: E402
from hueyd.contrib.mini import MiniHuey  # noqa: E402
from tests.helpers import ROOT  # noqa: E402

PROGRAM = """\
from gevent import monkey; monkey.patch_all()
import time
from hueyd.contrib.mini import MiniHuey

mini = MiniHuey(interval=0.1)
mini.start()

@mini.task()
def add(a, b):
    time.sleep(0.1)  # patched: other greenlets run meanwhile
    return a + b

results = [add(i, i) for i in range(20)]
began = time.monotonic()
print([r() for r in results] == [2 * i for i in range(20)], time.monotonic() - began < 1.5)
later = add.schedule(args=(10, 20), delay=0.3)
print(later(timeout=5))
mini.stop()
"""


def test_a_monkey_patched_program():
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "30"], done.stdout + done.stderr


def test_results_errors_and_the_pool_limit():
    mini = MiniHuey(pool_size=1)

    @mini.task()
    def div(a, b):
        return a / b

    assert div(6, 3)() == 2
    with pytest.raises(ZeroDivisionError):
        div(1, 0).get(timeout=5)
    assert div.__name__ == "div"


def test_schedule_and_eta_need_the_scheduler():
    mini = MiniHuey(interval=0.05)

    @mini.task()
    def stamp():
        return time.monotonic()

    began = time.monotonic()
    soon = stamp.schedule(delay=0.2)
    at = stamp.schedule(eta=dt.datetime.now() + dt.timedelta(seconds=0.1))
    mini.start()
    try:
        assert at(timeout=5) - began >= 0.09
        assert soon(timeout=5) - began >= 0.19
    finally:
        mini.stop()
    with pytest.raises(ValueError):
        stamp.schedule()  # neither eta nor delay, as huey


def test_periodic_tasks_start_once_a_new_minute():
    mini = MiniHuey()
    ran = []

    @mini.periodic_task(crontab(minute="*/2"))
    def every_other_minute():
        ran.append(1)

    @mini.task(crontab())
    def every_minute():
        ran.append(2)

    minute = dt.datetime.now().replace(second=0, microsecond=0)
    even = minute + dt.timedelta(minutes=2 - minute.minute % 2)
    mini.tick(even + dt.timedelta(seconds=1))
    mini.tick(even + dt.timedelta(seconds=30))  # the same minute: nothing new
    mini.tick(even + dt.timedelta(minutes=1))
    mini._pool.join(timeout=5)
    assert sorted(ran) == [1, 2, 2]
    with pytest.raises(RuntimeError):
        mini.stop()  # not started
