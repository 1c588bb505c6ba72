"""``hueyd.utils``: huey 3.5.4's helpers with huey's results (expected values worked
out from huey's definitions), in a time zone that is not UTC."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from hueyd import utils


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_time_helpers(berlin):
    aware = dt.datetime(2026, 7, 1, 12, 0, 30, 500, tzinfo=dt.UTC)
    naive_local = dt.datetime(2026, 7, 1, 14, 0, 30)  # CEST, UTC+2
    assert utils.is_naive(naive_local) and not utils.is_naive(aware)
    assert utils.make_naive(aware) == naive_local
    assert utils.aware_to_utc(aware) == dt.datetime(2026, 7, 1, 12, 0, 30, 500)
    assert utils.local_to_utc(naive_local) == dt.datetime(2026, 7, 1, 12, 0, 30)
    assert utils.normalize_time(eta=naive_local) == dt.datetime(2026, 7, 1, 12, 0, 30)
    assert utils.normalize_time(eta=aware, utc=False) == dt.datetime(2026, 7, 1, 14, 0, 30, 500)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert before <= utils.utcnow() <= before + dt.timedelta(seconds=5)
    soon = utils.normalize_expire_time(60)
    assert before + dt.timedelta(seconds=59) < soon < before + dt.timedelta(seconds=65)
    assert utils.normalize_expire_time(naive_local) == dt.datetime(2026, 7, 1, 12, 0, 30)
    with pytest.raises(ValueError, match="either an eta"):
        utils.normalize_time()


def test_small_names():
    assert [utils.encode(v) for v in (b"b", "é", 3, None)] == [b"b", "é".encode(), b"3", None]
    assert utils.load_class("hueyd.api.huey.Huey") is utils.load_class("hueyd.api.huey:Huey")
    with utils.noop_context():
        pass
    assert utils.Error({"error": "x"}).metadata == {"error": "x"} and repr(utils.SKIPPED)
    assert utils.ChordConfig("cid", 2, 0, None).size == 2
