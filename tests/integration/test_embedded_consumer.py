"""huey's embeddable surface: ``Consumer(huey, ...).run()`` in a program of one's own."""
from __future__ import annotations

import signal
import sys

from tests.helpers import wait_for
from tests.integration.conftest import WORKER_TYPES

PROGRAM = """\
import sys
if sys.argv[1] == "greenlet":
    from gevent import monkey
    monkey.patch_all()
from hueyd.consumer import Consumer
import tasksapp
Consumer(tasksapp.huey, workers=2, worker_type=sys.argv[1], max_delay=0.2,
         health_check_interval=1).run()
"""


def test_consumer_run_works_and_stops_gracefully_on_sigint(make_app, hueyd_proc):
    runs = []
    for worker_type in WORKER_TYPES:
        app = make_app("sqlite", worker_type)
        (app.dir / "embedded.py").write_text(PROGRAM)
        proc = hueyd_proc(app, worker_type, program=[sys.executable, "embedded.py"])
        runs.append((worker_type, app, proc, app.tasks.add(20, 22), app.tasks.slow(1, "slow")))
    for worker_type, app, proc, added, _slow in runs:
        assert added.get(blocking=True, timeout=15) == 42, (worker_type, proc.output)
        wait_for(lambda app=app: app.marks("slow"), 15,
                 message=f"the slow task on {worker_type}")
        proc.signal(signal.SIGINT)
    for worker_type, _app, proc, _added, slow in runs:
        assert proc.wait(15) == 0, (worker_type, proc.output)
        assert slow.get(preserve=True) == "finished", worker_type
        assert proc.children() == []
