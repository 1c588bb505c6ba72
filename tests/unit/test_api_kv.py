"""Key/value helpers and queue introspection."""
from __future__ import annotations


def test_put_get_peek_delete(make_huey):
    huey = make_huey()
    huey.put("k", {"nested": [1, 2]})
    assert huey.get("k", peek=True) == {"nested": [1, 2]}
    assert huey.get("k") == {"nested": [1, 2]}
    assert huey.get("k") is None  # get pops
    huey.put("k", None)
    assert huey.get("k", peek=True) is None and huey.storage.has_data_for_key("k")
    assert huey.delete("k") is True and huey.delete("k") is False


def test_put_if_empty(make_huey):
    huey = make_huey()
    assert huey.put_if_empty("once", 1) is True
    assert huey.put_if_empty("once", 2) is False
    assert huey.get("once") == 1


def test_counts_listings_and_flush(make_huey):
    huey = make_huey()

    @huey.task()
    def job(n):
        return n

    first = job(1)
    job(2)
    job.schedule((3,), delay=60)
    assert len(huey) == huey.pending_count() == 3
    assert [t.args for t in huey.pending()] == [(1,), (2,), (3,)]
    assert [t.args for t in huey.pending(limit=1)] == [(1,)]
    from tests.unit.test_api_support import drain
    drain(huey)
    assert huey.scheduled_count() == 1 and [t.args for t in huey.scheduled()] == [(3,)]
    assert huey.result_count() == 2 and first.id in huey.all_results()
    huey.put("extra", 1)
    huey.flush()
    assert (len(huey), huey.scheduled_count(), huey.result_count()) == (0, 0, 0)
    assert bool(huey) is True  # an empty Huey is still truthy


def test_all_results_are_raw_bytes(make_huey):
    huey = make_huey()
    huey.put_result("r", "value")
    raw = huey.all_results()["r"]
    assert isinstance(raw, bytes) and huey.serializer.deserialize(raw) == "value"
