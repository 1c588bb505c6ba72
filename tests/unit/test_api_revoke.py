"""Revocation: one run, every run, once, until a time; by handle, by id, by task."""
from __future__ import annotations

import datetime as dt
import time

from hueyd.signals import SIGNAL_REVOKED
from tests.unit.test_api_support import Recorder, drain


def make_counter(huey):
    runs = []

    @huey.task()
    def count(tag=None):
        runs.append(tag)
        return tag

    return count, runs


def test_revoke_a_result_skips_that_run_only(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    recorder = Recorder()
    huey.signal(SIGNAL_REVOKED)(recorder)

    skipped, kept = count("a"), count("b")
    skipped.revoke()
    assert skipped.is_revoked() and not kept.is_revoked()
    drain(huey)
    assert runs == ["b"]
    assert recorder.calls == [(SIGNAL_REVOKED, skipped.id, ())]
    assert skipped() is None and kept() == "b"
    # Result.revoke() is revoke_once: the entry is spent by the skipped run.
    assert not skipped.is_revoked()


def test_restore_a_result(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    result = count("x")
    result.revoke(revoke_once=False)
    assert result.restore() is True
    assert result.restore() is False
    drain(huey)
    assert runs == ["x"]


def test_revoke_and_restore_by_id(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    result = count("by-id")
    huey.revoke_by_id(result.id)
    assert huey.is_revoked(result.id)
    assert huey.restore_by_id(result.id) is True
    assert not huey.is_revoked(result.id)
    huey.revoke_by_id(result.id)
    drain(huey)
    assert runs == []
    # A plain revoke (not once) stays until restored, e.g. for a retry of the same id.
    assert huey.is_revoked(result.id)


def test_revoke_every_instance_of_a_task(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)

    @huey.task()
    def other():
        runs.append("other")

    count.revoke()
    assert count.is_revoked()
    count(1), other(), count(2)
    drain(huey)
    assert runs == ["other"]
    assert count.is_revoked()  # still revoked for the next ones
    assert count.restore() is True
    count(3)
    drain(huey)
    assert runs == ["other", 3]


def test_revoke_once_on_a_task_lets_the_next_one_through(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    count.revoke(revoke_once=True)
    count(1), count(2)
    drain(huey)
    assert runs == [2]
    assert not count.is_revoked()


def test_revoke_until_expires(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    count.revoke(revoke_until=dt.datetime.now() + dt.timedelta(seconds=60))
    count(1)
    drain(huey)
    assert runs == []
    count(2)
    drain(huey, time.time() + 61)  # as if a minute had passed
    assert runs == [2]
    assert not count.is_revoked()  # the passed revocation was cleared


def test_revoke_until_on_one_instance(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    result = count("late")
    huey.revoke(result.task, revoke_until=dt.datetime.now() + dt.timedelta(seconds=30))
    assert result.is_revoked()
    assert not huey.is_revoked(result.task, time.time() + 31)
    drain(huey, time.time() + 31)
    assert runs == ["late"]


def test_revoke_during_execution_is_cleared_after_the_run(make_huey):
    huey = make_huey()

    @huey.task(context=True)
    def self_revoking(task=None):
        huey.revoke(task)
        return "ran"

    result = self_revoking()
    drain(huey)
    assert result() == "ran"
    assert not huey.is_revoked(result.task)


def test_reschedule_revokes_and_enqueues_a_copy(make_huey):
    huey = make_huey()
    count, runs = make_counter(huey)
    original = count("re")
    moved = original.reschedule(delay=60)
    assert moved.id != original.id
    drain(huey)
    assert runs == [] and huey.scheduled_count() == 1
    future = time.time() + 61
    huey.enqueue_due(future)
    drain(huey, future)
    assert runs == ["re"] and moved() == "re"
