"""Issue 14, item 3 at the api level, on every storage: a Huey given its key later
(``set_secret_key``, as the daemon and ``hueyd.instance`` do) signs and verifies;
revocations are plain JSON, never unpickled; a planted chord result is never unpickled."""
from __future__ import annotations

import logging
import pickle

import pytest

from hueyd import ConfigurationError, Error, MessageError, chord
from hueyd.api.revocation import decode_entry, encode_entry
from tests.unit.test_api_support import drain


class Plant:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def plant(tmp_path):
    marker = tmp_path / "pwned"
    yield pickle.dumps(Plant(marker)), marker
    assert not marker.exists(), "a planted pickle was unpickled"


def test_set_secret_key_signs_and_refuses_what_is_not_signed(make_huey, plant):
    evil, _ = plant
    huey = make_huey()

    @huey.task()
    def add(a, b):
        return a + b

    huey.set_secret_key(b"server key")
    result = add(1, 2)
    assert huey.storage.enqueued_items()[0].startswith(b"HDS1")
    huey.storage.enqueue(evil)
    drain(huey)
    assert result.get() == 3
    (letter,) = huey.storage.dead_letters()
    assert (letter.data, letter.reason) == (evil, "missing signature")


def test_set_secret_key_refuses_an_empty_key_and_a_serializer_that_cannot_sign(make_huey):
    with pytest.raises(ConfigurationError, match="empty"):
        make_huey().set_secret_key("")

    class Plain:
        def serialize(self, obj):
            return pickle.dumps(obj)

        def deserialize(self, data):
            return pickle.loads(data)

    with pytest.raises(ConfigurationError, match="serializer Plain cannot sign"):
        make_huey("custom", serializer=Plain()).set_secret_key("k")


@pytest.mark.parametrize("key", [None, "k"], ids=["unsigned", "signed"])
def test_revocations_are_plain_json_and_a_planted_pickle_is_never_read(make_huey, plant, key,
                                                                         caplog, monkeypatch):
    from hueyd.api import revocation
    from hueyd.ratelog import RateLimitedLog
    for name in ("UNREADABLE_LOG", "REMOVED_LOG"):  # no line held back by an earlier test
        monkeypatch.setattr(revocation, name, RateLimitedLog(revocation.logger,
                                                             level=logging.WARNING))
    evil, _ = plant
    huey = make_huey(secret_key=key)

    @huey.task()
    def add(a, b):
        return a + b

    task = add.s(1, 2)
    huey.revoke(task, revoke_once=True)
    assert huey.storage.peek_data(task.revoke_id) == b'{"until":null,"once":true}'
    assert huey.is_revoked(task)
    huey.storage.put_data(task.revoke_id, evil)
    assert not huey.is_revoked(task)  # a producer's peek: ignored, left in place
    assert huey.storage.peek_data(task.revoke_id) == evil
    huey.enqueue(task)
    drain(huey)  # the consumer's read: reported once and removed
    assert task.id in huey.all_results()
    assert huey.backend.peek_data(task.revoke_id) is None
    removed = [r for r in caplog.records if "removed unreadable revocation" in r.message]
    assert len(removed) == 1 and task.revoke_id in removed[0].message


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'{"until":"x","once":false}',
                                 b'{"until":1e999,"once":false}', b'{"until":1,"once":1}',
                                 b"[" * 100_000, b"\xff\xfe", b'{"until":1,"once":true}' * 20])
def test_anything_but_an_entry_is_refused_without_pickle(raw):
    with pytest.raises(ValueError):
        decode_entry(raw)


def test_entries_round_trip():
    assert decode_entry(encode_entry(12.5, False)) == (12.5, False)
    assert decode_entry(encode_entry(None, True)) == (None, True)


def test_a_planted_chord_result_reaches_the_callback_as_an_error(make_huey, plant):
    evil, _ = plant
    huey = make_huey(secret_key="k")

    @huey.task()
    def add(a, b):
        return a + b

    @huey.task()
    def collect(values):
        return values

    outcome = huey.enqueue(chord([add.s(1, 1), add.s(2, 2)], collect.s()))
    first = huey.dequeue()
    huey.execute(first)
    config = first.chord_config
    huey.storage.put_data(f"chord:{config.cid}:{config.idx}", evil, is_result=True)
    drain(huey)
    values = outcome.get()
    forged = values[config.idx]
    assert isinstance(forged, Error) and "missing signature" in forged.metadata["error"]
    assert values[1 - config.idx] in (2, 4)


def test_a_planted_result_or_entry_raises_message_error_unread(make_huey, plant):
    evil, _ = plant
    huey = make_huey(secret_key="k")
    huey.storage.put_data("forged", evil, is_result=True)
    with pytest.raises(MessageError, match="missing signature"):
        huey.result("forged")
    huey.storage.put_data("entry", evil)
    with pytest.raises(MessageError, match="missing signature"):
        huey.get("entry", peek=True)


def test_locks_and_chord_markers_are_plain_bytes(make_huey):
    huey = make_huey(secret_key="k")

    @huey.task()
    def add(a, b):
        return a + b

    @huey.task()
    def total(values):
        return sum(values)

    with huey.lock_task("nightly"):
        assert huey.storage.peek_data(f"{huey.name}.lock.nightly") == b"1"
    outcome = huey.enqueue(chord([add.s(1, 1), add.s(2, 2)], total.s()))
    drain(huey)
    assert outcome.get() == 6
    fired = [k for k in huey.all_results() if k.endswith(":fired")]
    assert [huey.storage.peek_data(k) for k in fired] == [b"1"]
