"""Issue 19's counting, in process: one outcome per run from huey's real signals, the
tallies and their histograms, a process worker's counts crossing a real fork, the
enqueue time a message carries, and the parts of ``hueyd status`` and the endpoint that
take input from elsewhere (a listen address, a lease card's report)."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import time

import pytest

import hueyd
from hueyd import CancelExecution
from hueyd.consumer import metrics as M
from hueyd.daemon.admin import consumer_report
from hueyd.daemon.listen import parse_listen


@pytest.fixture
def counted():
    """A MemoryHuey whose runs in this thread are noted, and ``run(task) -> outcome``."""
    huey = hueyd.MemoryHuey("counts")
    note = M.RunNote()
    note.listen()
    M.listen_to(huey)

    @contextlib.contextmanager
    def timed():  # as the worker's guard: the task's own code ran, this long
        started = time.monotonic()
        try:
            yield
        finally:
            note.duration = time.monotonic() - started

    def run(result) -> str | None:
        task = huey.dequeue()
        assert task is not None and task.id == result.id
        note.begin(task)
        huey.execute(task, guard=timed())
        return note.outcome
    yield huey, run
    M._local.note = None


def test_one_outcome_per_run_from_huey_s_signals(counted):
    huey, run = counted

    @huey.task()
    def ok():
        return 1

    @huey.task()
    def boom():
        raise ValueError("no")

    @huey.task(retries=1)
    def again():
        raise ValueError("once more")

    @huey.task()
    def cancels():
        raise CancelExecution(retry=False)

    @huey.task()
    @huey.lock_task("the-lock")
    def locked():
        return 1

    @huey.task(expires=dt.datetime(2000, 1, 1))
    def stale():
        return 1

    @huey.task()
    @huey.rate_limit("once", limit=1, per=3600, retry=False)
    def limited():
        return 1

    @huey.task()
    @huey.rate_limit("twice", limit=1, per=3600, retry=True)
    def limited_retry():
        return 1

    assert run(ok()) == M.COMPLETED
    assert run(boom()) == M.FAILED
    retried = again()
    assert run(retried) == M.RETRIED
    assert run(retried) == M.FAILED  # its retry (same id), the last one
    assert run(cancels()) == M.FAILED
    revoked = ok()
    revoked.revoke()
    assert run(revoked) == M.REVOKED
    assert run(stale()) == M.EXPIRED
    with huey.lock_task("the-lock"):
        assert run(locked()) == M.LOCKED
    assert run(limited()) == M.COMPLETED
    assert run(limited()) == M.FAILED  # over its limit, no retry
    assert run(limited_retry()) == M.COMPLETED
    assert run(limited_retry()) == M.RETRIED  # runs again when the window opens


def test_a_pre_execute_cancel_counts_as_revoked_and_a_master_s_run_is_not_noted(counted):
    huey, run = counted

    @huey.task()
    def ok():
        return 1

    @huey.pre_execute()
    def refuse(task):
        raise CancelExecution()

    assert run(ok()) == M.REVOKED
    huey.unregister_pre_execute("refuse")
    M._local.note = None  # the master's thread: no note, nothing counted, nothing raised
    ok()
    task = huey.dequeue()
    huey.execute(task)


def test_tally_records_adds_and_survives_pickling():
    tally = M.Tally()
    note = M.RunNote()

    class Task:
        name, due_at = "send", time.time() - 2.0
    note.begin(Task())
    note.outcome, note.duration = M.COMPLETED, 0.003
    tally.record(note)
    note.begin(Task())
    note.outcome = M.REVOKED  # never ran: no duration
    tally.record(note)
    tally.count("send", M.DEAD_LETTERED)
    assert tally.outcomes == {("send", "completed"): 1, ("send", "revoked"): 1,
                              ("send", "dead_lettered"): 1}
    assert sum(tally.durations["send"][:-1]) == 1 and tally.durations["send"][0] == 1
    assert sum(tally.waits["send"][:-1]) == 2 and tally.waits["send"][-1] >= 4.0
    twin = M.summed([tally, tally.copy()])
    assert twin.total(M.COMPLETED) == 2 and twin.durations["send"][0] == 2
    import pickle
    back = pickle.loads(pickle.dumps(tally))
    assert back.outcomes == tally.outcomes and back.names == {"send"}


def test_task_names_beyond_the_cap_count_as_other():
    tally = M.Tally()
    for n in range(M.MAX_TASK_NAMES + 3):
        tally.count(f"task{n}", M.COMPLETED)
    assert tally.outcomes[(M.OTHER, M.COMPLETED)] == 3
    assert len({name for name, _ in tally.outcomes}) == M.MAX_TASK_NAMES + 1


def test_a_process_worker_s_counts_cross_a_fork():
    boards = M.make_boards(2, shared=True)
    pid = os.fork()
    if pid == 0:  # the worker: counts, publishes, exits
        code = 1
        try:
            board = boards[1]
            board.adopt()
            for _ in range(7):
                board.tally.count("add", M.COMPLETED)
            board.publish(time.monotonic(), force=True)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert boards[1].read().outcomes == {("add", "completed"): 7}
    assert boards[0].read().outcomes == {}
    boards[1].adopt()  # its replacement goes on from there
    assert boards[1].tally.outcomes == {("add", "completed"): 7}


def test_a_message_carries_when_it_became_due():
    huey = hueyd.MemoryHuey("due")

    @huey.task()
    def ok():
        return 1
    before = time.time()
    ok()
    task = huey.dequeue()
    assert before <= task.due_at <= time.time()
    later = time.time() + 3600
    ok.schedule(eta=dt.datetime.fromtimestamp(later, dt.UTC).replace(tzinfo=None))
    scheduled = huey.dequeue()  # on its way to the schedule: due at its eta
    assert scheduled.due_at == pytest.approx(later, abs=1e-3)


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:9808", ("127.0.0.1", 9808)), ("[::1]:9808", ("::1", 9808)),
    ("localhost:1", ("localhost", 1))])
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9808", ":9808", "host:", "host:0", "host:65536",
                                  "::1:9808", "[nonsense]:9808", "host:x"])
def test_listen_addresses_refused(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_a_hostile_card_report_is_shown_checked():
    assert consumer_report(["not", "a", "dict"])["busy"] is None
    shown = consumer_report({"busy": True, "idle": "2", "completed_1m": 5,
                             "last_error": {"task": "x\n" * 300, "error": 7, "at": 1e300}})
    assert (shown["busy"], shown["idle"], shown["completed_last_minute"]) == (None, None, 5)
    error = shown["last_error"]
    assert "\n" not in error["task"] and len(error["task"]) <= 100
    assert error["error"] == "" and error["at"] is None
    secret = consumer_report({"last_error": {"error": "redis://:hunter2@db:6379/0 refused"}})
    assert "hunter2" not in secret["last_error"]["error"]


def test_rates_over_the_last_minute():
    from hueyd.daemon.activity import WINDOW, Activity, Sample, last_error_parts
    seen = Activity(hueyd.MemoryHuey("rates"), gauges=False)
    assert seen.per_second() is None and seen.last_minute() == (0, 0)
    seen.samples.append(Sample(100.0, 10, 8, 2))
    assert seen.last_minute() == (8, 2)  # young: everything so far
    seen.samples.append(Sample(100.0 + WINDOW, 130, 100, 30))
    assert seen.per_second() == pytest.approx(2.0)
    assert seen.last_minute() == (92, 28)
    assert last_error_parts("send: ValueError: no: really") == ("send", "ValueError: no: really")
