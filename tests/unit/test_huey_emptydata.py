"""huey's values for a key that holds nothing (issue 21 item 1), on every storage.

huey: ``storage.peek_data``/``pop_data`` and ``huey.get_raw`` return the
``EmptyData`` sentinel, ``huey.get`` returns None. huey's examples/simple ``hold_on``
task (below with hueyd's imports, otherwise as huey ships it) retried forever when
hueyd answered None.
"""
from __future__ import annotations

import pickle

from hueyd.constants import EmptyData
from hueyd.exceptions import RetryTask
from hueyd.storage import EmptyData as StorageEmptyData
from tests.unit.test_api_support import drain


def test_one_sentinel_under_hueys_names():
    import hueyd.api
    assert StorageEmptyData is EmptyData is hueyd.api.EmptyData


def test_storage_peek_and_pop_of_a_missing_key_are_empty_data(make_huey):
    storage = make_huey().storage
    assert storage.peek_data("nothing") is EmptyData
    assert storage.pop_data("nothing") is EmptyData
    assert not storage.has_data_for_key("nothing")
    storage.put_data("k", pickle.dumps(None))
    assert storage.peek_data("k") == pickle.dumps(None) and storage.has_data_for_key("k")
    assert storage.pop_data("k") == pickle.dumps(None)
    assert storage.pop_data("k") is EmptyData and storage.peek_data("k") is EmptyData


def test_huey_get_is_none_and_get_raw_is_empty_data_for_a_missing_key(make_huey):
    huey = make_huey()
    for peek in (True, False):
        assert huey.get("nothing", peek=peek) is None
        assert huey.get_raw("nothing", peek=peek) is EmptyData
    huey.put("k", None)  # a stored None is a value: get_raw tells it apart
    assert huey.get_raw("k", peek=True) == huey.serializer.serialize(None)
    assert huey.get("k", peek=True) is None and huey.storage.has_data_for_key("k")
    assert huey.get("k") is None and huey.get_raw("k") is EmptyData


def test_results_still_read_as_not_ready(make_huey):
    huey = make_huey(store_none=True)

    @huey.task()
    def answer(value):
        return value

    results = [answer(None), answer(0)]
    assert not any(r.is_ready() for r in results) and results[0].get() is None
    drain(huey)
    assert [r.get(preserve=True) for r in results] == [None, 0]
    assert all(r.is_ready() for r in results)


def test_hueys_hold_on_example_runs_once_and_retries_only_while_held(make_huey):
    huey = make_huey()
    ran = []

    @huey.task(context=True)
    def hold_on(a, task=None):
        if task is not None and huey.storage.peek_data('hold_on') is not EmptyData:
            raise RetryTask(delay=60)
        huey.storage.put_data('hold_on', '1')
        try:
            ran.append(a)
        finally:
            huey.storage.pop_data('hold_on')
        return True

    result = hold_on(0)
    drain(huey)
    assert ran == [0] and result.get() is True and huey.scheduled_count() == 0
    huey.storage.put_data('hold_on', b'1')  # "appears to be running"
    hold_on(1)
    drain(huey)
    assert ran == [0] and huey.scheduled_count() == 1
