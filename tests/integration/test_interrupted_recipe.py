"""huey's documented recipe, "re-enqueue on SIGNAL_INTERRUPTED", on hueyd: the consumer
already hands an interrupted task back (at-least-once delivery) and flags it
``task.handed_back``, so the recipe's ``huey.enqueue(task)`` does not queue it a second
time: the task runs once more, not twice. A real ``hueyd run`` gets a real SIGTERM (or
SIGINT past shutdown_timeout) while the task runs."""
from __future__ import annotations

import signal

import pytest

from tests.helpers import wait_for
from tests.integration.conftest import WORKER_TYPES

RECIPE_APP = """\
from tasksapp import huey, mark, slow  # noqa: F401 (the tasks the consumer runs)
from hueyd.signals import SIGNAL_INTERRUPTED


@huey.signal(SIGNAL_INTERRUPTED)
def on_interrupted(signal, task, *args, **kwargs):
    mark("interrupted-signal", f"{task.id} {getattr(task, 'handed_back', None)}")
    huey.enqueue(task)  # huey's docs: re-enqueue tasks a shutdown interrupted
"""


def interrupt_then_finish(make_app, hueyd_proc, kind: str, worker_type: str,
                          stop: list[str], signum: int) -> None:
    app = make_app(kind)
    (app.dir / "recipeapp.py").write_text(RECIPE_APP)
    args = ["recipeapp.huey", "-k", worker_type, "-n", "-m", "0.2", "-d", "0.05"]
    proc = hueyd_proc(app, *args, *stop)
    job = app.tasks.slow(4, "job")
    wait_for(lambda: app.marks("job"), 20, message="the task to start")
    proc.signal(signum)
    assert proc.wait(20) == 0, proc.output
    assert app.huey.pending_count() == 1, "the recipe queued the task a second time"
    signalled = [text for _, _, text in app.marks("interrupted-signal")]
    assert signalled == [f"{job.id} True"], (signalled, proc.output)
    assert "not enqueued twice" in proc.output

    proc = hueyd_proc(app, *args)
    assert job.get(blocking=True, timeout=20) == "finished", proc.output
    proc.signal(signal.SIGINT)
    assert proc.wait(20) == 0, proc.output
    runs = [text for _, _, text in app.marks("job")]
    assert runs.count("start") == 2 and runs.count("done") == 1, runs  # once more, not twice
    assert app.huey.pending_count() == 0


@pytest.mark.parametrize("worker_type", WORKER_TYPES)
def test_sigterm_with_the_recipe_runs_the_task_once_more(make_app, hueyd_proc, worker_type):
    interrupt_then_finish(make_app, hueyd_proc, "redis", worker_type, [], signal.SIGTERM)


def test_sigint_past_shutdown_timeout_with_the_recipe(make_app, hueyd_proc):
    interrupt_then_finish(make_app, hueyd_proc, "sqlite", "process", ["-t", "0.5"],
                          signal.SIGINT)
