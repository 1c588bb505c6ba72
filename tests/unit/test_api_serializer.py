"""Serializer units, and signed Hueys: forged or garbage messages are dead letters."""
from __future__ import annotations

import pickle

import pytest

from hueyd import MessageError
from hueyd.api.serializer import Serializer, SignedSerializer
from hueyd.exceptions import ConfigurationError
from tests.unit.test_api_support import drain


class Bomb:
    """Unpickling this runs code: proof that a message was unpickled."""

    exploded = []

    def __reduce__(self):
        return (Bomb.exploded.append, ("boom",))


@pytest.mark.parametrize("options", [
    {}, {"compression": True}, {"compression": True, "use_zlib": True},
    {"secret_key": "s3cret"}, {"secret_key": b"k", "compression": True}])
def test_round_trip(options):
    serializer = Serializer(**options)
    value = {"a": [1, 2.5, "x"], "b": None}
    assert serializer.deserialize(serializer.serialize(value)) == value


def test_signed_refuses_unsigned_forged_and_foreign_bytes():
    Bomb.exploded.clear()
    signed = Serializer(secret_key="right")
    evil = pickle.dumps(Bomb())
    with pytest.raises(MessageError, match="missing signature"):
        signed.deserialize(evil)
    with pytest.raises(MessageError, match="bad signature"):
        signed.deserialize(Serializer(secret_key="wrong").serialize(Bomb()))
    tampered = bytearray(signed.serialize("fine"))
    tampered[-1] ^= 1
    with pytest.raises(MessageError, match="bad signature"):
        signed.deserialize(bytes(tampered))
    with pytest.raises(MessageError):
        signed.deserialize(b"HDS1short")
    assert Bomb.exploded == []


@pytest.mark.parametrize("data", [b"", b"\x00garbage", b"\x80\x05not a pickle", b"\x1f\x8bxx"])
def test_garbage_is_a_message_error(data):
    for serializer in (Serializer(), Serializer(compression=True)):
        with pytest.raises(MessageError):
            serializer.deserialize(data)


def test_uncompressed_data_is_read_when_compression_is_on():
    assert Serializer(compression=True).deserialize(Serializer().serialize([1])) == [1]


def test_signed_serializer_huey_name():
    with pytest.raises(ConfigurationError):
        SignedSerializer()
    s = SignedSerializer("secret", salt="app")
    assert s.deserialize(s.serialize(3)) == 3
    with pytest.raises(MessageError):
        SignedSerializer("secret", salt="other").deserialize(s.serialize(3))


def test_secret_key_and_own_serializer_conflict(make_huey):
    with pytest.raises(ConfigurationError):
        make_huey(serializer=Serializer(), secret_key="x")


def test_signed_huey_runs_its_own_and_dead_letters_the_rest(make_huey):
    Bomb.exploded.clear()
    huey = make_huey(secret_key="app-secret")
    runs = []

    @huey.task()
    def job(x):
        runs.append(x)
        return x

    good = job(1)
    storage = huey.storage
    storage.enqueue(pickle.dumps(Bomb()))                        # unsigned
    storage.enqueue(Serializer(secret_key="other").serialize(Bomb()))  # forged
    storage.enqueue(b"\x00\xffgarbage")                            # noise
    job(2)
    drain(huey)
    assert runs == [1, 2] and good() == 1
    assert Bomb.exploded == []
    letters = storage.dead_letters()
    assert storage.dead_letter_count() == 3 and len(letters) == 3
    assert sorted(d.reason for d in letters) == ["bad signature", "missing signature",
                                                 "missing signature"]
    assert all(d.timestamp > 0 for d in letters)
    assert len(huey) == 0  # each poison message was acked


def test_unsigned_huey_dead_letters_garbage_and_foreign_messages(make_huey):
    huey = make_huey()
    huey.storage.enqueue(b"not a pickle")
    huey.storage.enqueue(pickle.dumps({"some": "other app's message"}))
    huey.storage.enqueue(pickle.dumps({"v": 1, "name": "x.y"}))
    assert huey.dequeue() is None
    reasons = [d.reason for d in huey.storage.dead_letters()]
    assert reasons[0].startswith("undecodable message")
    assert reasons[1] == "not a hueyd task message"
    assert reasons[2] == "unknown task 'x.y'"


def test_malformed_envelope_is_dead_lettered(make_huey):
    huey = make_huey()

    @huey.task()
    def job():
        pass

    name = huey.task_names[0]
    huey.storage.enqueue(pickle.dumps({"v": 1, "name": name}))
    assert huey.dequeue() is None
    assert huey.storage.dead_letters()[0].reason.startswith("malformed task message")


def test_results_and_revocations_are_signed_too(make_huey):
    huey = make_huey(secret_key="k")
    huey.put("plain", 1)
    raw = huey.storage.peek_data("plain")
    assert raw.startswith(b"HDS1")
    huey.storage.put_data("forged", pickle.dumps("x"))
    with pytest.raises(MessageError):
        huey.get("forged")


def test_compressed_huey_round_trips_tasks(make_huey):
    huey = make_huey(compression=True)

    @huey.task()
    def big(text):
        return len(text)

    result = big("x" * 10000)
    assert len(huey.storage.enqueued_items()[0]) < 1000
    drain(huey)
    assert result() == 10000
