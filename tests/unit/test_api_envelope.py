"""Hostile task envelopes: every field is checked before a Task is built, and a bad one
is refused with a MessageError that names it (the consumer then sets the message aside).

Each case failed before the checks in different ways: a KeyError or TypeError that
escaped the dead-letter path (missing or unhashable name), an OverflowError (a huge
eta), or a message that decoded and then failed halfway through its run.
"""
from __future__ import annotations

import datetime as dt
import pickle

import pytest

import hueyd
from hueyd.api.exceptions import MessageError
from tests.hostile import ENVELOPES as BAD
from tests.hostile import dumps


@pytest.fixture
def huey():
    h = hueyd.MemoryHuey("envelopes")

    @h.task(name="add")
    def add(a, b):
        return a + b

    h.add_task = add
    return h


def envelope(huey) -> dict:
    return pickle.loads(huey.serialize_task(huey.add_task.s(1, 2)))


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_field_is_refused_by_name(huey, case):
    spoil, word = BAD[case]
    data = dumps(spoil(envelope(huey)))
    with pytest.raises(MessageError) as refused:
        huey.deserialize_task(data)
    reason = str(refused.value)
    assert word in reason and len(reason) < 300, reason


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_consumer_sets_it_aside_and_runs_the_next(huey, case):
    spoil, word = BAD[case]
    huey.storage.enqueue(dumps(spoil(envelope(huey))))
    result = huey.add_task(20, 22)
    task = huey.dequeue()
    assert task is not None and task.args == (20, 22)
    huey.execute(task)
    assert result.get() == 42
    (letter,) = huey.storage.dead_letters()
    assert word in letter.reason
    assert huey.storage.queue_size() == 0 and not huey.storage._in_flight


def test_what_huey_itself_writes_passes(huey):
    """The checks refuse nothing a producer writes: every option set."""
    task = huey.add_task.s(1, 2, eta=dt.datetime(2999, 1, 1), retries=3, retry_delay=1.5,
                           retry_backoff=2, priority=-4, expires=dt.timedelta(hours=1),
                           timeout=30, id="fixed")
    task.then(huey.add_task, 3).error(huey.add_task, 0, 0)
    task.resolve_expires()
    back = huey.deserialize_task(huey.serialize_task(task))
    assert (back.id, back.retries, back.priority, back.timeout) == ("fixed", 3, -4, 30)
    assert back.on_complete.args == (3,) and back.on_error.args == (0, 0)


def test_an_unreadable_revocation_entry_is_ignored_not_fatal(huey):
    """A revocation entry someone planted with a time that is not a number: the task
    runs (as with any unreadable entry), instead of failing every task it names."""
    huey.put("rt:" + huey.registry.task_to_string(huey.add_task.task_class), ("soon", False))
    result = huey.add_task(1, 1)
    huey.execute(huey.dequeue())
    assert result.get() == 2 and huey.storage.dead_letter_count() == 0


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_quick_look_never_accepts_a_bad_envelope(huey, case):
    """Plain envelopes skip the per-field rules (one quick look, per task): a bad one
    never passes that look, so the rules refuse it and name the field (the version and
    the name are looked at before, by the registry)."""
    from hueyd.api.envelope import _plain
    spoil, _ = BAD[case]
    good = envelope(huey)
    env = spoil(envelope(huey))
    runnable = (isinstance(env, dict) and env.get("v") == good["v"]
                and env.get("name") == good["name"])
    assert not (runnable and _plain(env))


@pytest.mark.parametrize("field,value", [
    ("retries", True), ("retries", -1), ("retry_delay", False), ("retry_delay", float("nan")),
    ("retry_backoff", float("inf")), ("retry_delay", -0.5), ("retry_delay", 2e9),
    ("kwargs", {1: 2}), ("args", "ab"), ("id", b"bytes"), ("eta", float("nan")),
    ("priority", float("nan")), ("chord", (1, 2, 3)), ("on_error", []), ("expires", -1)])
def test_what_the_quick_look_doubts_the_rules_judge(huey, field, value):
    from hueyd.api.envelope import _plain, check
    env = envelope(huey)
    env[field] = value
    assert not _plain(env)
    with pytest.raises(MessageError, match=field):
        check(env, True)
    del env[field]
    assert not _plain(env)
    with pytest.raises(MessageError, match=f"no {field}"):
        check(env, True)


def test_a_plain_envelope_passes_without_the_per_field_rules(huey, monkeypatch):
    from hueyd.api import envelope as rules
    env = envelope(huey)
    env["retries"], env["retry_delay"], env["retry_backoff"] = 3, 1.5, 2
    def refuse(value, utc):
        raise AssertionError("a per-field rule ran")
    monkeypatch.setattr(rules, "RULES", {f: (refuse, "x") for f in rules.RULES})
    rules.check(env, True)
    env["eta"] = 1_700_000_000.0  # not plain: the rules run
    with pytest.raises(AssertionError, match="per-field rule"):
        rules.check(env, True)
