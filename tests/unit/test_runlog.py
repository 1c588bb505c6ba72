"""The per-task INFO lines take a cheaper path than ``Logger.info`` (api/runlog.py), and a
run reads the clock only when a check needs it; neither changes what is logged.

The record runlog makes is the one ``logger.info`` makes; a worker's two lines, written
by the daemon's file handler, are the bytes ``logger.info`` writes, and a password in a
task's arguments or in a message still never reaches the log.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import hueyd
from hueyd.api import clock, runlog
from tests.helpers import ROOT

#: attributes that differ between two records made at different instants or lines (asctime
#: is the text of created, set when a handler such as pytest's formats the record)
VARYING = {"created", "msecs", "relativeCreated", "lineno", "asctime"}


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def logged(logger: logging.Logger, emit) -> logging.LogRecord:
    keep = Keep()
    logger.addHandler(keep)
    try:
        emit()
    finally:
        logger.removeHandler(keep)
    [record] = keep.records
    return record


def test_the_record_is_the_one_logger_info_makes():
    logger = logging.getLogger("hueyd.test-runlog")
    logger.setLevel(logging.INFO)
    args = ("app.noop: 1234", 0.25)
    plain = logged(logger, lambda: logger.info("%s executed in %0.3fs", *args))
    fast = logged(logger, lambda: runlog.info(logger, "%s executed in %0.3fs", *args))
    assert fast.lineno == plain.lineno + 1  # the line that called it, found without a walk
    assert fast.getMessage() == "app.noop: 1234 executed in 0.250s"
    assert ({k: v for k, v in vars(fast).items() if k not in VARYING}
            == {k: v for k, v in vars(plain).items() if k not in VARYING})


def test_caller_lookups_turned_off_are_off_here_too(monkeypatch):
    logger = logging.getLogger("hueyd.test-runlog-nosrc")
    logger.setLevel(logging.INFO)
    monkeypatch.setattr(logging, "_srcfile", None)
    plain = logged(logger, lambda: logger.info("executing %s", "t"))
    fast = logged(logger, lambda: runlog.info(logger, "executing %s", "t"))
    assert (fast.pathname, fast.lineno, fast.funcName) == (
        plain.pathname, plain.lineno, plain.funcName) == ("(unknown file)", 0,
                                                           "(unknown function)")


def test_a_disabled_level_makes_no_record_and_filters_still_apply():
    logger = logging.getLogger("hueyd.test-runlog-quiet")
    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.setLevel(logging.WARNING)
        runlog.info(logger, "executing %s", "x")
        logger.setLevel(logging.INFO)
        logger.addFilter(lambda record: "secret" not in record.getMessage())
        runlog.info(logger, "executing %s", "secret")
        runlog.info(logger, "executing %s", "y")
    finally:
        logger.removeHandler(keep)
    assert [r.getMessage() for r in keep.records] == ["executing y"]


#: a worker runs one task through the daemon's logging (a file), then the child writes
#: the lines logger.info would have written for the same task, for comparison
WORKER_CHILD = """
import logging, sys, threading
from hueyd.daemon import logs
import hueyd
from hueyd.consumer.heartbeat import make_slots
from hueyd.consumer.worker import Worker
logs.setup("INFO", sys.argv[1])
huey = hueyd.RedisHuey("runlog", url=sys.argv[2], read_timeout=0.1)
@huey.task()
def connect(url, password):
    logging.getLogger("app").info("connecting to %s", url)
result = connect("redis://:hunter2-secret@db:6379/0", password="hunter2-secret")
huey.storage.start_consuming()
worker = Worker(huey, make_slots(1, shared=False)[0], threading.Event())
worker.initialize()
for _ in range(3):
    worker.loop()
log = logging.getLogger("hueyd.execution")
log.info("executing %s", "TASK")
log.info("%s executed in %0.3fs", "TASK", 0.0)
print(result.id)
"""


def test_a_workers_lines_are_the_bytes_logger_info_writes(tmp_path, redis_url):
    path = tmp_path / "hueyd.log"
    child = subprocess.run([sys.executable, "-c", WORKER_CHILD, str(path), redis_url],
                           env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    task_id = child.stdout.strip()
    text = path.read_text()
    assert "hunter2" not in text and "redis://:****@db:6379/0" in text
    lines = [line.split("] ", 1)[1] for line in text.splitlines()
             if line.split("] ", 1)[1].startswith("INFO:hueyd.execution:")]
    ran, plain = lines[:2], lines[2:]
    name = f"__main__.connect: {task_id}"
    assert ran == [p.replace("TASK", name) for p in plain], text
    pid = plain[0].split(":")[2]
    assert ran[0] == f"INFO:hueyd.execution:{pid}:MainThread:executing {name}"
    assert ran[1] == f"INFO:hueyd.execution:{pid}:MainThread:{name} executed in 0.000s"


def test_a_run_without_eta_expiry_or_revocation_reads_no_clock(redis_url, monkeypatch):
    """Redis tells, with each message, that no revocation exists: no clock read then."""
    huey = hueyd.RedisHuey("lazy-clock", url=redis_url)
    ran = []

    @huey.task()
    def noop(n):
        ran.append(n)

    @huey.task(expires=60)
    def perishable(n):
        ran.append(n)

    noop(1)
    perishable(2)
    huey.storage.start_consuming()
    reads = []
    real = clock.from_posix
    monkeypatch.setattr(clock, "from_posix", lambda ts, utc: reads.append(ts) or real(ts, utc))
    huey.execute(huey.dequeue())
    assert ran == [1] and reads == []
    huey.execute(huey.dequeue())  # the expiry check needs the time: it reads it
    assert ran == [1, 2] and len(reads) == 1
    huey.storage.stop_consuming()
