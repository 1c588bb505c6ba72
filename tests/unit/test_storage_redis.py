"""What only the Redis backends promise: huey's constructor shapes, key layout,
server-side blocking, StorageError for an unreachable server, priority and
expiring variants."""
from __future__ import annotations

import threading
import time

import pytest
import redis
from redis import exceptions as redis_errors

from hueyd.storage.base import Message, StorageError
from hueyd.storage.redis import (
    PriorityRedisExpireStorage,
    PriorityRedisStorage,
    RedisExpireStorage,
    RedisStorage,
)
from hueyd.storage.redis.client import refusal
from tests.helpers import RedisServer, free_port, wait_for


@pytest.fixture
def client(redis_url):
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def storage(redis_url):
    s = RedisStorage("app", url=redis_url)
    yield s
    s.close()


# -- configuration ----------------------------------------------------------------------

def test_constructor_shapes_reach_the_same_server(redis_server, redis_url):
    by_params = RedisStorage("shape", host="127.0.0.1", port=redis_server.port, db=0)
    by_pool = RedisStorage("shape", connection_pool=redis.ConnectionPool(
        host="127.0.0.1", port=redis_server.port))
    by_url = RedisStorage("shape", url=redis_url)
    by_params.enqueue(b"hello")
    assert by_pool.queue_size() == 1 and by_url.dequeue().data == b"hello"
    for s in (by_params, by_pool, by_url):
        s.close()


def test_url_overrides_the_apps_address(redis_server):
    """The daemon's ``redis_url`` is merged into the app's host/port kwargs: url wins."""
    s = RedisStorage("over", host="192.0.2.1", port=1, db=3, socket_timeout=5,
                     url=f"redis://127.0.0.1:{redis_server.port}/1")
    s.ping()
    assert s.location == f"127.0.0.1:{redis_server.port}/1"
    assert s.pool.connection_kwargs["socket_timeout"] == 5
    s.close()


def test_none_address_params_are_dropped():
    s = RedisStorage("none", host=None, port=None, db=None)
    assert s.location == "localhost:6379/0"


def test_a_misspelt_connection_parameter_fails_at_construction(redis_url):
    with pytest.raises(ValueError, match="redis connection parameters: .*socket_timout"):
        RedisStorage("typo", url=redis_url, socket_timout=5)


def test_hueys_other_keyword_arguments_are_accepted(redis_url):
    s = RedisStorage("compat", url=redis_url, notify_result=True, notify_result_ttl=30,
                     clean_name=False)
    s.put_data("r", b"v", is_result=True)
    assert s.peek_data("r") == b"v"


def test_client_name_is_set_on_connections(storage, redis_url, client):
    named = RedisStorage("named", url=redis_url, client_name="hueyd-test-worker")
    named.ping()
    assert any(c.get("name") == "hueyd-test-worker" for c in client.client_list())
    named.close()


def test_keys_live_under_one_prefix_per_name(storage, client):
    storage.enqueue(b"q")
    storage.add_to_schedule(b"s", 10.0)
    storage.put_data("k", b"v")
    storage.put_if_empty("lock", b"1", ttl=60)
    storage.add_dead_letter(b"d", "r", 1.0)
    keys = {k.decode(): client.type(k).decode() for k in client.keys("*")}
    assert keys == {"hueyd:{app}:queue": "list", "hueyd:{app}:schedule": "zset",
                    "hueyd:{app}:kv": "hash", "hueyd:{app}:kv:lock": "string",
                    "hueyd:{app}:dead": "list"}
    assert 0 < client.pttl("hueyd:{app}:kv:lock") <= 60_000


def test_glob_characters_in_the_name_stay_literal(redis_url):
    starry, plain = RedisStorage("a*", url=redis_url), RedisStorage("ab", url=redis_url)
    plain.put_if_empty("lock", b"1", ttl=60)
    starry.put_if_empty("mine", b"2", ttl=60)
    assert starry.result_items() == {"mine": b"2"}
    starry.flush_results()
    assert plain.peek_data("lock") == b"1"


# -- queue and blocking ------------------------------------------------------------------

def test_plain_redis_ignores_priority(storage):
    for data, priority in ((b"a", 1), (b"b", 10), (b"c", None)):
        storage.enqueue(data, priority)
    assert [storage.dequeue().data for _ in range(3)] == [b"a", b"b", b"c"]
    assert storage.priority is False and PriorityRedisStorage.priority is True


def test_receipt_is_the_raw_queue_entry(redis_url):
    plain, prio = RedisStorage("r1", url=redis_url), PriorityRedisStorage("r2", url=redis_url)
    plain.enqueue(b"x")
    prio.enqueue(b"y", 4)
    assert plain.dequeue().receipt.entry == b"x"
    receipt = prio.dequeue().receipt
    assert receipt.entry.endswith(b"y") and len(receipt.entry) > 1 and receipt.priority == 4


def test_blocking_dequeue_waits_on_the_server(storage, client):
    got = []
    thread = threading.Thread(target=lambda: got.append(storage.dequeue(timeout=5)))
    thread.start()
    wait_for(lambda: client.info("clients")["blocked_clients"] == 1, 5,
             message="BLMOVE to block")
    assert any(c.get("cmd") == "blmove" for c in client.client_list())
    assert storage.queue_size() == 0 and not got
    client.lpush("hueyd:{app}:queue", b"raw")
    thread.join(5)
    assert got and got[0].data == b"raw"


def test_non_blocking_mode_never_waits(redis_url):
    s = RedisStorage("nb", url=redis_url, blocking=False)
    started = time.monotonic()
    assert s.dequeue(timeout=5) is None
    assert time.monotonic() - started < 0.5 and s.blocking is False


@pytest.mark.parametrize("cls", [RedisStorage, PriorityRedisStorage])
def test_sub_millisecond_timeout_does_not_block_forever(redis_url, cls):
    """Redis reads a timeout under 1 ms as 0 = forever; we send at least 1 ms."""
    s = cls("tiny", url=redis_url, socket_timeout=3)
    assert s.dequeue(timeout=0.0001) is None


def test_wait_is_kept_under_the_socket_timeout(redis_url):
    s = RedisStorage("st", url=redis_url, socket_timeout=0.4)
    started = time.monotonic()
    assert s.dequeue(timeout=10) is None  # not a TimeoutError
    assert time.monotonic() - started < 0.4


def test_priority_blocking_dequeue_waits_for_a_wake_up_token(redis_url, client):
    """The priority queue blocks on its token list (BLPOP), never on BZPOPMIN: a
    message popped by BZPOPMIN would be out of Redis before it is in flight."""
    s = PriorityRedisStorage("pb", url=redis_url)
    got = []
    thread = threading.Thread(target=lambda: got.append(s.dequeue(timeout=5)))
    thread.start()
    wait_for(lambda: any(c.get("cmd") == "blpop" for c in client.client_list()), 5,
             message="BLPOP to block")
    s.enqueue(b"now", 3)
    thread.join(5)
    assert got and got[0].data == b"now"
    assert client.lrange(got[0].receipt.held_in, 0, -1) == [got[0].receipt.entry]
    assert client.exists("hueyd:{pb}:queue-wake") == 0  # queue empty: no token left over


def test_wake_up_tokens_never_outnumber_queued_messages(redis_url, client):
    s = PriorityRedisStorage("tok", url=redis_url)
    for i in range(50):
        s.enqueue(b"m%d" % i, i % 3)
    assert client.llen("hueyd:{tok}:queue-wake") == 50
    for _ in range(20):
        s.ack(s.dequeue())
    assert client.llen("hueyd:{tok}:queue-wake") <= 30
    s.flush_queue()
    assert client.exists("hueyd:{tok}:queue-wake") == 0


def test_requeue_without_receipt_goes_to_the_head(redis_url):
    for s in (RedisStorage("h1", url=redis_url), PriorityRedisStorage("h2", url=redis_url)):
        s.enqueue(b"waiting")
        s.hand_back(Message(b"interrupted"))
        assert s.enqueued_items() == [b"interrupted", b"waiting"]


# -- key/value ---------------------------------------------------------------------------

def test_a_lock_with_ttl_is_a_value_like_any_other(storage):
    assert storage.put_if_empty("lock", b"held", ttl=30)
    assert storage.put_if_empty("lock", b"other") is False  # no TTL: still refused
    assert storage.peek_many(["lock"]) == [b"held"]
    assert storage.result_items() == {"lock": b"held"} and storage.result_store_size() == 1
    assert storage.pop_data("lock") == b"held" and storage.peek_data("lock") is None


def test_expire_storage_expires_results_only(redis_url, client):
    s = RedisExpireStorage("ex", url=redis_url, expire_time=0.3)
    s.put_data("result", b"r", is_result=True)
    s.put_data("revoked", b"x")
    assert s.pop_data("result") == b"r"  # huey's RedisExpireHuey: reads do not delete
    assert s.peek_many(["result", "revoked", "nope"]) == [b"r", b"x", None]
    assert client.pttl("hueyd:{ex}:kv:revoked") == -1
    wait_for(lambda: s.peek_data("result") is None, 3, message="the result to expire")
    assert s.result_items() == {"revoked": b"x"}
    assert s.pop_data("revoked") == b"x" and s.peek_data("revoked") is None


def test_priority_expire_storage_combines_both(redis_url):
    s = PriorityRedisExpireStorage("pe", url=redis_url, expire_time=60)
    s.enqueue(b"low", 1)
    s.enqueue(b"high", 2)
    s.put_data("r", b"v", is_result=True)
    assert s.dequeue().data == b"high" and s.pop_data("r") == b"v" and s.peek_data("r") == b"v"


# -- an unreachable server ---------------------------------------------------------------

def test_ping_on_an_unused_port_raises_storage_error():
    port = free_port()
    s = RedisStorage("down", port=port, socket_connect_timeout=2)
    with pytest.raises(StorageError, match=f"127.0.0.1:{port}|localhost:{port}"):
        s.ping()
    for call in (lambda: s.enqueue(b"x"), lambda: s.dequeue(timeout=1), lambda: s.move_due(0),
                 lambda: s.peek_many(["k"]), s.dead_letter_count):
        with pytest.raises(StorageError):
            call()


def test_storage_error_while_down_then_recovers():
    server = RedisServer(extra=("--save", "")).start()  # nothing survives the restart
    try:
        s = RedisStorage("flaky", url=server.url, socket_connect_timeout=2)
        s.enqueue(b"before")
        server.stop()
        with pytest.raises(StorageError):
            s.dequeue(timeout=0.5)
        server.start()
        s.enqueue(b"after")  # a new connection, no restart of the storage
        assert s.dequeue(timeout=1).data == b"after"
    finally:
        server.cleanup()


def test_own_pools_time_out_and_never_retry_by_themselves(redis_url):
    """redis-py >= 6 retries ten times by default: a retried BLMOVE whose reply was lost
    would strand a message in flight, and the backoff would stall heartbeats."""
    s = RedisStorage("own", url=redis_url)
    kwargs = s.pool.connection_kwargs
    assert kwargs["socket_timeout"] == 5.0 and kwargs["socket_connect_timeout"] == 5.0
    assert s.pool.make_connection().retry._retries == 0
    chosen = RedisStorage("own", url=redis_url + "?socket_timeout=2", socket_connect_timeout=1)
    assert chosen.pool.connection_kwargs["socket_timeout"] == 2.0
    assert chosen.pool.connection_kwargs["socket_connect_timeout"] == 1
    apps = redis.ConnectionPool.from_url(redis_url)
    RedisStorage("own", connection_pool=apps)
    assert "socket_timeout" not in apps.connection_kwargs  # an app's pool is its own


@pytest.mark.parametrize("exc,cause", [
    (redis_errors.ResponseError("WRONGPASS invalid username-password pair"),  # redis-py 4.3
     "wrong password or user"),
    (redis_errors.AuthenticationError("invalid username-password pair or user is disabled."),
     "wrong password or user"),  # redis-py 5 and later
    (redis_errors.AuthenticationError("HELLO must be called with the client already "
                                      "authenticated, otherwise the HELLO AUTH ..."),
     "a password is required"),  # redis-py 8 (RESP3)
    (redis_errors.AuthenticationError("Invalid Username or Password"), "authentication failed"),
    (redis_errors.AuthenticationError("Authentication required."), "a password is required"),
    (redis_errors.ResponseError("NOAUTH Authentication required."), "a password is required"),
    (redis_errors.ResponseError("AUTH <password> called without any password configured"),
     "a password is given but the server has none"),
    (redis_errors.NoPermissionError("this user has no permissions to run 'blmove'"),
     "the Redis user lacks a permission"),
    (redis_errors.ConnectionError("Connection refused."), None),
    (redis_errors.ResponseError("WRONGTYPE Operation against a key"), None),
])
def test_refusals_whichever_class_redis_py_gives_them(exc, cause):
    """No retry changes a refusal: StorageUnusable, and the daemon exits 78."""
    assert refusal(exc) == cause
