"""#21 items 3 and 4: huey's custom error metadata recipe (override
``Huey.build_error_result`` in a subclass) and ``priority=`` refused by a storage
without priorities, as huey 3.5.4 documents and does."""
from __future__ import annotations

import pytest

import hueyd
from hueyd import RateLimitExceeded, TaskException
from tests.unit.test_api_support import drain


def with_metadata(base: type) -> type:
    """huey's recipe (docs/recipes.rst, "Custom Error Metadata"), imports changed."""
    class MyHuey(base):
        def build_error_result(self, task, exception):
            err = super().build_error_result(task, exception)
            err["task_name"] = task.name
            err["task_args"] = task.args
            err["task_kwargs"] = task.kwargs
            err["exception"] = exception  # stored pickled: read back in get()
            return err
    return MyHuey


def test_overridden_build_error_result_reaches_task_exception(make_huey):
    plain = make_huey()
    huey = make_huey("meta")
    huey.__class__ = with_metadata(type(plain))

    @huey.task()
    def transfer(account, amount=0):
        raise ValueError(f"account {account} closed")

    result = transfer("acc-1", amount=5)
    drain(huey)
    with pytest.raises(TaskException) as info:
        result.get()
    meta = info.value.metadata
    assert meta["task_name"] == "transfer"
    assert meta["task_args"] == ("acc-1",) and meta["task_kwargs"] == {"amount": 5}
    assert "account acc-1 closed" in meta["error"] and meta["retries"] == 0
    assert isinstance(meta["exception"], ValueError)


def test_rate_limit_exceeded_survives_a_stored_error(make_huey):
    plain = make_huey()
    huey = make_huey("meta")
    huey.__class__ = with_metadata(type(plain))

    @huey.task()
    @huey.rate_limit("once", limit=1, per=3600, retry=False)
    def once():
        return 1

    once()
    refused = once()
    drain(huey)
    with pytest.raises(TaskException) as info:
        refused.get()
    exc = info.value.metadata["exception"]
    assert isinstance(exc, RateLimitExceeded)
    assert exc.key == "once" and exc.retry is False and 0 < exc.delay <= 3600


def test_on_error_handler_receives_a_rate_limit_exceeded(make_huey):
    """The exception travels pickled inside the handler's message."""
    huey = make_huey()
    seen = []

    @huey.task()
    @huey.rate_limit("twice", limit=1, per=3600, retry=False)
    def limited():
        return 1

    @huey.task()
    def handler(exc):
        seen.append((type(exc).__name__, exc.key, exc.retry))

    limited()
    huey.enqueue(limited.s().error(handler))
    drain(huey)
    assert seen == [("RateLimitExceeded", "twice", False)]


@pytest.mark.parametrize("flavour", ["RedisHuey", "RedisExpireHuey"])
def test_priority_on_a_storage_without_priorities_is_refused(flavour, redis_url):
    huey = getattr(hueyd, flavour)("nopri", url=redis_url)

    @huey.task(priority=5)
    def urgent():
        return 1

    @huey.task()
    def plain():
        return 2

    with pytest.raises(NotImplementedError, match="priorit"):
        urgent()
    with pytest.raises(NotImplementedError):
        plain(priority=3)
    with pytest.raises(NotImplementedError):
        plain.schedule(delay=10, priority=3)
    assert huey.pending_count() == 0
    plain(priority=0)  # no priority: accepted, as in huey
    plain.schedule(delay=10)  # queued; the consumer moves it to the schedule
    assert huey.pending_count() == 2
    huey.storage.close()


@pytest.mark.parametrize("flavour", ["PriorityRedisHuey", "PriorityRedisExpireHuey",
                                     "MemoryHuey", "SqliteHuey"])
def test_storages_with_priorities_order_by_them(flavour, request, tmp_path):
    """As huey's priority Redis storages, MemoryStorage and SqliteStorage do."""
    options = {"filename": str(tmp_path / "p.db")} if flavour == "SqliteHuey" else \
        {"url": request.getfixturevalue("redis_url")} if "Redis" in flavour else {}
    huey = getattr(hueyd, flavour)("pri", **options)

    @huey.task()
    def job(tag):
        return tag

    job("low", priority=1)
    job("high", priority=9)
    assert [t.args[0] for t in huey.pending()] == ["high", "low"]
    huey.storage.close()
