"""Counting what workers do, for the Prometheus endpoint, STATUS= and ``hueyd status``.

Each worker keeps a :class:`Tally` (outcomes per task, and histograms of how long
tasks ran and waited) in plain Python objects: a few dictionary updates per task,
no lock, no system call. The master reads every worker's tally and adds them up.
Thread and greenlet workers share the master's memory (:class:`LocalBoard`: the
master copies the live tally). A process worker publishes a pickled copy of its
tally into its own shared mailbox (:class:`SharedBoard`, mailbox.py), at most every
:data:`PUBLISH_EVERY` seconds and whenever it finds the queue empty; a replacement process starts from the last copy, so counts
survive a crashed worker (minus what it had not published).

A task's outcome comes from huey's signals, heard in the worker that runs it
(:func:`on_signal`, through a thread-local note): one outcome per run.
"""
from __future__ import annotations

import bisect
import json
import pickle
import threading
import time
from typing import Any

from hueyd.api import signals as S
from hueyd.consumer.mailbox import Mailbox, SharedMailbox, make_mailboxes

COMPLETED, FAILED, RETRIED, REVOKED = "completed", "failed", "retried", "revoked"
EXPIRED, LOCKED, DEAD_LETTERED = "expired", "locked", "dead_lettered"
OUTCOMES = (COMPLETED, FAILED, RETRIED, REVOKED, EXPIRED, LOCKED, DEAD_LETTERED)
#: upper bounds (seconds) of both histograms: from a no-op task to a long report
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
           300.0, 900.0)
#: task names counted apart; more (an app registering tasks in a loop) count as "other"
MAX_TASK_NAMES = 500
OTHER = "other"
#: a process worker publishes its tally at most this often while busy
PUBLISH_EVERY = 0.25
BOARD_SIZE = 256 * 1024
#: the master's report for ``hueyd status`` (JSON, carried on the lease card)
REPORT_SIZE = 16 * 1024

#: signals that settle a run's outcome, and the signals they name
HEARD = (S.SIGNAL_COMPLETE, S.SIGNAL_ERROR, S.SIGNAL_TIMEOUT, S.SIGNAL_RETRYING,
         S.SIGNAL_REVOKED, S.SIGNAL_EXPIRED, S.SIGNAL_LOCKED, S.SIGNAL_CANCELED,
         S.SIGNAL_RATE_LIMITED)
#: a rate-limited run failed (for good, or "retried" when it runs again)
_DIRECT = {S.SIGNAL_COMPLETE: COMPLETED, S.SIGNAL_REVOKED: REVOKED,
           S.SIGNAL_EXPIRED: EXPIRED, S.SIGNAL_LOCKED: LOCKED,
           S.SIGNAL_ERROR: FAILED, S.SIGNAL_TIMEOUT: FAILED, S.SIGNAL_RATE_LIMITED: FAILED}

_local = threading.local()  # greenlet-local once gevent has patched threading


class RunNote:
    """What one worker learns about the task it runs (reused from task to task)."""

    __slots__ = ("task", "outcome", "duration", "wait")

    def __init__(self) -> None:
        self.task: Any = None
        self.outcome: str | None = None
        self.duration: float | None = None
        self.wait: float | None = None

    def begin(self, task: Any) -> None:
        self.task, self.outcome, self.duration = task, None, None
        due = task.due_at
        self.wait = None if due is None else max(0.0, time.time() - due)

    def listen(self) -> None:
        """Signals heard in this thread (greenlet, process) are this note's."""
        _local.note = self


def on_signal(signal: str, task: Any, *args: Any) -> None:
    """huey signal receiver: settle the outcome of the run this worker is in. A
    retry after a failure is "retried"; a lock refusal stays "locked"; a cancel
    before the task's code ran (a pre-execute hook) counts as "revoked"."""
    note = getattr(_local, "note", None)
    if note is None or note.task is not task:
        return  # not inside a worker's run (the master failing a lost task)
    if signal == S.SIGNAL_RETRYING:
        if note.outcome != LOCKED:
            note.outcome = RETRIED
    elif signal == S.SIGNAL_CANCELED:
        note.outcome = FAILED if note.duration is not None else REVOKED
    elif note.outcome != LOCKED:
        note.outcome = _DIRECT[signal]


def listen_to(huey: Any) -> None:
    """Connect :func:`on_signal` to ``huey`` once (a consumer started again reconnects)."""
    huey.disconnect_signal(on_signal)
    huey.signal(*HEARD)(on_signal)


class Tally:
    """Counts of one worker: ``outcomes[(task, outcome)]``, and per task a histogram
    ``[count per bucket..., count above the last, sum of seconds]``."""

    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str], int] = {}
        self.durations: dict[str, list[float]] = {}
        self.waits: dict[str, list[float]] = {}
        self.names: set[str] = set()
        self.changes = 0

    def record(self, note: RunNote) -> None:
        """The run ``note`` describes, if it had an outcome."""
        if note.outcome is None:
            return
        name = self._name(note.task.name)
        self.count(name, note.outcome)
        if note.duration is not None:
            _observe(self.durations, name, note.duration)
        if note.wait is not None:
            _observe(self.waits, name, note.wait)

    def count(self, task_name: str, outcome: str) -> None:
        key = (self._name(task_name), outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.changes += 1

    def _name(self, name: str) -> str:
        names = self.names
        if name not in names:
            if len(names) >= MAX_TASK_NAMES:
                return OTHER
            names.add(name)
        return name

    def copy(self) -> Tally:
        """A copy another thread may read (each dict and list copied whole: the GIL
        makes each copy consistent)."""
        twin = Tally()
        twin.outcomes = self.outcomes.copy()
        twin.durations = {k: list(v) for k, v in self.durations.copy().items()}
        twin.waits = {k: list(v) for k, v in self.waits.copy().items()}
        twin.changes = self.changes
        twin.names = set(self.names)
        return twin

    def add(self, other: Tally) -> None:
        """Add ``other``'s counts to these (the master's sum over workers)."""
        for key, value in other.outcomes.items():
            self.outcomes[key] = self.outcomes.get(key, 0) + value
        for mine, theirs in ((self.durations, other.durations), (self.waits, other.waits)):
            for name, hist in theirs.items():
                into = mine.setdefault(name, [0.0] * (len(BUCKETS) + 2))
                for i, value in enumerate(hist):
                    into[i] += value

    def total(self, outcome: str) -> int:
        return sum(v for (_, o), v in self.outcomes.items() if o == outcome)

    def __getstate__(self) -> tuple:
        return (self.outcomes, self.durations, self.waits, self.changes)

    def __setstate__(self, state: tuple) -> None:
        self.outcomes, self.durations, self.waits, self.changes = state
        self.names = {name for name, _ in self.outcomes}


def _observe(histograms: dict[str, list[float]], name: str, seconds: float) -> None:
    hist = histograms.get(name)
    if hist is None:
        hist = histograms[name] = [0.0] * (len(BUCKETS) + 2)
    hist[bisect.bisect_left(BUCKETS, seconds)] += 1
    hist[-1] += seconds


def summed(tallies: list[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total


class LocalBoard:
    """A thread or greenlet worker's tally, read in place by the master."""

    def __init__(self) -> None:
        self.tally = Tally()

    def adopt(self) -> None:
        """A new worker takes the board: the tally simply continues."""

    def publish(self, now: float, force: bool = False) -> None:
        """Nothing to do: the master reads the live tally."""

    def read(self) -> Tally:
        return self.tally.copy()


class SharedBoard:
    """A process worker's tally, published as a pickle into a shared mailbox."""

    def __init__(self, mailbox: SharedMailbox) -> None:
        self.mailbox = mailbox
        self.tally = Tally()
        self.published = 0  # tally.changes at the last publication
        self.next_at = 0.0

    def adopt(self) -> None:
        """In a new worker process: continue from what the last one published."""
        self.tally = self.read()
        self.published, self.next_at = self.tally.changes, 0.0

    def publish(self, now: float, force: bool = False) -> None:
        tally = self.tally
        if tally.changes == self.published or (now < self.next_at and not force):
            return
        self.next_at, self.published = now + PUBLISH_EVERY, tally.changes
        # too many task names to fit: the last copy stays
        self.mailbox.write(pickle.dumps(tally, pickle.HIGHEST_PROTOCOL))

    def read(self) -> Tally:
        data = self.mailbox.read()  # written by a child of this master: trusted
        return pickle.loads(data) if data else Tally()


Board = LocalBoard | SharedBoard


def make_boards(count: int, shared: bool) -> list[Board]:
    """One board per worker; shared ones live in one mapping forked children inherit."""
    if not shared:
        return [LocalBoard() for _ in range(count)]
    return [SharedBoard(box) for box in make_mailboxes(count, BOARD_SIZE, True)]


class Counts:
    """One consumer's boards (one per member; the scheduler's, index 0, stays empty)
    and the mailbox in which the master leaves its report for the scheduler, which
    puts it on the consumer's lease card at each renewal (``hueyd status`` reads it)."""

    def __init__(self, members: int, shared: bool) -> None:
        self.boards = make_boards(members, shared)
        self.report: Mailbox = make_mailboxes(1, REPORT_SIZE, shared)[0]

    def tally(self) -> Tally:
        """Every worker's counts, added up."""
        return summed([board.read() for board in self.boards[1:]])

    def post_report(self, report: dict) -> None:
        self.report.write(json.dumps(report, separators=(",", ":")).encode())


def read_report(mailbox: Mailbox) -> dict | None:
    """The report the master left (None: none yet)."""
    data = mailbox.read()
    return json.loads(data) if data else None
